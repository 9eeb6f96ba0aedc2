"""The NGINX path (`ingress.controller: nginx`): the ingress-nginx Helm release's NLB and snippet settings, and
snippet annotations on any Ingress.

The NLB is made by the AWS Load Balancer Controller from the controller Service's annotations, which the chart
takes from `controller.service.annotations` (ingress-nginx chart 4.15.1 templates/controller-service.yaml); the
annotation names are those of LB controller v2.14.1 docs/guide/service/annotations.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import Props, get, items, iter_pairs, resource_rule
from .k8s import HELM_RELEASE, INGRESS

CHART = "ingress-nginx"
NLB = "service.beta.kubernetes.io/aws-load-balancer-"
TLS_POLICY = re.compile(r"ELBSecurityPolicy-TLS13-1-[23]-.+")
# ingress-nginx annotations that inject raw NGINX configuration (docs/user-guide/nginx-configuration/
# annotations.md, controller-v1.15.1: configuration-snippet, server-snippet, auth-snippet, stream-snippet, ...).
SNIPPET = re.compile(r"nginx\.ingress\.kubernetes\.io/.*snippet")


def _controller(props: Props) -> Any:
    """The release's `controller` values when it installs ingress-nginx, else None."""
    if str(get(props, "chart", "")).rsplit("/", 1)[-1] != CHART:
        return None
    return get(props, "values.controller", {}) or {}


@resource_rule(
    "kubernetes-helm-release-enable-nginx-nlb-tls",
    "The ingress-nginx NLB terminates TLS on 443 with an ACM certificate and a TLS 1.3 policy, with no plain-HTTP "
    "listener beside it.",
    controls=("CKV_AWS_2", "Security Hub ELB.1", "Security Hub ELB.17"),
    types=(HELM_RELEASE,),
)
def nlb_tls(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    controller = _controller(props)
    if controller is None:
        return
    service = get(controller, "service", {})
    annotations = get(service, "annotations", {}) or {}
    if not annotations.get(f"{NLB}ssl-cert"):
        yield f"controller.service.annotations {NLB}ssl-cert must name the ACM certificate"
    if "443" not in str(annotations.get(f"{NLB}ssl-ports", "")).split(","):
        yield f"controller.service.annotations {NLB}ssl-ports must include 443"
    policy = annotations.get(f"{NLB}ssl-negotiation-policy")
    if not isinstance(policy, str) or not TLS_POLICY.fullmatch(policy):
        yield f"controller.service.annotations {NLB}ssl-negotiation-policy must be a TLS 1.3 policy (got {policy!r})"
    # The chart's enableHttp defaults to true: only an explicit false removes the port-80 listener.
    if get(service, "enableHttp", True) is not False:
        yield "controller.service.enableHttp must be false: with TLS on the NLB, port 80 would serve plain HTTP"


@resource_rule(
    "kubernetes-helm-release-configure-nginx-source-ranges",
    "The ingress-nginx NLB states who may connect (loadBalancerSourceRanges), and keeps access logs.",
    controls=("CKV_AWS_91", "Security Hub ELB.5", "Platform baseline: inbound CIDRs from config"),
    types=(HELM_RELEASE,),
)
def source_ranges(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    controller = _controller(props)
    if controller is None:
        return
    ranges = get(controller, "service.loadBalancerSourceRanges")
    if not items(ranges):
        yield "controller.service.loadBalancerSourceRanges must list the CIDRs allowed to reach the NLB"
    annotations = get(controller, "service.annotations", {}) or {}
    attributes = dict(iter_pairs(str(annotations.get(f"{NLB}attributes", ""))))
    if attributes.get("access_logs.s3.enabled") != "true" or not attributes.get("access_logs.s3.bucket"):
        yield f"controller.service.annotations {NLB}attributes must set access_logs.s3.enabled=true and a bucket"


@resource_rule(
    "kubernetes-helm-release-disallow-nginx-snippet-annotations",
    "ingress-nginx refuses snippet annotations (allow-snippet-annotations off): whoever writes an Ingress cannot "
    "inject NGINX configuration.",
    controls=("Platform baseline: allow-snippet-annotations off (CVE-2021-25742, CVE-2025-1974)",),
    types=(HELM_RELEASE,),
)
def release_snippets(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    controller = _controller(props)
    if controller is None:
        return
    if controller.get("allowSnippetAnnotations") is not False:
        yield "controller.allowSnippetAnnotations must be false"
    if str(get(controller, "config", {}).get("allow-snippet-annotations", "false")).lower() != "false":
        yield "controller.config allow-snippet-annotations must be 'false'"


@resource_rule(
    "kubernetes-networking-ingress-disallow-snippet-annotations",
    "No Ingress carries an NGINX snippet annotation.",
    controls=("Platform baseline: no NGINX snippet annotations (CVE-2021-25742, CVE-2025-1974)",),
    types=(INGRESS,),
)
def ingress_snippets(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for key in sorted(get(props, "metadata.annotations", {}) or {}):
        if SNIPPET.fullmatch(key):
            yield f"metadata.annotations {key} must not be set (snippets inject NGINX configuration)"
