"""Passing and failing cases for the rules of `policy/rules/kubernetes_networking.py`."""

from __future__ import annotations

import json

from tests.policy.cases.common import Case
from tests.policy.cases.kubernetes_resources import (
    INGRESS,
    INGRESS_T,
    NETPOL,
    NETPOL_T,
    SERVICE,
    SERVICE_T,
    ingress,
    lb_attributes,
)
from tests.policy.support import changed

CASES = [
    Case("kubernetes-networking-ingress-enable-https", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-https",
        INGRESS_T,
        ingress(listen_ports=json.dumps([{"HTTP": 80}]), certificate_arn=None, ssl_redirect=None),
        'listen-ports must include {"HTTPS": 443}',
    ),
    Case(
        "kubernetes-networking-ingress-enable-https",
        INGRESS_T,
        ingress(ssl_redirect=None),
        "ssl-redirect must be '443'",
        id="no-redirect",
    ),
    Case(
        "kubernetes-networking-ingress-enable-https",
        INGRESS_T,
        changed(ingress(listen_ports=None), {"spec.ingressClassName": "nginx"}),
        id="not-alb",
    ),
    Case("kubernetes-networking-ingress-configure-tls-policy", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-configure-tls-policy",
        INGRESS_T,
        ingress(ssl_policy="ELBSecurityPolicy-TLS13-1-0-2021-06"),
        "must be a TLS 1.3 policy",
    ),
    Case("kubernetes-networking-ingress-enable-drop-invalid-headers", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-drop-invalid-headers",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(routing__http__drop_invalid_header_fields__enabled=None)),
        "drop_invalid_header_fields.enabled=true",
    ),
    Case("kubernetes-networking-ingress-configure-desync-mitigation", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-configure-desync-mitigation",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(routing__http__desync_mitigation_mode="monitor")),
        "must be defensive (got monitor)",
    ),
    Case("kubernetes-networking-ingress-enable-access-logs", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-access-logs",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(access_logs__s3__enabled=None, access_logs__s3__bucket=None)),
        "access_logs.s3.enabled=true",
    ),
    Case("kubernetes-networking-ingress-enable-deletion-protection", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-deletion-protection",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(deletion_protection__enabled="false")),
        "deletion_protection.enabled=true",
    ),
    Case("kubernetes-networking-ingress-configure-ip-targets", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-configure-ip-targets",
        INGRESS_T,
        ingress(target_type="instance"),
        "target-type must be 'ip'",
    ),
    Case("kubernetes-networking-ingress-disallow-internet-facing", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-disallow-internet-facing",
        INGRESS_T,
        changed(INGRESS, {"spec.rules.0.http.paths.0.backend.service.name": "mlflow"}),
        "routes to Service mlflow",
    ),
    Case(
        "kubernetes-networking-ingress-disallow-internet-facing",
        INGRESS_T,
        changed(ingress(scheme="internal"), {"spec.rules.0.http.paths.0.backend.service.name": "mlflow"}),
        id="internal-mlflow",
    ),
    Case("kubernetes-networking-networkpolicy-disallow-unrestricted-peers", NETPOL_T, NETPOL),
    Case(
        "kubernetes-networking-networkpolicy-disallow-unrestricted-peers",
        NETPOL_T,
        changed(NETPOL, {"spec.ingress": [{"ports": [{"port": 8000}]}]}),
        "spec.ingress[0] has no 'from': it admits any source",
    ),
    Case(
        "kubernetes-networking-networkpolicy-disallow-unrestricted-peers",
        NETPOL_T,
        changed(NETPOL, {"spec.egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}),
        "allows egress to 0.0.0.0/0 on every port",
        id="egress-anywhere",
    ),
    Case("kubernetes-core-service-disallow-external-types", SERVICE_T, SERVICE),
    Case(
        "kubernetes-core-service-disallow-external-types",
        SERVICE_T,
        changed(SERVICE, {"spec.type": "LoadBalancer"}),
        "spec.type LoadBalancer exposes the Service",
    ),
]
