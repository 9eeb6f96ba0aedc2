"""Run one rule on hand-written resources, exactly as the analyzer hands them to it.

Props go through the engine's wire format (a protobuf Struct: numbers become floats) and pulumi_policy's own
deserializer and unknown-checking proxy, into pulumi_policy's real argument classes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import BY_NAME, ResourceRule, StackRule

DELETE = object()


def options(ignore_changes: Sequence[str] = (), parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, list(ignore_changes), None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def as_engine_sends(props: Mapping[str, Any]) -> Any:
    """Props after the wire (Struct: every number a float) and pulumi_policy's deserializer and proxy."""
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


Path = str | tuple[str, ...]


def changed(base: Mapping[str, Any], changes: Mapping[Path, Any]) -> dict[str, Any]:
    """A deep copy of `base` with paths set (or removed, with DELETE): dotted, or a tuple of keys for keys that hold
    dots themselves (annotations, labels)."""
    result = copy.deepcopy(dict(base))
    for path, value in changes.items():
        *parents, last = path.split(".") if isinstance(path, str) else path
        node: Any = result
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return result


def resource_rule(name: str) -> ResourceRule:
    rule = BY_NAME[name]
    assert isinstance(rule, ResourceRule), f"{name} is a stack policy"
    return rule


def stack_rule(name: str) -> StackRule:
    rule = BY_NAME[name]
    assert isinstance(rule, StackRule), f"{name} is a resource policy"
    return rule


def violations(
    rule: ResourceRule,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    provider: Mapping[str, Any] | None = None,
) -> list[str]:
    """The messages `rule` reports for one resource (raises UnknownValueError as the analyzer would see it)."""
    provider_resource = (
        PolicyProviderResource("pulumi:providers:x", as_engine_sends(provider), "urn:provider", "provider")
        if provider is not None
        else None
    )
    args = ResourceValidationArgs(
        resource_type,
        as_engine_sends(props),
        f"urn:pulumi:test::platform::{resource_type}::subject",
        "subject",
        options(),
        provider_resource,
        config,
    )
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    rule.validate(args, report)
    return found


@dataclass
class Fake:
    """A resource in a hand-built stack: `refs` maps a property to the resources whose outputs flow into it."""

    type: str
    name: str
    props: dict[str, Any]
    refs: dict[str, list[Fake]] = field(default_factory=dict)
    depends: list[Fake] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)

    @property
    def urn(self) -> str:
        return f"urn:pulumi:test::platform::{self.type}::{self.name}"


def stack_violations(
    rule: StackRule, fakes: Sequence[Fake], *, config: Mapping[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """(message, urn) for each fault `rule` reports over a hand-built stack, wired as the analyzer wires it."""
    built = {
        f.urn: PolicyResource(
            f.type, as_engine_sends(f.props), f.urn, f.name, options(f.ignore_changes), None, None, [], {}
        )
        for f in fakes
    }
    for f in fakes:
        resource = built[f.urn]
        resource.dependencies = [built[d.urn] for d in f.depends]
        resource.property_dependencies = {k: [built[d.urn] for d in v] for k, v in f.refs.items()}
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append((message, urn))

    rule.validate(StackValidationArgs(list(built.values()), config), report)
    return found
