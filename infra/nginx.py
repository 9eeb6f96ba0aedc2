"""The ingress-nginx controller (`ingress.controller: nginx`): one internet-facing NLB for every Ingress of class
`nginx`, made by the AWS Load Balancer Controller from the controller's Service annotations.

TLS ends on the NLB with the stack's ACM certificate (the one the ALB would carry), not in NGINX with a
certificate from cert-manager: ACM issues, DNS-validates and renews it already (infra/dns.py), the private key
never enters the cluster (no Secret to guard, no cert-manager and its webhook to run and keep reachable), the
listener takes the same TLS 1.3 policy as the ALB's, and NLB access logs record the TLS handshake of each
connection. What TLS in NGINX would give, end-to-end TLS to the pod and HTTP/2 from clients, is not needed here:
the hop from the NLB to the controller stays inside the VPC, as the ALB's hop to the pods does.

The NLB forwards with proxy protocol v2, so NGINX sees each client's address (NLB IP targets behind a TLS
listener do not preserve it) for the per-client rate limit and the access log, and trusts the header only from
the NLB's subnets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import kube
from infra.addons import Chart
from infra.namespaces import Cidrs, Flow, Pods
from infra.storage import NLB_LOG_PREFIX

# Chart 4.15.1 ships controller v1.15.1 (image pinned by digest in the chart's values.yaml), the project's last
# release: ingress-nginx was retired in March 2026, with no fixes after it (README at the tag; the Kubernetes blog,
# 2025-11-11, "Ingress NGINX Retirement"). docs/ingress-controllers.md says what that means for this option.
CHART = Chart("ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "4.15.1")
NAMESPACE = "ingress-nginx"
RELEASE = "ingress-nginx"
INGRESS_CLASS = "nginx"
# The controller pods' labels (chart templates/_helpers.tpl "ingress-nginx.selectorLabels" + component), which the
# NetworkPolicies select.
CONTROLLER_LABELS = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/instance": RELEASE,
    "app.kubernetes.io/component": "controller",
}
# The controller's container ports (chart values controller.containerPort): both listeners of the NLB forward to
# `http`, as TLS has ended on the NLB.
HTTP_PORT = 80
# The validating admission webhook the API server calls (chart values controller.admissionWebhooks.port).
WEBHOOK_PORT = 8443
# The service's body limit (service/settings.py `max_body_bytes`, not overridden by the stack): NGINX refuses
# larger bodies with 413 before they reach a pod. tests/infra/test_nginx.py keeps the two equal.
SERVICE_MAX_BODY_BYTES = 1_048_576
# Above the service's own timeouts: Gunicorn's worker timeout is 60 s (service/gunicorn.conf.py), so a slow
# request is ended by the service, with its answer, never cut by the proxy first.
PROXY_TIMEOUT_SECONDS = 75
# ingress-nginx `limit-burst-multiplier`'s default: a client may burst to 5x its rate before 503s.
BURST_MULTIPLIER = 5
PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"
CONTROLLER_PODS = Pods(NAMESPACE, CONTROLLER_LABELS)
KUBE_API_PORT = 443


def controller_flows(vpc_cidr: pulumi.Input[str], nlb_cidrs: Sequence[pulumi.Input[str]]) -> list[Flow]:
    """The controller's own connections (its flow to the services it fronts is each service's)."""
    vpc = Cidrs("the VPC (the EKS API endpoint's network interfaces)", [vpc_cidr])
    return [
        # target-type ip: the NLB connects from its own addresses, in the subnets it is placed in.
        Flow("nlb-to-nginx", Cidrs("the NLB's subnets", nlb_cidrs), CONTROLLER_PODS, HTTP_PORT),
        # The controller watches Ingresses, Services and EndpointSlices; the chart's webhook-patch Jobs (other
        # labels, so every pod of the namespace) write the webhook's CA bundle.
        Flow("nginx-to-kube-api", Pods(NAMESPACE), vpc, KUBE_API_PORT),
        # The API server calls the validating webhook for every Ingress of class nginx.
        Flow("kube-api-to-nginx-webhook", vpc, CONTROLLER_PODS, WEBHOOK_PORT),
    ]


@dataclass(frozen=True)
class NlbSettings:
    """What the AWS Load Balancer Controller needs for the controller's NLB (v2.14.1 docs/guide/service/
    annotations.md). Outputs allowed; "" reads as unset."""

    scheme: pulumi.Input[str]
    tags: Mapping[str, str]
    # The first is the default certificate; more (the previews' wildcard) are served by SNI.
    certificate_arns: Sequence[pulumi.Input[str]]
    access_logs_bucket: pulumi.Input[str]
    deletion_protection: bool
    inbound_cidrs: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] = ()


def nlb_annotations(nlb: NlbSettings) -> pulumi.Output[dict[str, str]]:
    """The controller Service's annotations: an NLB of the LB controller with IP targets and TLS on 443."""
    return pulumi.Output.all(
        nlb.scheme, nlb.access_logs_bucket, nlb.subnet_ids, pulumi.Output.all(*nlb.certificate_arns)
    ).apply(lambda v: _nlb_annotations(nlb, scheme=v[0], bucket=v[1], subnets=v[2], certificates=v[3]))


def _nlb_annotations(
    nlb: NlbSettings, *, scheme: str, bucket: str, subnets: Sequence[str] | None, certificates: Sequence[str]
) -> dict[str, str]:
    attributes = [
        f"deletion_protection.enabled={str(nlb.deletion_protection).lower()}",
        # NLB access logs cover TLS listeners only (ELB guide, "Access logs for your Network Load Balancer").
        "access_logs.s3.enabled=true",
        f"access_logs.s3.bucket={bucket}",
        f"access_logs.s3.prefix={NLB_LOG_PREFIX}/{RELEASE}",
        # An NLB node serves only its own zone's targets otherwise; the controller pods spread over zones.
        "load_balancing.cross_zone.enabled=true",
    ]
    annotations = {
        # "external": the LB controller, not the in-tree cloud provider, reconciles the Service.
        f"{PREFIX}type": "external",
        # Pods are targets directly: no NodePort, no extra hop through kube-proxy.
        f"{PREFIX}nlb-target-type": "ip",
        f"{PREFIX}scheme": scheme,
        f"{PREFIX}attributes": ",".join(attributes),
        # NLB IP targets behind a TLS listener see the NLB's address, not the client's; NGINX reads it from here.
        f"{PREFIX}proxy-protocol": "*",
        f"{PREFIX}additional-resource-tags": ",".join(f"{k}={v}" for k, v in sorted(nlb.tags.items())),
    }
    if certificates:
        annotations |= {
            f"{PREFIX}ssl-cert": ",".join(certificates),
            f"{PREFIX}ssl-ports": "443",
            f"{PREFIX}ssl-negotiation-policy": kube.SSL_POLICY,
        }
    if subnets:
        annotations[f"{PREFIX}subnets"] = ",".join(subnets)
    return annotations


def controller_values(
    nlb: NlbSettings,
    source_cidrs: Sequence[pulumi.Input[str]],
    replicas: int,
) -> dict[str, Any]:
    """The chart's values: its own secure defaults kept, the listeners and the NLB set here."""
    tls = bool(nlb.certificate_arns)
    return {
        "controller": {
            "ingressClass": INGRESS_CLASS,
            "ingressClassResource": {"name": INGRESS_CLASS, "enabled": True, "default": False},
            # The chart's default too (4.15.1); said here so a chart bump cannot turn snippets back on. Snippet
            # annotations let whoever writes an Ingress inject NGINX config (CVE-2021-25742, CVE-2025-1974 family).
            "allowSnippetAnnotations": False,
            "config": {
                "allow-snippet-annotations": "false",
                # Refuse annotations above "High" risk (e.g. *-snippet, auth-tls-*) outright.
                "annotations-risk-level": "High",
                "use-proxy-protocol": "true",
                # The proxy protocol header is trusted only from the NLB's own addresses.
                "proxy-real-ip-cidr": pulumi.Output.all(*source_cidrs).apply(lambda c: ",".join(c)),
                "server-tokens": "false",
                # Clients reach NGINX through TLS on the NLB only; NGINX itself serves no certificate.
                "ssl-redirect": "false",
            },
            # Two replicas outside dev, spread over zones; the chart adds a PDB (minAvailable 1) above one.
            "replicaCount": replicas,
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": key,
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": CONTROLLER_LABELS},
                }
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ],
            # The chart's container security context is kept: runAsNonRoot as UID 101 (the official image's user,
            # which the chart says must not change), no privilege escalation, seccomp RuntimeDefault, drop ALL
            # and add back NET_BIND_SERVICE only, which binding :80 and :443 as non-root needs.
            # readOnlyRootFilesystem stays the chart's false: NGINX rewrites /etc/nginx/nginx.conf and its Lua
            # state under the root filesystem on every reload.
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "256Mi"},
                "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "1Gi"},
            },
            "service": {
                "type": "LoadBalancer",
                "annotations": nlb_annotations(nlb),
                # The NLB's security group admits only these (LB controller: loadBalancerSourceRanges).
                "loadBalancerSourceRanges": nlb.inbound_cidrs,
                # With a certificate, 443 only (no plain-HTTP listener at all); without one (allowPlainHttp), 80.
                "enableHttp": not tls,
                "enableHttps": tls,
                "targetPorts": {"http": "http", "https": "http"},
            },
            "metrics": {"enabled": False},
        },
    }


@dataclass(frozen=True)
class NginxControllerArgs:
    nlb: NlbSettings
    # Where the NLB connects from (its subnets): the only sources the proxy protocol header is trusted from.
    source_cidrs: Sequence[pulumi.Input[str]]
    replicas: int
    # The namespace (with its default deny and flows), made by infra/namespaces.py.
    namespace: pulumi.Input[str]


class NginxController(pulumi.ComponentResource):
    """The ingress-nginx Helm release in its own namespace. The Kubernetes provider comes from `opts.providers`."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: NginxControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:NginxController", name, None, opts)
        pulumi.log.warn(
            f"ingress.controller nginx installs ingress-nginx {CHART.version}, the retired project's last release "
            "(no security fixes after March 2026); prefer alb unless you run ingress-nginx everywhere already "
            "(docs/ingress-controllers.md)",
            resource=self,
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-{CHART.name}",
            name=RELEASE,
            chart=CHART.name,
            version=CHART.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART.repo),
            namespace=args.namespace,
            values=controller_values(args.nlb, args.source_cidrs, args.replicas),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"status": self.release.status})


def ingress_annotations(rate_limit_rps: pulumi.Input[int]) -> pulumi.Output[dict[str, str]]:
    """The inference Ingress's annotations on NGINX: the service's body limit, timeouts above its own, and a
    per-client rate limit (ingress-nginx docs/user-guide/nginx-configuration/annotations.md, controller-v1.15.1)."""
    return pulumi.Output.from_input(rate_limit_rps).apply(_ingress_annotations)


def _ingress_annotations(rate_limit_rps: int) -> dict[str, str]:
    prefix = "nginx.ingress.kubernetes.io/"
    return {
        f"{prefix}proxy-body-size": str(SERVICE_MAX_BODY_BYTES),
        f"{prefix}proxy-read-timeout": str(PROXY_TIMEOUT_SECONDS),
        f"{prefix}proxy-send-timeout": str(PROXY_TIMEOUT_SECONDS),
        f"{prefix}limit-rps": str(rate_limit_rps),
        f"{prefix}limit-burst-multiplier": str(BURST_MULTIPLIER),
    }
