"""`ingress.controller: nginx`: ingress-nginx behind an NLB of the AWS Load Balancer Controller, the inference
Ingress of class nginx, the NetworkPolicies around them, and a switch from the ALB that touches only the ingress.

Sources: ingress-nginx chart 4.15.1 (charts/ingress-nginx/values.yaml, templates/controller-service.yaml,
templates/_helpers.tpl) and controller-v1.15.1 annotations (internal/ingress/annotations/proxy, ratelimit);
AWS Load Balancer Controller v2.14.1 docs/guide/service/annotations.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from infra import nginx
from infra.config import ConfigError
from infra.inference import PUBLIC_PATHS
from infra.preview import _rate_limit
from infra.storage import NLB_LOG_PREFIX as STORAGE_NLB_PREFIX
from service.settings import Settings
from tests.infra.harness import ROOT, Recording, qualified, run_stack
from tests.infra.test_manifests import CUSTOM_KINDS, versions
from tests.policy.engine import evaluate
from tests.policy.test_scanners import checkov, render
from tests.support.stacks import PREVIEW_PR, STACKS

NGINX = {"platform:ingress.controller": "nginx"}
RELEASE = "kubernetes:helm.sh/v3:Release"
NLB = "service.beta.kubernetes.io/aws-load-balancer-"


@pytest.fixture(scope="module")
def nginx_stacks() -> dict[str, Recording]:
    """dev, staging and prod with ingress.controller nginx."""
    return {stack: run_stack(stack, NGINX) for stack in STACKS}


def _release(rec: Recording) -> dict[str, Any]:
    [release] = [r.inputs for r in rec.of_type(RELEASE) if r.inputs.get("chart") == nginx.CHART.name]
    return release


def _inference_ingress(rec: Recording) -> dict[str, Any]:
    [ingress] = [
        m for m in rec.kubernetes_manifests() if m["kind"] == "Ingress" and m["metadata"]["name"] == "inference"
    ]
    return ingress


def _policies(rec: Recording, namespace: str) -> list[dict[str, Any]]:
    return [
        m
        for m in rec.kubernetes_manifests()
        if m["kind"] == "NetworkPolicy" and m["metadata"]["namespace"] == namespace and m["spec"].get("ingress")
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"platform:ingress.controller": "traefik"}, "platform:ingress.controller must be one of 'alb', 'nginx'"),
        ({"platform:ingress.nginx.rateLimitRps": 0}, "platform:ingress.nginx.rateLimitRps must be an integer"),
    ],
)
def test_an_unknown_controller_or_rate_limit_is_a_config_error_naming_the_key(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_stack("dev", overrides)


def test_alb_is_the_default_and_installs_no_nginx(recordings: dict[str, Recording]) -> None:
    rec = recordings["prod"]
    assert not [r for r in rec.of_type(RELEASE) if r.inputs.get("chart") == nginx.CHART.name]
    assert _inference_ingress(rec)["spec"]["ingressClassName"] == "alb"


@pytest.mark.parametrize("stack", STACKS)
def test_nginx_stacks_render_strictly_valid_manifests(stack: str, nginx_stacks: dict[str, Recording]) -> None:
    rec = nginx_stacks[stack]
    errors = []
    for manifest in rec.kubernetes_manifests():
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        for version in versions(rec):
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{version} {manifest['kind']}/{manifest['metadata']['name']}: {e.message}")
    assert not errors, "\n".join(errors)


def test_nginx_stacks_pass_checkov(nginx_stacks: dict[str, Recording], tmp_path: Path) -> None:
    for stack, rec in nginx_stacks.items():
        render(rec, tmp_path / stack)
    report = checkov(tmp_path)
    failed = [f"{c['check_id']} {c['file_path']}" for c in report.get("results", {}).get("failed_checks", [])]
    assert not failed, "\n".join(failed)
    assert report.get("summary", {}).get("passed", 0) > 0


@pytest.mark.parametrize("stack", STACKS)
def test_nginx_stacks_pass_the_policy_pack(stack: str, nginx_stacks: dict[str, Recording]) -> None:
    diagnostics = evaluate(nginx_stacks[stack])
    mandatory = [f"[{d.policy}] {d.urn}: {d.detail}" for d in diagnostics if d.level == "mandatory"]
    assert not mandatory, "\n".join(mandatory)
    assert not [d for d in diagnostics if d.unknown]


def test_the_controller_is_a_pinned_release_in_its_own_restricted_namespace(nginx_stacks: dict[str, Recording]) -> None:
    """Chart values.yaml@helm-chart-4.15.1: controller.allowSnippetAnnotations; the Service of type LoadBalancer
    takes controller.service.annotations and loadBalancerSourceRanges (templates/controller-service.yaml)."""
    rec = nginx_stacks["prod"]
    release = _release(rec)
    assert release["version"] == "4.15.1"
    assert release["repositoryOpts"]["repo"] == "https://kubernetes.github.io/ingress-nginx"
    assert release["namespace"] == nginx.NAMESPACE
    [namespace] = [
        m for m in rec.kubernetes_manifests() if m["kind"] == "Namespace" and m["metadata"]["name"] == "ingress-nginx"
    ]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    controller = release["values"]["controller"]
    assert controller["allowSnippetAnnotations"] is False
    assert controller["config"]["allow-snippet-annotations"] == "false"
    assert controller["ingressClassResource"]["name"] == "nginx"


@pytest.mark.parametrize(("stack", "protected"), [("dev", "false"), ("prod", "true")])
def test_the_nlb_is_internet_facing_with_ip_targets_tls_logs_and_protection_by_environment(
    stack: str, protected: str, nginx_stacks: dict[str, Recording]
) -> None:
    """LB controller v2.14.1 docs/guide/service/annotations.md: type external + nlb-target-type ip hand the Service
    to the controller; ssl-cert/ssl-ports make the 443 listener TLS; `attributes` takes the NLB attributes."""
    rec = nginx_stacks[stack]
    service = _release(rec)["values"]["controller"]["service"]
    annotations = service["annotations"]
    assert annotations[f"{NLB}type"] == "external"
    assert annotations[f"{NLB}nlb-target-type"] == "ip"
    assert annotations[f"{NLB}scheme"] == "internet-facing"
    assert annotations[f"{NLB}ssl-ports"] == "443"
    assert annotations[f"{NLB}ssl-cert"].startswith("arn:aws:acm:")
    attributes = dict(pair.split("=", 1) for pair in annotations[f"{NLB}attributes"].split(","))
    assert attributes["deletion_protection.enabled"] == protected
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"].startswith(f"mlp-{stack}-access-logs")
    # TLS ends on the NLB: no plain-HTTP listener, and 443 forwards to the controller's http port.
    assert service["enableHttp"] is False
    assert service["targetPorts"]["https"] == "http"
    assert service["loadBalancerSourceRanges"]


def test_source_ranges_come_from_ingress_inbound_cidrs() -> None:
    rec = run_stack("staging", {**NGINX, "platform:ingress.inboundCidrs": ["203.0.113.0/24"]})
    assert _release(rec)["values"]["controller"]["service"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]


def test_the_inference_ingress_routes_the_albs_paths_with_the_services_limits(
    nginx_stacks: dict[str, Recording], recordings: dict[str, Recording]
) -> None:
    """ingress-nginx controller-v1.15.1 internal/ingress/annotations/proxy (proxy-body-size, proxy-*-timeout)
    and ratelimit (limit-rps); the service refuses bodies over Settings.max_body_bytes (service/settings.py) and
    ends a request after Gunicorn's worker timeout (service/gunicorn.conf.py)."""
    ingress = _inference_ingress(nginx_stacks["prod"])
    alb = _inference_ingress(recordings["prod"])
    assert ingress["spec"]["ingressClassName"] == "nginx"
    paths = [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    alb_paths = [(p["path"], p["pathType"]) for rule in alb["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == alb_paths == list(PUBLIC_PATHS)
    annotations = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert int(annotations[f"{prefix}proxy-body-size"]) == Settings.model_fields["max_body_bytes"].default
    gunicorn = (ROOT / "service" / "gunicorn.conf.py").read_text()
    worker_timeout = int(re.search(r"^timeout = (\d+)$", gunicorn, re.M).group(1))  # type: ignore[union-attr]
    assert int(annotations[f"{prefix}proxy-read-timeout"]) > worker_timeout
    assert int(annotations[f"{prefix}proxy-send-timeout"]) > worker_timeout
    assert annotations[f"{prefix}limit-rps"] == "50"
    assert not [key for key in annotations if "snippet" in key]


def test_the_rate_limit_comes_from_config() -> None:
    rec = run_stack("dev", {**NGINX, "platform:ingress.nginx.rateLimitRps": 7})
    assert _inference_ingress(rec)["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-rps"] == "7"


def test_the_service_admits_only_the_controller_and_the_controller_only_the_nlb_subnets(
    nginx_stacks: dict[str, Recording],
) -> None:
    rec = nginx_stacks["prod"]
    public = {"10.30.128.0/20", "10.30.144.0/20", "10.30.160.0/20"}
    inference_sources = [
        peer
        for policy in _policies(rec, "inference")
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if any(p["port"] == 8000 for p in rule["ports"])
        and "namespaceSelector" in peer
        and peer["namespaceSelector"]["matchLabels"].get("kubernetes.io/metadata.name") != "monitoring"
    ]
    assert inference_sources == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {"matchLabels": nginx.CONTROLLER_LABELS},
        }
    ]
    assert not [
        peer
        for policy in _policies(rec, "inference")
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "ipBlock" in peer
    ], "behind NGINX no address block reaches the inference pods"
    [nlb] = [p for p in _policies(rec, "ingress-nginx") if p["metadata"]["name"].startswith("nlb-to-nginx")]
    assert nlb["spec"]["podSelector"]["matchLabels"] == nginx.CONTROLLER_LABELS
    [rule] = nlb["spec"]["ingress"]
    assert {peer["ipBlock"]["cidr"] for peer in rule["from"]} == public
    assert rule["ports"] == [{"port": nginx.HTTP_PORT, "protocol": "TCP"}]


def test_the_host_aliases_the_nlb_in_the_nlbs_canonical_zone(nginx_stacks: dict[str, Recording]) -> None:
    """terraform-provider-aws elbv2 hosted_zone_id_data_source.go: NLBs and ALBs have different canonical zones."""
    [record] = nginx_stacks["prod"].find("aws:route53/record:Record", "mlp-prod-inference-alias")
    assert record.inputs["aliases"][0]["zoneId"] == "Z26RNL4JYFTOTI"


# What the ingress layer is: the controller and its namespace, the Ingresses, the NetworkPolicies of the flows
# through the load balancer, and the host's alias to it.
INGRESS_LAYER = re.compile(
    r"platform:index:NginxController|kubernetes:networking.k8s.io/v1:Ingress::|ns-ingress-nginx$"
    r"|NetworkPolicy::.*(alb-to-inference|nginx)|aws:route53/record:Record::.*-inference-alias$"
)


def _by_urn(rec: Recording) -> dict[str, str]:
    return {r.urn: json.dumps(r.inputs, sort_keys=True, default=str) for r in rec.resources}


@pytest.mark.parametrize("stack", STACKS)
def test_switching_between_alb_and_nginx_touches_only_the_ingress_layer(
    stack: str, recordings: dict[str, Recording], nginx_stacks: dict[str, Recording]
) -> None:
    alb, ngx = _by_urn(recordings[stack]), _by_urn(nginx_stacks[stack])
    touched = {urn for urn in alb.keys() | ngx.keys() if alb.get(urn) != ngx.get(urn)}
    assert touched, "the switch must change something"
    outside = sorted(urn for urn in touched if not INGRESS_LAYER.search(urn))
    assert not outside, "switching the controller touched more than the ingress layer:\n" + "\n".join(outside)


def test_the_body_limit_constant_is_the_services() -> None:
    assert nginx.SERVICE_MAX_BODY_BYTES == Settings.model_fields["max_body_bytes"].default


def test_a_preview_on_an_nginx_stack_is_a_host_rule_on_the_shared_controller(
    nginx_stacks: dict[str, Recording],
) -> None:
    """No load balancer per pull request: no Release, an Ingress of class nginx for pr-<N>.<domain>, pods admitted
    from the shared controller only, and the host aliased to the hosting stack's NLB."""
    rec = run_stack(
        "preview",
        {**NGINX, "platform:preview.prNumber": PREVIEW_PR},
        references={qualified("dev"): nginx_stacks["dev"]},
    )
    assert not rec.of_type(RELEASE)
    ingress = _inference_ingress(rec)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert not [k for k in ingress["metadata"]["annotations"] if k.startswith("alb.ingress.kubernetes.io/")]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"].startswith(f"pr-{PREVIEW_PR}.")
    namespace = ingress["metadata"]["namespace"]
    sources = [
        peer for policy in _policies(rec, namespace) for rule in policy["spec"]["ingress"] for peer in rule["from"]
    ]
    assert {"ipBlock"} not in [set(peer) for peer in sources]
    [record] = rec.of_type("aws:route53/record:Record")
    assert record.inputs["aliases"][0]["zoneId"] == "Z26RNL4JYFTOTI"


def test_a_preview_configured_for_another_controller_than_its_base_stack_fails() -> None:
    """Checked on the base stack's previewIngress output; a base stack from before the key runs the ALB. (Called
    directly: a program that fails mid-run under the harness leaves its config to the next run.)"""
    assert _rate_limit({"controller": "nginx", "rateLimitRps": 9}, "nginx") == 9
    with pytest.raises(ValueError, match=re.escape("platform:ingress.controller must be the base stack's (alb)")):
        _rate_limit({"rateLimitRps": 9}, "nginx")
    with pytest.raises(ValueError, match=re.escape("must be the base stack's (nginx) in a preview stack (got 'alb')")):
        _rate_limit({"controller": "nginx", "rateLimitRps": 9}, "alb")


def test_the_log_bucket_admits_nlb_log_delivery_for_this_account_under_nlb_only(
    recordings: dict[str, Recording],
) -> None:
    """ELB guide, "Access logs for your Network Load Balancer", bucket requirements: delivery.logs.amazonaws.com
    writes <prefix>/AWSLogs/<account>/... with the bucket-owner-full-control ACL and reads the bucket's ACL. The
    statements are on every stack, so switching the controller never changes the bucket policy."""
    rec = recordings["prod"]
    [policy] = [r for r in rec.of_type("aws:s3/bucketPolicy:BucketPolicy") if "access-logs" in r.name]
    statements = {s.get("Sid"): s for s in json.loads(policy.inputs["policy"])["Statement"]}
    write, acl = statements["NlbAccessLogsWrite"], statements["NlbAccessLogsAclCheck"]
    assert write["Principal"] == acl["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Resource"].endswith(f"/{STORAGE_NLB_PREFIX}/*/AWSLogs/123456789012/*")
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert acl["Action"] == "s3:GetBucketAcl"
    assert (
        write["Condition"]["StringEquals"]["aws:SourceAccount"] == acl["Condition"]["StringEquals"]["aws:SourceAccount"]
    )
