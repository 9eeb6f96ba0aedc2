"""Lookups over rendered Kubernetes manifests, shared by the workload tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Manifest = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")


def of_kind(manifests: list[Manifest], kind: str, namespace: str | None = None) -> list[Manifest]:
    return [
        m for m in manifests if m["kind"] == kind and (namespace is None or m["metadata"].get("namespace") == namespace)
    ]


def one(manifests: list[Manifest], kind: str, name: str, namespace: str | None = None) -> Manifest:
    found = [m for m in of_kind(manifests, kind, namespace) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def by_component(manifests: list[Manifest], kind: str, namespace: str, component: str) -> Manifest:
    """The one object of `kind` in `namespace` labelled app.kubernetes.io/component=`component`."""
    found = [
        m
        for m in of_kind(manifests, kind, namespace)
        if (m["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} {component} in {namespace}, found {len(found)}"
    return found[0]


def pod_template(workload: Manifest) -> dict[str, Any]:
    """The pod template of a Deployment, Job or CronJob."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def workloads(manifests: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """Every object that makes pods, with its pod template."""
    for m in manifests:
        if m["kind"] in WORKLOAD_KINDS:
            yield m, pod_template(m)


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec.get("initContainers") or []) + list(pod_spec["containers"])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def arg_value(args: list[str], flag: str) -> str:
    """The value following `flag` in a container's args."""
    assert args.count(flag) == 1, f"{flag} appears {args.count(flag)} times in {args}"
    return args[args.index(flag) + 1]
