"""The workloads' namespaces and the network between them: default deny, then exactly the declared flows.

Each `Flow` names a source, a destination and a port. A flow between two managed namespaces becomes an egress
policy on the source side and an ingress policy on the destination side; a flow to or from addresses outside
the cluster (the ALB, Redis, RDS, S3) becomes the one policy on the cluster side. Nothing else is admitted
(kubelet probes come from the node's own address, which the VPC CNI's policy agent always admits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeGuard

import pulumi
import pulumi_kubernetes as k8s

from infra import kube

DNS_NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}
# The label Kubernetes sets on every namespace (1.22+); selecting by it needs no labels of our own.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pods:
    """Pods with `labels` (all pods when empty) in `namespace`.

    With `namespace_labels`, in every namespace carrying those labels instead (e.g. each preview's pr-<N>, which
    the stack admitting them cannot name); `namespace` then only describes them.
    """

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Cidrs:
    """Addresses outside the cluster, e.g. the VPC (the ALB's nodes) or the private subnets (Redis, RDS).

    `cidrs` may be one Output (a preview reads its base stack's subnets as a list of unknown length).
    """

    description: str
    cidrs: Sequence[pulumi.Input[str]] | pulumi.Output[list[str]]
    excluded: Sequence[str] = ()


@dataclass(frozen=True)
class Flow:
    """One admitted connection: `source` may open a connection to `destination` on `port`."""

    name: str
    source: Pods | Cidrs
    destination: Pods | Cidrs
    port: int
    protocols: tuple[Literal["TCP", "UDP"], ...] = ("TCP",)


def pod_security_labels(kubernetes_version: str) -> dict[str, str]:
    """Pod Security Admission `restricted`, enforced and also audited and warned, pinned to the cluster version."""
    version = f"v{kubernetes_version}"
    labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


@dataclass(frozen=True)
class NamespacesArgs:
    names: Sequence[str]
    # Pod Security Admission is pinned to this version; a preview reads it from its base stack.
    kubernetes_version: pulumi.Input[str]
    flows: Sequence[Flow]
    labels: Mapping[str, str] = field(default_factory=dict)


class Namespaces(pulumi.ComponentResource):
    """Namespaces labelled for PSA `restricted` and the ALB readiness gate, with deny-by-default networking."""

    names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Namespaces", name, None, opts)
        managed = set(args.names)
        for flow in args.flows:
            _check(flow, managed)
        self._child = kube.child_options(self, opts)

        self.names = {}
        for ns in args.names:
            labels = pulumi.Output.from_input(args.kubernetes_version).apply(
                lambda version: {
                    **args.labels,
                    **pod_security_labels(version),
                    # The LB controller holds a rolling update until each new pod is healthy in its target
                    # group, so a rollout cannot outrun the ALB.
                    "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
                }
            )
            namespace = k8s.core.v1.Namespace(
                f"{name}-ns-{ns}", metadata={"name": ns, "labels": labels}, opts=self._child
            )
            self.names[ns] = namespace.metadata.name
            self._policy(f"{name}-{ns}-default-deny", ns, "default-deny", {}, ingress=[], egress=[])
            self._policy(
                f"{name}-{ns}-allow-dns",
                ns,
                "allow-dns",
                {},
                egress=[{"to": [_peer(Pods(DNS_NAMESPACE, DNS_LABELS))], "ports": _ports(53, ("UDP", "TCP"))}],
            )

        for flow in args.flows:
            if _in(flow.destination, managed):
                self._policy(
                    f"{name}-{flow.name}-ingress",
                    flow.destination.namespace,
                    f"{flow.name}-ingress",
                    flow.destination.labels,
                    ingress=[{"from_": _peers(flow.source), "ports": _ports(flow.port, flow.protocols)}],
                )
            if _in(flow.source, managed):
                self._policy(
                    f"{name}-{flow.name}-egress",
                    flow.source.namespace,
                    f"{flow.name}-egress",
                    flow.source.labels,
                    egress=[{"to": _peers(flow.destination), "ports": _ports(flow.port, flow.protocols)}],
                )
        self.register_outputs({"names": self.names})

    def _policy(
        self,
        resource_name: str,
        namespace: str,
        policy_name: str,
        pod_labels: Mapping[str, str],
        *,
        ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict] | None = None,
        egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgsDict] | None = None,
    ) -> None:
        """A policy that, by listing a direction in policyTypes, also denies whatever it does not admit."""
        spec: k8s.networking.v1.NetworkPolicySpecArgsDict = {
            "pod_selector": {"match_labels": dict(pod_labels)} if pod_labels else {},
            "policy_types": [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None],
        }
        if ingress:
            spec["ingress"] = ingress
        if egress:
            spec["egress"] = egress
        k8s.networking.v1.NetworkPolicy(
            resource_name,
            metadata={"name": policy_name, "namespace": self.names[namespace]},
            spec=spec,
            opts=self._child,
        )


def _check(flow: Flow, managed: set[str]) -> None:
    if isinstance(flow.source, Cidrs) and isinstance(flow.destination, Cidrs):
        raise ValueError(f"flow {flow.name} has no end in the cluster")
    if not (_in(flow.source, managed) or _in(flow.destination, managed)):
        raise ValueError(f"flow {flow.name} touches no namespace this component manages")


def _in(end: Pods | Cidrs, managed: set[str]) -> TypeGuard[Pods]:
    """Whether `end` is pods of a namespace this component manages (and so gets that side's policy)."""
    return isinstance(end, Pods) and end.namespace_labels is None and end.namespace in managed


def _peer(pods: Pods) -> k8s.networking.v1.NetworkPolicyPeerArgsDict:
    namespaces = (
        dict(pods.namespace_labels) if pods.namespace_labels is not None else {NAMESPACE_NAME_LABEL: pods.namespace}
    )
    peer: k8s.networking.v1.NetworkPolicyPeerArgsDict = {"namespace_selector": {"match_labels": namespaces}}
    if pods.labels:
        peer["pod_selector"] = {"match_labels": dict(pods.labels)}
    return peer


def _peers(end: Pods | Cidrs) -> pulumi.Input[list[k8s.networking.v1.NetworkPolicyPeerArgsDict]]:
    if isinstance(end, Pods):
        return [_peer(end)]
    excluded = list(end.excluded)

    def blocks(cidrs: Sequence[pulumi.Input[str]]) -> list[k8s.networking.v1.NetworkPolicyPeerArgsDict]:
        peers: list[k8s.networking.v1.NetworkPolicyPeerArgsDict] = []
        for cidr in cidrs:
            block: k8s.networking.v1.IPBlockArgsDict = {"cidr": cidr}
            if excluded:
                block["except_"] = excluded
            peers.append({"ip_block": block})
        return peers

    if isinstance(end.cidrs, pulumi.Output):
        return end.cidrs.apply(blocks)
    return blocks(end.cidrs)


def _ports(port: int, protocols: Sequence[str]) -> list[k8s.networking.v1.NetworkPolicyPortArgsDict]:
    return [{"port": port, "protocol": protocol} for protocol in protocols]
