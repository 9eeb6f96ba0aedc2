"""Kubernetes networking: ALB Ingresses (TLS, attributes, exposure), NetworkPolicies, Service types."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, PolicyResource, ResourceValidationArgs, StackValidationArgs

from .base import (
    AVAILABILITY,
    SECURITY,
    Check,
    Findings,
    Props,
    ResourceRule,
    config,
    get,
    items,
    iter_pairs,
    matches_any,
    of_type,
    resource_rule,
    stack_rule,
)
from .k8s import INGRESS, NETWORK_POLICY, SERVICE, declared, resource_namespace, selector_matches, stack_workloads

ALB = "alb.ingress.kubernetes.io/"
# TLS 1.3 policies that also allow TLS 1.2 at minimum (the -1-0 and -1-1 variants allow older protocols).
TLS_POLICY = re.compile(r"ELBSecurityPolicy-TLS13-1-[23]-.+")
RECOMMENDED_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
OPEN_CIDRS = ("0.0.0.0/0", "::/0")

INGRESS_SCHEMA = PolicyConfigSchema(
    properties={
        "ingressClasses": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["alb"],
            "description": "Ingress classes served by the AWS Load Balancer Controller.",
        }
    }
)


def is_alb(props: Props, args: ResourceValidationArgs) -> bool:
    classes = list(config(args, "ingressClasses", ["alb"]))
    legacy = get(props, "metadata.annotations", {}).get("kubernetes.io/ingress.class")
    return get(props, "spec.ingressClassName") in classes or legacy in classes


def annotation(props: Props, key: str) -> Any:
    return get(props, "metadata.annotations", {}).get(ALB + key)


def lb_attributes(props: Props) -> dict[str, str]:
    return dict(iter_pairs(str(annotation(props, "load-balancer-attributes") or "")))


def listen_ports(props: Props) -> list[tuple[str, int]]:
    """The listeners an Ingress asks for; the controller's default is HTTP 80."""
    raw = annotation(props, "listen-ports")
    if raw is None:
        return [("HTTP", 80)]
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [(str(proto), int(port)) for entry in entries if isinstance(entry, dict) for proto, port in entry.items()]


def alb_rule(
    name: str,
    summary: str,
    *,
    controls: Sequence[str],
    category: str = SECURITY,
    config_schema: PolicyConfigSchema = INGRESS_SCHEMA,
) -> Callable[[Check], ResourceRule]:
    """`resource_rule` for the Ingresses the AWS Load Balancer Controller serves: the check sees no other Ingress."""
    return resource_rule(
        name,
        summary,
        controls=controls,
        types=(INGRESS,),
        category=category,
        config_schema=config_schema,
        applies=is_alb,
    )


def _attribute_rule(
    name: str, summary: str, controls: Sequence[str], attribute: str, category: str = SECURITY
) -> ResourceRule:
    """An ALB rule: the load-balancer-attributes annotation sets `attribute` to true."""

    @alb_rule(name, summary, controls=controls, category=category)
    def check(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
        if lb_attributes(props).get(attribute) != "true":
            yield f"{ALB}load-balancer-attributes must set {attribute}=true"

    return check


@alb_rule(
    "kubernetes-networking-ingress-enable-https",
    "ALB Ingresses listen on HTTPS 443 with a certificate and redirect HTTP to HTTPS.",
    controls=("CKV_AWS_2", "CKV2_AWS_20", "CIS EKS 5.4.5", "Security Hub ELB.1"),
)
def https(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    ports = listen_ports(props)
    if ("HTTPS", 443) not in ports:
        yield f'{ALB}listen-ports must include {{"HTTPS": 443}} (got {ports})'
    if not annotation(props, "certificate-arn") and not items(get(props, "spec.tls")):
        yield f"{ALB}certificate-arn (or spec.tls for certificate discovery) must name the ACM certificate"
    if any(proto == "HTTP" for proto, _ in ports) and annotation(props, "ssl-redirect") != "443":
        yield f"{ALB}ssl-redirect must be '443' while an HTTP listener exists"


@alb_rule(
    "kubernetes-networking-ingress-configure-tls-policy",
    f"ALB HTTPS listeners use a TLS 1.3 security policy with TLS 1.2 minimum ({RECOMMENDED_TLS_POLICY}).",
    controls=("CKV_AWS_103", "Security Hub ELB.17"),
)
def tls_policy(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if ("HTTPS", 443) not in listen_ports(props):
        return
    policy = annotation(props, "ssl-policy")
    if not isinstance(policy, str) or not TLS_POLICY.fullmatch(policy):
        yield f"{ALB}ssl-policy must be a TLS 1.3 policy such as {RECOMMENDED_TLS_POLICY} (got {policy!r})"


drop_invalid_headers = _attribute_rule(
    "kubernetes-networking-ingress-enable-drop-invalid-headers",
    "The ALB drops requests with invalid HTTP header fields (request smuggling defence).",
    ("CKV_AWS_131", "Security Hub ELB.4"),
    "routing.http.drop_invalid_header_fields.enabled",
)


@alb_rule(
    "kubernetes-networking-ingress-configure-desync-mitigation",
    "The ALB's HTTP desync mitigation is defensive or strictest (never monitor).",
    controls=("Security Hub ELB.12",),
)
def desync_mitigation(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    # AWS defaults to defensive; only an explicit weaker mode is a fault.
    mode = lb_attributes(props).get("routing.http.desync_mitigation_mode", "defensive")
    if mode not in ("defensive", "strictest"):
        yield f"{ALB}load-balancer-attributes routing.http.desync_mitigation_mode must be defensive (got {mode})"


@alb_rule(
    "kubernetes-networking-ingress-enable-access-logs",
    "The ALB writes access logs to S3.",
    controls=("CKV_AWS_91", "Security Hub ELB.5"),
)
def access_logs(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    attributes = lb_attributes(props)
    if attributes.get("access_logs.s3.enabled") != "true" or not attributes.get("access_logs.s3.bucket"):
        yield f"{ALB}load-balancer-attributes must set access_logs.s3.enabled=true and access_logs.s3.bucket"


deletion_protection = _attribute_rule(
    "kubernetes-networking-ingress-enable-deletion-protection",
    "The ALB has deletion protection, so deleting the Ingress by mistake does not take the endpoint down.",
    ("CKV_AWS_150", "Security Hub ELB.6"),
    "deletion_protection.enabled",
    category=AVAILABILITY,
)


@alb_rule(
    "kubernetes-networking-ingress-configure-ip-targets",
    "The ALB targets pod IPs (readiness gates then follow real target health) and health-checks a set path.",
    controls=("Platform baseline: target-type ip, health check on the readiness path",),
    category=AVAILABILITY,
)
def ip_targets(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if annotation(props, "target-type") != "ip":
        yield f"{ALB}target-type must be 'ip' (got {annotation(props, 'target-type')!r})"
    if not annotation(props, "healthcheck-path"):
        yield f"{ALB}healthcheck-path must name the readiness endpoint"


def backend_services(props: Props) -> list[str]:
    names = [get(props, "spec.defaultBackend.service.name")]
    for rule in items(get(props, "spec.rules")):
        names += [get(path, "backend.service.name") for path in items(get(rule, "http.paths"))]
    return [str(n) for n in names if n]


@alb_rule(
    "kubernetes-networking-ingress-disallow-internet-facing",
    "Only the inference service is internet-facing; every other ALB (MLflow's UI) stays internal.",
    controls=("CKV2_AWS_28", "Platform baseline: only the inference Ingress is internet-facing"),
    config_schema=PolicyConfigSchema(
        properties={
            **INGRESS_SCHEMA.properties,
            "internetFacingServices": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["inference", "*-inference"],
                "description": "Backend Service names (glob patterns) an internet-facing ALB may route to.",
            },
        }
    ),
)
def internet_facing(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if annotation(props, "scheme") != "internet-facing":
        return
    allowed = list(config(args, "internetFacingServices", ["inference", "*-inference"]))
    for service in backend_services(props):
        if not matches_any(service, allowed):
            yield f"internet-facing Ingress routes to Service {service}: make it internal or add it to the allow list"


def _peer_faults(rule: Any, direction: str, where: str) -> Iterator[str]:
    peers_key = "from" if direction == "ingress" else "to"
    peers, ports = items(get(rule, peers_key)), items(get(rule, "ports"))
    # Egress to any peer on named ports (DNS on 53) is a flow; ingress from any peer never is.
    if not peers and (direction == "ingress" or not ports):
        scope = "any source" if direction == "ingress" else "anywhere on any port"
        yield f"{where} has no {peers_key!r}: it admits {scope}"
    for peer in peers:
        cidr = get(peer, "ipBlock.cidr")
        if direction == "ingress" and cidr in OPEN_CIDRS:
            yield f"{where} admits ipBlock {cidr}: pods are reached through the ALB from the VPC only"
        if direction == "egress" and cidr in OPEN_CIDRS and not ports:
            yield f"{where} allows egress to {cidr} on every port: name the ports"


@resource_rule(
    "kubernetes-networking-networkpolicy-disallow-unrestricted-peers",
    "NetworkPolicy rules name their peers: no ingress from anywhere, no egress anywhere on any port.",
    controls=("CIS EKS 4.3.2", "CKV2_K8S_6", "kube-score networkpolicy-targets-pod"),
    types=(NETWORK_POLICY,),
)
def unrestricted_peers(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(items(get(props, f"spec.{direction}"))):
            yield from _peer_faults(rule, direction, f"spec.{direction}[{i}]")


@resource_rule(
    "kubernetes-core-service-disallow-external-types",
    "Services are ClusterIP: traffic enters only through the ALB Ingress, never a NodePort or a Service LB.",
    controls=("kube-score service-type", "CIS EKS 5.4.5"),
    types=(SERVICE,),
)
def external_service(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    kind = get(props, "spec.type", "ClusterIP")
    if kind in ("NodePort", "LoadBalancer"):
        yield f"spec.type {kind} exposes the Service outside the cluster: use ClusterIP behind the ALB Ingress"


# ---------------------------------------------------------------------------------------------------------- stack rules


def _is_default_deny(policy: PolicyResource) -> bool:
    spec = get(declared(policy), "spec")
    selector = get(spec, "podSelector", {})
    selects_all = not get(selector, "matchLabels") and not items(get(selector, "matchExpressions"))
    types = set(items(get(spec, "policyTypes")))
    no_rules = not items(get(spec, "ingress")) and not items(get(spec, "egress"))
    return selects_all and {"Ingress", "Egress"} <= types and no_rules


@stack_rule(
    "kubernetes-networking-namespace-configure-default-deny",
    "Every namespace running workloads has a default-deny NetworkPolicy (all pods, Ingress and Egress, no rules).",
    controls=("CIS EKS 4.3.2", "CKV2_K8S_6", "kube-score pod-networkpolicy"),
)
def default_deny(args: StackValidationArgs) -> Findings:
    denied = {resource_namespace(p) for p in of_type(args.resources, NETWORK_POLICY) if _is_default_deny(p)}
    reported = set()
    for workload, namespace, _ in stack_workloads(args.resources):
        if namespace not in denied and namespace not in reported:
            reported.add(namespace)
            yield f"namespace {namespace} has no default-deny NetworkPolicy", workload.urn


@stack_rule(
    "kubernetes-apps-deployment-configure-network-policy",
    "Every long-running workload's pods are selected by a NetworkPolicy that allows their flows.",
    controls=("CKV2_K8S_6", "CIS EKS 4.3.2", "polaris missingNetworkPolicy"),
)
def workload_network_policy(args: StackValidationArgs) -> Findings:
    allows = [
        (p, resource_namespace(p))
        for p in of_type(args.resources, NETWORK_POLICY)
        if items(get(declared(p), "spec.ingress")) or items(get(declared(p), "spec.egress"))
    ]
    for workload, namespace, labels in stack_workloads(args.resources):
        selected = any(
            ns == namespace and selector_matches(get(declared(p), "spec.podSelector"), labels) for p, ns in allows
        )
        if not selected:
            yield f"{workload.name} ({namespace}) is selected by no NetworkPolicy allowing its flows", workload.urn
