"""The policy pack, run in-process the way the Pulumi engine runs it, over what the offline harness records.

`PolicyPack` starts a gRPC server and blocks, so tests never build it. They drive the analyzer servicer it would
serve instead (pulumi_policy's own class, pinned at 1.21.0): the same `Configure`, `Analyze` and `AnalyzeStack`
calls the engine makes, with resources serialized to protobuf Structs as the engine sends them (numbers as
floats, secrets marked, unknowns as sentinels). What the servicer answers is what `pulumi preview` would print.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policy.rules import POLICIES, Rule
from tests.infra.harness import Recording, Resource

PACK_NAME = "platform-guardrails"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "policy" / "config"

_LEVELS = {
    "advisory": proto.ADVISORY,
    "mandatory": proto.MANDATORY,
    "disabled": proto.DISABLED,
    "remediate": proto.REMEDIATE,
}
_LEVEL_NAMES = {v: k for k, v in _LEVELS.items()}


@dataclass(frozen=True)
class Diagnostic:
    """One line of the policy report: a violation, or a policy that could not run because a value is unknown."""

    policy: str
    level: str
    urn: str
    message: str

    @property
    def unknown(self) -> bool:
        return self.message.startswith("can't run policy")

    @property
    def detail(self) -> str:
        """The message without the policy description the servicer puts first."""
        return self.message.split("\n", 1)[-1]


def stack_policy_config(stack: str) -> dict[str, Any]:
    """The `--policy-pack-config` file a stack is previewed with (policy/config/<stack>.json), if it has one."""
    path = CONFIG_DIR / f"{stack}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(value))
    return struct


def configure_request(config: Mapping[str, Any], policies: Sequence[Rule] = POLICIES) -> Any:
    """What the CLI sends for a policy config file: each named policy's level (defaulted) and properties.

    The key "all" sets the level of every policy the file does not name.
    """
    known = {p.name: p for p in policies}
    unknown = set(config) - set(known) - {"all"}
    if unknown:
        raise ValueError(f"policy config names unknown policies: {sorted(unknown)}")
    request = proto.ConfigureAnalyzerRequest()
    for policy in policies:
        entry = config.get(policy.name, config.get("all"))
        if entry is None:
            continue
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        level = entry.get("enforcementLevel") or (policy.enforcement_level or EnforcementLevel.MANDATORY).value
        properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        request.policyConfig[policy.name].CopyFrom(
            proto.PolicyConfig(enforcementLevel=_LEVELS[level], properties=_struct(properties))
        )
    return request


def analyzer(config: Mapping[str, Any] | None = None, policies: Sequence[Rule] = POLICIES) -> Any:
    """The servicer `PolicyPack` would serve (its gRPC methods are untyped, hence Any)."""
    servicer: Any = _PolicyAnalyzerServicer(PACK_NAME, "1.0.0", list(policies), EnforcementLevel.MANDATORY)
    if config:
        servicer.Configure(configure_request(config, policies), None)
    return servicer


def _diagnostics(response: Any, urn: str = "") -> list[Diagnostic]:
    """The response's diagnostics; a resource policy's violation belongs to the resource analyzed (`urn`)."""
    return [
        Diagnostic(d.policyName, _LEVEL_NAMES[d.enforcementLevel], d.urn or urn, d.message)
        for d in response.diagnostics
    ]


def _provider(resource: Resource, by_urn: Mapping[str, Resource]) -> Any:
    provider = by_urn.get(resource.provider_urn)
    if provider is None:
        return None
    return proto.AnalyzerProviderResource(
        type=provider.type, properties=_struct(provider.raw_inputs), urn=provider.urn, name=provider.name
    )


def analyze(servicer: Any, resources: Iterable[Resource]) -> list[Diagnostic]:
    """Every resource policy over every resource (the engine's `Analyze`, one call per registration)."""
    resources = list(resources)
    by_urn = {r.urn: r for r in resources}
    found: list[Diagnostic] = []
    for r in resources:
        request = proto.AnalyzeRequest(
            type=r.type,
            properties=_struct(r.raw_inputs),
            urn=r.urn,
            name=r.name,
            options=proto.AnalyzerResourceOptions(parent=r.parent),
        )
        provider = _provider(r, by_urn)
        if provider is not None:
            request.provider.CopyFrom(provider)
        found += _diagnostics(servicer.Analyze(request, None), r.urn)
    return found


def analyze_stack(servicer: Any, resources: Iterable[Resource]) -> list[Diagnostic]:
    """Every stack policy over the stack's resources and their outputs (the engine's `AnalyzeStack`)."""
    resources = list(resources)
    by_urn = {r.urn: r for r in resources}
    request = proto.AnalyzeStackRequest()
    for r in resources:
        entry = proto.AnalyzerResource(
            type=r.type,
            properties=_struct(r.outputs),
            urn=r.urn,
            name=r.name,
            options=proto.AnalyzerResourceOptions(parent=r.parent),
            parent=r.parent,
            dependencies=r.dependencies,
        )
        for key, urns in r.property_dependencies.items():
            entry.propertyDependencies[key].urns.extend(urns)
        provider = _provider(r, by_urn)
        if provider is not None:
            entry.provider.CopyFrom(provider)
        request.resources.append(entry)
    return _diagnostics(servicer.AnalyzeStack(request, None))


def evaluate(recording: Recording, config: Mapping[str, Any] | None = None) -> list[Diagnostic]:
    """The whole pack over one recorded stack, with that stack's policy config."""
    servicer = analyzer(stack_policy_config(recording.stack) if config is None else config)
    resources = [r for r in recording.resources if r.type != "pulumi:pulumi:Stack"]
    return analyze(servicer, resources) + analyze_stack(servicer, resources)
