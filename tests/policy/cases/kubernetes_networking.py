"""The rules of `policy/rules/kubernetes_networking.py` on the compliant inference Ingress, NetworkPolicy and Service:
each row one change and the messages it must produce."""

from __future__ import annotations

import json

from tests.policy.cases.common import fails, passes, table
from tests.policy.cases.kubernetes_resources import (
    INGRESS,
    INGRESS_T,
    NETPOL,
    NETPOL_T,
    SERVICE,
    SERVICE_T,
    lb_attributes,
)
from tests.policy.cases.stacks import DEFAULT_DENY, OTHER_LABELS, drop, edit, stack_table, workloads
from tests.policy.support import DELETE

ALB = "alb.ingress.kubernetes.io/"
ATTRIBUTES = ("metadata", "annotations", ALB + "load-balancer-attributes")
BACKEND = "spec.rules.0.http.paths.0.backend.service.name"


def annotation(key: str) -> tuple[str, ...]:
    """The path of one ALB annotation (its key holds dots)."""
    return ("metadata", "annotations", ALB + key)


CASES = [
    *table(
        INGRESS_T,
        INGRESS,
        {
            "kubernetes-networking-ingress-enable-https": [
                fails(
                    annotation("listen-ports"), json.dumps([{"HTTP": 80}]), 'listen-ports must include {"HTTPS": 443}'
                ),
                fails(
                    annotation("listen-ports"), DELETE, 'listen-ports must include {"HTTPS": 443}', id="default-http"
                ),
                fails(annotation("certificate-arn"), DELETE, "certificate-arn (or spec.tls"),
                passes(
                    {annotation("certificate-arn"): DELETE, "spec.tls": [{"hosts": ["inference.example.com"]}]},
                    id="tls-discovery",
                ),
                fails(annotation("ssl-redirect"), DELETE, "ssl-redirect must be '443'", id="no-redirect"),
                passes(
                    {annotation("listen-ports"): json.dumps([{"HTTPS": 443}]), annotation("ssl-redirect"): DELETE},
                    id="https-only",
                ),
                passes({"spec.ingressClassName": "nginx", annotation("listen-ports"): DELETE}, id="not-alb"),
                passes(
                    {
                        "spec.ingressClassName": DELETE,
                        ("metadata", "annotations", "kubernetes.io/ingress.class"): "alb",
                        annotation("ssl-redirect"): "443",
                    },
                    id="legacy-class-annotation",
                ),
            ],
            "kubernetes-networking-ingress-configure-tls-policy": [
                fails(annotation("ssl-policy"), "ELBSecurityPolicy-TLS13-1-0-2021-06", "must be a TLS 1.3 policy"),
                fails(annotation("ssl-policy"), DELETE, "must be a TLS 1.3 policy", id="unset"),
                passes({annotation("ssl-policy"): "ELBSecurityPolicy-TLS13-1-3-2021-06"}, id="tls13-only"),
            ],
            "kubernetes-networking-ingress-enable-drop-invalid-headers": [
                fails(
                    ATTRIBUTES,
                    lb_attributes(routing__http__drop_invalid_header_fields__enabled=None),
                    "drop_invalid_header_fields.enabled=true",
                ),
            ],
            "kubernetes-networking-ingress-configure-desync-mitigation": [
                fails(
                    ATTRIBUTES,
                    lb_attributes(routing__http__desync_mitigation_mode="monitor"),
                    "must be defensive (got monitor)",
                ),
                passes({ATTRIBUTES: lb_attributes(routing__http__desync_mitigation_mode=None)}, id="aws-default"),
                passes({ATTRIBUTES: lb_attributes(routing__http__desync_mitigation_mode="strictest")}, id="strictest"),
            ],
            "kubernetes-networking-ingress-enable-access-logs": [
                fails(ATTRIBUTES, lb_attributes(access_logs__s3__enabled=None), "access_logs.s3.enabled=true"),
                fails(ATTRIBUTES, lb_attributes(access_logs__s3__bucket=None), "access_logs.s3.bucket", id="no-bucket"),
            ],
            "kubernetes-networking-ingress-enable-deletion-protection": [
                fails(
                    ATTRIBUTES, lb_attributes(deletion_protection__enabled="false"), "deletion_protection.enabled=true"
                ),
            ],
            "kubernetes-networking-ingress-configure-ip-targets": [
                fails(annotation("target-type"), "instance", "target-type must be 'ip' (got 'instance')"),
                fails(annotation("healthcheck-path"), DELETE, "healthcheck-path must name the readiness endpoint"),
            ],
            "kubernetes-networking-ingress-disallow-internet-facing": [
                fails(BACKEND, "mlflow", "internet-facing Ingress routes to Service mlflow"),
                fails(
                    "spec.defaultBackend",
                    {"service": {"name": "mlflow", "port": {"name": "http"}}},
                    "routes to Service mlflow",
                    id="default-backend",
                ),
                passes({annotation("scheme"): "internal", BACKEND: "mlflow"}, id="internal-mlflow"),
                passes({BACKEND: "pr-7-inference"}, id="preview-inference"),
                passes(
                    {BACKEND: "mlflow"}, id="configured", config={"internetFacingServices": ["inference", "mlflow"]}
                ),
            ],
        },
    ),
    *table(
        NETPOL_T,
        NETPOL,
        {
            "kubernetes-networking-networkpolicy-disallow-unrestricted-peers": [
                fails("spec.ingress.0.from", DELETE, "spec.ingress[0] has no 'from': it admits any source"),
                fails(
                    "spec.ingress.0.from.0.ipBlock.cidr",
                    "0.0.0.0/0",
                    "spec.ingress[0] admits ipBlock 0.0.0.0/0: pods are reached through the ALB from the VPC only",
                ),
                fails("spec.ingress.0.from.0.ipBlock.cidr", "::/0", "spec.ingress[0] admits ipBlock ::/0", id="ipv6"),
                fails("spec.egress.2.ports", DELETE, "spec.egress[2] allows egress to 0.0.0.0/0 on every port"),
                fails(
                    "spec.egress.1.ports",
                    DELETE,
                    "spec.egress[1] has no 'to': it admits anywhere on any port",
                    id="no-peer-no-port",
                ),
            ],
        },
    ),
    *table(
        SERVICE_T,
        SERVICE,
        {
            "kubernetes-core-service-disallow-external-types": [
                fails("spec.type", "LoadBalancer", "spec.type LoadBalancer exposes the Service"),
                fails("spec.type", "NodePort", "spec.type NodePort exposes the Service", id="node-port"),
                passes({"spec.type": DELETE}, id="default-cluster-ip"),
            ],
        },
    ),
]


# The stack rules over the inference namespace: its default deny, and a policy admitting each workload's flows.
STACK_CASES = stack_table(
    workloads,
    {
        "kubernetes-networking-namespace-configure-default-deny": [
            drop("default-deny").fails("namespace inference has no default-deny NetworkPolicy"),
            edit("default-deny", "spec.policyTypes", ["Ingress"]).fails(
                "namespace inference has no default-deny NetworkPolicy", id="ingress-only"
            ),
            edit("default-deny", "spec.podSelector", {"matchLabels": OTHER_LABELS}).fails(
                "namespace inference has no default-deny NetworkPolicy", id="selects-some-pods"
            ),
            edit("default-deny", "spec.ingress", DEFAULT_DENY["spec"].get("ingress", [{}])).fails(
                "namespace inference has no default-deny NetworkPolicy", id="admits-something"
            ),
        ],
        "kubernetes-apps-deployment-configure-network-policy": [
            edit("allow", "spec.podSelector.matchLabels", OTHER_LABELS).fails(
                "deployment (inference) is selected by no NetworkPolicy allowing its flows"
            ),
            drop("allow").fails("deployment (inference) is selected by no NetworkPolicy allowing its flows"),
        ],
    },
)
