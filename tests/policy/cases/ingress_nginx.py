"""Passing and failing cases for the rules of `policy/rules/ingress_nginx.py`."""

from __future__ import annotations

from tests.policy.cases.common import fails, table
from tests.policy.cases.kubernetes_resources import INGRESS, INGRESS_T, RELEASE_T
from tests.policy.support import DELETE

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


def annotation(key: str) -> tuple[str, ...]:
    """The path of one NLB annotation of the controller's Service (its key holds dots)."""
    return ("values", "controller", "service", "annotations", NLB + key)


TLS = "kubernetes-helm-release-enable-nginx-nlb-tls"
RANGES = "kubernetes-helm-release-configure-nginx-source-ranges"
SNIPPETS = "kubernetes-helm-release-disallow-nginx-snippet-annotations"
INGRESS_SNIPPETS = "kubernetes-networking-ingress-disallow-snippet-annotations"

CASES = [
    *table(
        RELEASE_T,
        INGRESS_NGINX,
        {
            TLS: [
                fails(annotation("ssl-cert"), DELETE, f"{NLB}ssl-cert must name", id="no-certificate"),
                fails(annotation("ssl-ports"), "8443", "ssl-ports must include 443", id="no-443"),
                fails(
                    annotation("ssl-negotiation-policy"),
                    "ELBSecurityPolicy-2016-08",
                    "must be a TLS 1.3 policy",
                    id="old-policy",
                ),
                fails(f"{SERVICE}.enableHttp", DELETE, "enableHttp must be false"),
            ],
            RANGES: [
                fails(f"{SERVICE}.loadBalancerSourceRanges", [], "loadBalancerSourceRanges must list"),
                fails(annotation("attributes"), DELETE, "must set access_logs.s3.enabled=true", id="no-logs"),
            ],
            SNIPPETS: [
                fails(
                    "values.controller.allowSnippetAnnotations",
                    True,
                    "controller.allowSnippetAnnotations must be false",
                ),
                fails(
                    "values.controller.config",
                    {"allow-snippet-annotations": "true"},
                    "allow-snippet-annotations must be 'false'",
                    id="config",
                ),
            ],
        },
    ),
    *table(
        INGRESS_T,
        INGRESS,
        {
            INGRESS_SNIPPETS: [
                fails(
                    ("metadata", "annotations", "nginx.ingress.kubernetes.io/configuration-snippet"),
                    "return 200;",
                    "configuration-snippet must not be set",
                ),
            ],
        },
    ),
]
