"""Passing and failing cases for the rules of `policy/rules/ingress_nginx.py`."""

from __future__ import annotations

from tests.policy.cases.common import Case
from tests.policy.cases.kubernetes_resources import INGRESS, INGRESS_T, RELEASE_T
from tests.policy.support import DELETE, changed

NLB = "service.beta.kubernetes.io/aws-load-balancer-"
NLB_ANNOTATIONS = {
    f"{NLB}type": "external",
    f"{NLB}nlb-target-type": "ip",
    f"{NLB}scheme": "internet-facing",
    f"{NLB}ssl-cert": "arn:aws:acm:us-east-1:123456789012:certificate/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
    f"{NLB}ssl-ports": "443",
    f"{NLB}ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    f"{NLB}attributes": "access_logs.s3.enabled=true,access_logs.s3.bucket=mlp-prod-access-logs",
}
INGRESS_NGINX = {
    "name": "ingress-nginx",
    "chart": "ingress-nginx",
    "version": "4.15.1",
    "repositoryOpts": {"repo": "https://kubernetes.github.io/ingress-nginx"},
    "namespace": "ingress-nginx",
    "values": {
        "controller": {
            "allowSnippetAnnotations": False,
            "config": {"allow-snippet-annotations": "false"},
            "service": {
                "annotations": NLB_ANNOTATIONS,
                "loadBalancerSourceRanges": ["203.0.113.0/24"],
                "enableHttp": False,
            },
        }
    },
}
SERVICE = "values.controller.service"


def _annotations(**changes: str | None) -> dict[str, object]:
    """INGRESS_NGINX with NLB annotations changed (None drops one); their names hold dots `changed` splits on."""
    annotations = NLB_ANNOTATIONS | {NLB + k.replace("_", "-"): v for k, v in changes.items()}
    return changed(INGRESS_NGINX, {f"{SERVICE}.annotations": {k: v for k, v in annotations.items() if v is not None}})


TLS = "kubernetes-helm-release-enable-nginx-nlb-tls"
RANGES = "kubernetes-helm-release-configure-nginx-source-ranges"
SNIPPETS = "kubernetes-helm-release-disallow-nginx-snippet-annotations"
INGRESS_SNIPPETS = "kubernetes-networking-ingress-disallow-snippet-annotations"

CASES = [
    Case(TLS, RELEASE_T, INGRESS_NGINX),
    Case(TLS, RELEASE_T, _annotations(ssl_cert=None), f"{NLB}ssl-cert must name", id="no-certificate"),
    Case(TLS, RELEASE_T, _annotations(ssl_ports="8443"), "ssl-ports must include 443", id="no-443"),
    Case(
        TLS,
        RELEASE_T,
        _annotations(ssl_negotiation_policy="ELBSecurityPolicy-2016-08"),
        "must be a TLS 1.3 policy",
        id="old-policy",
    ),
    Case(TLS, RELEASE_T, changed(INGRESS_NGINX, {f"{SERVICE}.enableHttp": DELETE}), "enableHttp must be false"),
    Case(RANGES, RELEASE_T, INGRESS_NGINX),
    Case(
        RANGES,
        RELEASE_T,
        changed(INGRESS_NGINX, {f"{SERVICE}.loadBalancerSourceRanges": []}),
        "loadBalancerSourceRanges must list",
    ),
    Case(RANGES, RELEASE_T, _annotations(attributes=None), "must set access_logs.s3.enabled=true", id="no-logs"),
    Case(SNIPPETS, RELEASE_T, INGRESS_NGINX),
    Case(
        SNIPPETS,
        RELEASE_T,
        changed(INGRESS_NGINX, {"values.controller.allowSnippetAnnotations": True}),
        "controller.allowSnippetAnnotations must be false",
    ),
    Case(
        SNIPPETS,
        RELEASE_T,
        changed(INGRESS_NGINX, {"values.controller.config": {"allow-snippet-annotations": "true"}}),
        "allow-snippet-annotations must be 'false'",
        id="config",
    ),
    Case(INGRESS_SNIPPETS, INGRESS_T, INGRESS),
    Case(
        INGRESS_SNIPPETS,
        INGRESS_T,
        changed(
            INGRESS,
            {"metadata.annotations": {"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;"}},
        ),
        "configuration-snippet must not be set",
    ),
]
