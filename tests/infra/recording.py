"""What a run of the program under the offline harness recorded: its resources, invokes and exports, with the
lookups tests make over them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.infra.pulumi_engine import is_secret_value, plain


@dataclass
class Resource:
    """One registration, as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    raw_inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    outputs: dict[str, Any] = field(default_factory=dict)
    ignore_changes: list[str] = field(default_factory=list)
    # ResourceOptions.delete_before_replace: on a replacement, the old one is deleted before the new one exists.
    delete_before_replace: bool = False
    # The physical id the mocks gave it (what other resources receive as `.id`).
    id: str = ""
    # Read, not created (a StackReference, a `get`): the engine creates nothing for it.
    read: bool = False
    # The `customTimeouts` option ("create"/"update"/"delete" -> a duration such as "20m"; unset ones absent).
    custom_timeouts: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped and integral floats turned back into ints."""
        return plain(self.raw_inputs)

    @property
    def provider_urn(self) -> str:
        """The provider reference is `<urn>::<id>`; this is the URN part ("" for the default provider)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""

    def is_secret(self, key: str) -> bool:
        """Whether input `key` reached the engine marked secret."""
        return is_secret_value(self.raw_inputs.get(key))


@dataclass
class Invoke:
    """One provider function call (e.g. a Secrets Manager lookup): not a resource, nothing is created."""

    token: str
    args: dict[str, Any]


@dataclass
class Recording:
    """Everything one run of the program registered, with lookups for tests."""

    stack: str
    config: dict[str, str]
    resources: list[Resource]
    exports: dict[str, Any]
    secret_exports: set[str]
    # CPU seconds the program run under mocks took (its own thread and its engine calls, no other thread).
    seconds: float = 0.0
    # What the program logged with pulumi.log.warn, in order.
    warnings: list[str] = field(default_factory=list)
    invokes: list[Invoke] = field(default_factory=list)
    # Config keys set as secrets (`pulumi config set --secret`).
    secret_config: set[str] = field(default_factory=set)
    # Each export's resources: the URNs its Output waits for, so a test can tell what an export is handed out after.
    export_dependencies: dict[str, set[str]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def by_urn(self, urn: str) -> Resource:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def find(self, type_: str, name: str | None = None) -> list[Resource]:
        return [r for r in self.resources if r.type == type_ and (name is None or r.name == name)]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = self.find(type_, name)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def direct_dependencies(self, resource: Resource) -> set[str]:
        """URNs `resource` waits for: depends_on, Output-implied inputs and its provider."""
        deps = set(resource.dependencies)
        for urns in resource.property_dependencies.values():
            deps.update(urns)
        if resource.provider_urn:
            deps.add(resource.provider_urn)
        return deps

    def transitive_dependencies(self, resource: Resource) -> set[str]:
        seen: set[str] = set()
        stack = list(self.direct_dependencies(resource))
        known = {r.urn: r for r in self.resources}
        while stack:
            urn = stack.pop()
            if urn in seen:
                continue
            seen.add(urn)
            if urn in known:
                stack.extend(self.direct_dependencies(known[urn]))
        return seen

    def depends_on(self, resource: Resource, other: Resource) -> bool:
        return other.urn in self.transitive_dependencies(resource)

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def descendants(self, ancestor: Resource) -> list[Resource]:
        """Everything registered under `ancestor`, at any depth."""
        below = {ancestor.urn}
        found = []
        for r in self.resources:  # registration order: a parent always precedes its children
            if r.parent in below:
                below.add(r.urn)
                found.append(r)
        return found

    def within(self, component_type: str) -> Recording:
        """The part of the recording the one component of `component_type` owns."""
        component = self.one(component_type)
        return Recording(
            stack=self.stack,
            config=self.config,
            resources=self.descendants(component),
            exports={},
            secret_exports=set(),
        )

    def kubernetes_manifests(self) -> list[dict[str, Any]]:
        """Every Kubernetes object the stack creates, as the plain dict `kubectl apply` would take."""
        manifests = []
        for r in self.resources:
            if not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm.sh"):
                continue
            if r.type == "pulumi:providers:kubernetes":
                continue
            body = {k: v for k, v in r.inputs.items() if not k.startswith("__")}
            if "apiVersion" in body and "kind" in body:
                metadata = dict(body.get("metadata") or {})
                metadata.setdefault("name", (r.outputs.get("metadata") or {}).get("name", r.name))
                body["metadata"] = metadata
                manifests.append(body)
        return manifests


def deployed_clusters(recording: Recording) -> dict[str, str]:
    """The EKS clusters a recorded run leaves running (name -> version): the account the next run sees."""
    return {str(r.inputs["name"]): str(r.inputs["version"]) for r in recording.of_type("aws:eks/cluster:Cluster")}


def type_names(resources: Iterable[Resource]) -> list[tuple[str, str]]:
    return [(r.type, r.name) for r in resources]
