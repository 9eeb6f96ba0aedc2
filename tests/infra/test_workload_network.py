"""NetworkPolicies: default deny in every namespace, then exactly the flows the platform needs, no more.

The policies are read back into (source, destination, port) flows the way a CNI would apply them: a flow
between two of our namespaces needs both the egress rule on one side and the ingress rule on the other.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.infra.harness import BYO_VPC_CIDR, Recording, run_stack
from tests.infra.k8s import Manifest, of_kind, selects, workloads

Flow = tuple[str, str, str]  # source, destination, "port/protocol"

INFERENCE = "inference/inference:server"
MLFLOW = "mlflow/mlflow:tracking-server"
BOOTSTRAP = "mlflow/mlflow:bootstrap-users"
MIGRATE = "mlflow/mlflow:migrate-db"
TRAINING = "training/training:job"
DNS = "kube-system/k8s-app=kube-dns"
PUBLIC_443 = "0.0.0.0/0 except 10.0.0.0/8,100.64.0.0/10,169.254.0.0/16,172.16.0.0/12,192.168.0.0/16"
VPC = {"dev": "10.10.0.0/16", "staging": "10.20.0.0/16", "prod": "10.30.0.0/16"}
# Inference pods of any namespace labelled as a preview (pr-<N>): dev hosts previews (preview.hosting).
PREVIEWS = "[ml-platform/preview=true]/inference:server"


REDIS_EXPORTER = "inference/redis-exporter:exporter"


def _sixteenth(stack: str, index: int) -> list[str]:
    """The /26s of the VPC's `index`-th sixteenth, one per zone (Pulumi.yaml's default prefix lengths)."""
    zones = 2 if stack == "dev" else 3
    block = list(ipaddress.IPv4Network(VPC[stack]).subnets(prefixlen_diff=4))[index]
    return [str(s) for s in list(block.subnets(new_prefix=26))[:zones]]


def data_cidrs(stack: str) -> list[str]:
    return _sixteenth(stack, 14)


def internal_alb_cidrs(stack: str) -> list[str]:
    return _sixteenth(stack, 15)


def expected_flows(stack: str, namespaces: set[str], *, prometheus: str | None = None) -> set[Flow]:
    blocks = list(ipaddress.ip_network(VPC[stack]).subnets(prefixlen_diff=4))
    zones = 2 if stack == "dev" else 3
    # Redis and RDS's data subnets (infra/network.py isolated_cidrs: /26s from the fifteenth block).
    data = data_cidrs(stack)
    # The internet-facing ALB's subnets (infra/network.py subnet_cidrs: public from the ninth block on).
    public = [str(s) for s in blocks[8 : 8 + zones]]
    flows = {
        *((cidr, INFERENCE, "8000/TCP") for cidr in public),
        (INFERENCE, MLFLOW, "5000/TCP"),
        (BOOTSTRAP, MLFLOW, "5000/TCP"),
        (MLFLOW, PUBLIC_443, "443/TCP"),
    }
    flows |= {(INFERENCE, cidr, "6379/TCP") for cidr in data}
    flows |= {(MLFLOW, cidr, "5432/TCP") for cidr in data}
    # The schema migration Job reaches the database, and AWS for its password (STS, Secrets Manager), only.
    flows |= {(MIGRATE, cidr, "5432/TCP") for cidr in data}
    flows.add((MIGRATE, PUBLIC_443, "443/TCP"))
    flows |= {(f"{ns}/*", DNS, f"53/{proto}") for ns in namespaces for proto in ("UDP", "TCP")}
    if "training" in namespaces:
        flows.add((TRAINING, MLFLOW, "5000/TCP"))
    if stack == "dev":
        flows.add((PREVIEWS, MLFLOW, "5000/TCP"))
    if prometheus:
        flows.add((f"{prometheus}/*", INFERENCE, "8000/TCP"))
        # The Redis exporter (infra/redis_exporter.py): Redis on 6379 out, Prometheus on 9121 in.
        flows |= {(REDIS_EXPORTER, cidr, "6379/TCP") for cidr in data}
        flows.add((f"{prometheus}/*", REDIS_EXPORTER, "9121/TCP"))
        # MLflow's metrics listener (infra/mlflow_metrics.py), never its API port.
        flows.add((f"{prometheus}/*", MLFLOW, "9102/TCP"))
    return flows


def _pods(namespace: str, selector: dict[str, Any] | None) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    if not labels:
        return f"{namespace}/*"
    if set(labels) == {"app.kubernetes.io/name", "app.kubernetes.io/component"}:
        return f"{namespace}/{labels['app.kubernetes.io/name']}:{labels['app.kubernetes.io/component']}"
    return f"{namespace}/" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _peers(peers: list[dict[str, Any]], own_namespace: str) -> list[str]:
    found = []
    for peer in peers:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            excluded = ",".join(sorted(block.get("except") or []))
            found.append(block["cidr"] + (f" except {excluded}" if excluded else ""))
            continue
        ns_labels = (peer.get("namespaceSelector") or {}).get("matchLabels")
        # A peer without a namespaceSelector means the policy's own namespace; one selecting by other labels than
        # the name, every namespace carrying them, written [k=v].
        if not ns_labels:
            namespace = own_namespace
        elif set(ns_labels) == {"kubernetes.io/metadata.name"}:
            namespace = ns_labels["kubernetes.io/metadata.name"]
        else:
            namespace = "[" + ",".join(f"{k}={v}" for k, v in sorted(ns_labels.items())) + "]"
        found.append(_pods(namespace, peer.get("podSelector")))
    return found


def _ports(rule: dict[str, Any]) -> list[str]:
    ports = rule.get("ports")
    assert ports, f"a rule without ports admits every port: {rule}"
    return [f"{p['port']}/{p.get('protocol', 'TCP')}" for p in ports]


def half_flows(manifests: list[Manifest]) -> tuple[set[Flow], set[Flow]]:
    """(egress, ingress) as each policy admits them on its own side."""
    egress: set[Flow] = set()
    ingress: set[Flow] = set()
    for policy in of_kind(manifests, "NetworkPolicy"):
        ns, spec = policy["metadata"]["namespace"], policy["spec"]
        selected = _pods(ns, spec.get("podSelector"))
        for rule in spec.get("egress") or []:
            assert rule.get("to"), f"{ns}/{policy['metadata']['name']}: an egress rule without `to` admits anywhere"
            egress |= {(selected, peer, port) for peer in _peers(rule["to"], ns) for port in _ports(rule)}
        for rule in spec.get("ingress") or []:
            assert rule.get("from"), f"{ns}/{policy['metadata']['name']}: an ingress rule without `from` admits all"
            ingress |= {(peer, selected, port) for peer in _peers(rule["from"], ns) for port in _ports(rule)}
    return egress, ingress


def _ours(end: str, namespaces: set[str]) -> bool:
    """Whether a flow end is pods in one of our namespaces (CIDRs start with a digit, label selections with [)."""
    return not end[0].isdigit() and not end.startswith("[") and end.split("/", 1)[0] in namespaces


def admitted(manifests: list[Manifest]) -> set[Flow]:
    """Flows a CNI would let through: both halves where both ends are ours, the one half otherwise."""
    ours = {m["metadata"]["name"] for m in of_kind(manifests, "Namespace")}
    egress, ingress = half_flows(manifests)
    return {
        flow
        for flow in egress | ingress
        if not (_ours(flow[0], ours) and _ours(flow[1], ours)) or (flow in egress and flow in ingress)
    }


def namespaces_of(rec: Recording) -> set[str]:
    return {m["metadata"]["name"] for m in of_kind(rec.kubernetes_manifests(), "Namespace")}


def test_every_namespace_denies_all_traffic_by_default(recording: Recording) -> None:
    manifests = recording.kubernetes_manifests()
    for ns in namespaces_of(recording):
        deny = [p for p in of_kind(manifests, "NetworkPolicy", ns) if p["metadata"]["name"] == "default-deny"]
        assert len(deny) == 1, ns
        spec = deny[0]["spec"]
        assert spec["podSelector"] == {} and sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        assert not spec.get("ingress") and not spec.get("egress")


def test_policies_admit_exactly_the_platform_flows(recording: Recording) -> None:
    manifests = recording.kubernetes_manifests()
    assert admitted(manifests) == expected_flows(recording.stack, namespaces_of(recording))


def test_every_in_cluster_flow_is_admitted_on_both_sides(recording: Recording) -> None:
    """A half-declared flow is dead config: the CNI would drop it at the other end."""
    manifests = recording.kubernetes_manifests()
    ours = namespaces_of(recording)
    egress, ingress = half_flows(manifests)

    def both_ours(flow: Flow) -> bool:
        return _ours(flow[0], ours) and _ours(flow[1], ours)

    assert {f for f in egress if both_ours(f)} == {f for f in ingress if both_ours(f)}


def test_every_policy_selects_pods_that_exist(recording: Recording) -> None:
    manifests = recording.kubernetes_manifests()
    pods = [(w["metadata"]["namespace"], t["metadata"]["labels"]) for w, t in workloads(manifests)]
    for policy in of_kind(manifests, "NetworkPolicy"):
        ns, selector = policy["metadata"]["namespace"], policy["spec"]["podSelector"].get("matchLabels") or {}
        assert any(pns == ns and selects(selector, labels) for pns, labels in pods), policy["metadata"]["name"]


def test_public_443_egress_cannot_reach_the_vpc(recording: Recording) -> None:
    """MLflow's S3/STS egress excludes private space, so it cannot reach the cluster API or other services: the
    VPC the stack built lies inside a range the rendered policy excepts (NetworkPolicy API reference, IPBlock
    `except`: CIDRs the rule does not admit)."""
    (vpc_resource,) = recording.find("aws:ec2/vpc:Vpc")
    vpc = ipaddress.ip_network(vpc_resource.inputs["cidrBlock"])
    blocks = [
        peer["ipBlock"]
        for policy in of_kind(recording.kubernetes_manifests(), "NetworkPolicy", "mlflow")
        for rule in policy["spec"].get("egress") or []
        if {"port": 443, "protocol": "TCP"} in (rule.get("ports") or [])
        for peer in rule.get("to") or []
        if "ipBlock" in peer
    ]
    assert blocks, "no 443 egress by IP block from MLflow"
    for block in blocks:
        excluded = [ipaddress.ip_network(c) for c in block.get("except") or []]
        assert any(vpc.subnet_of(e) for e in excluded), block  # type: ignore[arg-type]


def test_a_configured_prometheus_namespace_may_scrape_the_inference_pods() -> None:
    rec = run_stack(
        "prod",
        {
            "platform:monitoring.serviceMonitor": "true",
            "platform:monitoring.operatorPresent": "true",
            "platform:monitoring.prometheusNamespace": "monitoring",
        },
    )
    assert admitted(rec.kubernetes_manifests()) == expected_flows("prod", namespaces_of(rec), prometheus="monitoring")


@pytest.mark.parametrize("stack", ["staging"])
def test_an_internal_mlflow_ui_is_reachable_from_the_internal_alb_subnets_only(stack: str) -> None:
    """MLflow's internal ALB sits in the internal-ALB subnets (kubernetes.io/role/internal-elb, LB controller
    v2.14.1 docs/deploy/subnet_discovery.md) and connects to the pods from its addresses there (target-type ip):
    those subnets alone are admitted, not the VPC, whose private subnets hold every pod."""
    rec = run_stack(
        stack,
        {"platform:mlflow.ingressEnabled": "true", "platform:mlflow.ingressHost": "mlflow.internal.example.com"},
    )
    extra = admitted(rec.kubernetes_manifests()) - expected_flows(stack, namespaces_of(rec))
    assert extra == {(cidr, MLFLOW, "5000/TCP") for cidr in internal_alb_cidrs(stack)}


def test_a_brought_vpc_opens_the_flows_to_its_looked_up_cidrs() -> None:
    private = ["subnet-0b000001", "subnet-0b000002"]
    rec = run_stack(
        "prod",
        {
            "platform:network.vpcId": "vpc-0123456789abcdef0",
            "platform:network.publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
            "platform:network.privateSubnetIds": private,
            "platform:network.dataSubnetIds": ["subnet-0c000001", "subnet-0c000002"],
            "platform:network.internalAlbSubnetIds": ["subnet-0d000001", "subnet-0d000002"],
        },
    )
    flows = admitted(rec.kubernetes_manifests())
    alb = {source for source, destination, port in flows if destination == INFERENCE and port == "8000/TCP"}
    redis = {destination for source, destination, port in flows if port == "6379/TCP"}
    postgres = {destination for source, destination, port in flows if port == "5432/TCP"}
    assert redis == postgres and len(redis) == len(private)
    # The data subnets' looked-up CIDRs, and the public subnets', none of them the pods' (private) subnets.
    assert redis == set(rec.exports["dataSubnetCidrs"])
    assert not redis & set(rec.exports["privateSubnetCidrs"])
    assert len(alb) == 2 and not alb & redis
    assert all(ipaddress.ip_network(c).subnet_of(ipaddress.ip_network(BYO_VPC_CIDR)) for c in alb)  # type: ignore[arg-type]
    assert all(ipaddress.ip_network(c).subnet_of(ipaddress.ip_network(BYO_VPC_CIDR)) for c in redis)  # type: ignore[arg-type]


def test_an_internal_inference_alb_is_admitted_from_its_own_subnets_only() -> None:
    """An internal ALB is placed in the internal-ALB subnets (kubernetes.io/role/internal-elb: LB controller
    v2.14.1 docs/deploy/subnet_discovery.md), where no pod has an address (the VPC CNI gives pods the nodes'
    private subnets' addresses): admitting those alone keeps every other pod, a preview's included, out."""
    rec = run_stack("staging", {"platform:ingress.scheme": "internal"})
    alb = {s for s, d, port in admitted(rec.kubernetes_manifests()) if d == INFERENCE and port == "8000/TCP"}
    assert alb == set(internal_alb_cidrs("staging"))
    blocks = list(ipaddress.IPv4Network(VPC["staging"]).subnets(prefixlen_diff=4))
    assert not any(ipaddress.ip_network(c).overlaps(p) for c in alb for p in blocks[:8])
