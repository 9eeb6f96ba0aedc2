"""The workloads with every optional feature configured (certificate, access logs, WAF, MLflow UI, monitoring,
challenger/shadow/A-B, drift)."""

from __future__ import annotations

import pytest

from infra import alerts
from tests.infra.harness import ACCOUNT_ID, FORK_ZONE, REGION, Recording, run_stack
from tests.infra.k8s import arg_value, one, selects
from tests.infra.workload_support import (
    ingress_annotations,
    manifests,
    mlflow_container,
)

# ----------------------------------------------------------------------------------- optional features

# A certificate of the harness's account, as `aws acm list-certificates` would show one brought by the stack.
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
ALL_OPTIONS = {
    "platform:ingress.certificateArn": CERTIFICATE,
    "platform:ingress.host": f"api.{FORK_ZONE}",
    "platform:ingress.accessLogsBucket": "mlp-staging-alb-logs",
    "platform:ingress.wafAclArn": (
        f"arn:aws:wafv2:{REGION}:{ACCOUNT_ID}:regional/webacl/mlp/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    ),
    "platform:ingress.inboundCidrs": ["203.0.113.0/24", "198.51.100.0/24"],
    "platform:mlflow.ingressEnabled": "true",
    "platform:mlflow.ingressHost": "mlflow.internal.example.com",
    "platform:monitoring.serviceMonitor": "true",
    "platform:monitoring.operatorPresent": "true",
    "platform:monitoring.prometheusNamespace": "monitoring",
    "platform:challenger.alias": "challenger",
    "platform:shadow.fraction": "0.25",
    "platform:ab.weights": "champion=90,challenger=10",
    "platform:drift.threshold": "0.3",
}


@pytest.fixture(scope="module")
def all_options() -> Recording:
    return run_stack("staging", ALL_OPTIONS)


def test_with_a_certificate_the_alb_serves_tls13_and_redirects_http(all_options: Recording) -> None:
    a = ingress_annotations(all_options)
    assert a["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    assert a["alb.ingress.kubernetes.io/certificate-arn"] == ALL_OPTIONS["platform:ingress.certificateArn"]
    assert a["alb.ingress.kubernetes.io/ssl-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert a["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert not any(w.startswith("ingress.") for w in all_options.warnings)
    assert all_options.exports["inferenceUrl"] == f"https://api.{FORK_ZONE}"
    (rule,) = one(manifests(all_options), "Ingress", "inference", "inference")["spec"]["rules"]
    assert rule["host"] == f"api.{FORK_ZONE}"
    # Given a certificate, the stack issues none, and still names the host in its zone.
    assert not all_options.find("aws:acm/certificate:Certificate")
    (alias,) = all_options.find("aws:route53/record:Record")
    assert alias.inputs["name"] == f"api.{FORK_ZONE}" and alias.inputs["type"] == "A"


def test_access_logs_waf_and_inbound_cidrs_come_from_config(all_options: Recording) -> None:
    a = ingress_annotations(all_options)
    attributes = dict(kv.split("=", 1) for kv in a["alb.ingress.kubernetes.io/load-balancer-attributes"].split(","))
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == "mlp-staging-alb-logs"
    assert attributes["access_logs.s3.prefix"] == "alb/inference"
    assert a["alb.ingress.kubernetes.io/wafv2-acl-arn"] == ALL_OPTIONS["platform:ingress.wafAclArn"]
    assert a["alb.ingress.kubernetes.io/inbound-cidrs"] == "203.0.113.0/24,198.51.100.0/24"


def test_mlflow_ui_ingress_is_internal_and_vpc_only(all_options: Recording) -> None:
    ingress = one(manifests(all_options), "Ingress", "mlflow", "mlflow")
    a = ingress["metadata"]["annotations"]
    assert a["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert a["alb.ingress.kubernetes.io/inbound-cidrs"] == "10.20.0.0/16"
    assert a["alb.ingress.kubernetes.io/healthcheck-path"] == "/health"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "mlflow.internal.example.com"
    args = mlflow_container(all_options)["args"]
    assert arg_value(args, "--allowed-hosts").split(",")[-1] == "mlflow.internal.example.com"
    assert arg_value(args, "--cors-allowed-origins") == "http://mlflow.internal.example.com"
    assert any(w.startswith("mlflow.ingressCertificateArn is not set") for w in all_options.warnings)


def test_service_monitor_scrapes_the_service_metrics_port(all_options: Recording) -> None:
    ms = manifests(all_options)
    monitor = one(ms, "ServiceMonitor", "inference", "inference")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = one(ms, "Service", "inference", "inference")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_challenger_shadow_ab_and_drift_settings_reach_the_service(all_options: Recording) -> None:
    ms = manifests(all_options)
    (source,) = one(ms, "Deployment", "inference", "inference")["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    settings = one(ms, "ConfigMap", source["configMapRef"]["name"], "inference")["data"]
    assert (settings["SERVING_CHALLENGER_ALIAS"], settings["SERVING_SHADOW_FRACTION"]) == ("challenger", "0.25")
    assert (settings["SERVING_AB_WEIGHTS"], settings["SERVING_DRIFT_THRESHOLD"]) == ("champion=90,challenger=10", "0.3")


def test_prometheus_rule_carries_the_alert_rules_scoped_to_the_service_namespace(all_options: Recording) -> None:
    """The cluster's rules are infra/alerts.py's, which promtool tests (tests/infra/test_alerts.py)."""
    rule = one(manifests(all_options), "PrometheusRule", "inference", "inference")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alias = all_options.config["platform:inference.modelAlias"]
    scope = alerts.AlertScope('namespace="inference"', alias, 0.3, mlflow_matcher='namespace="mlflow"')
    assert rule["spec"]["groups"] == alerts.rule_groups(scope)
    drift = next(r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == "InferenceInputDrift")
    assert drift["expr"] == 'max by (feature) (serving_drift_psi{namespace="inference"}) > 0.3', "drift.threshold"


def test_without_monitoring_there_is_no_prometheus_rule(recording: Recording) -> None:
    assert recording.config.get("platform:monitoring.serviceMonitor") in (False, "false")
    assert not [m for m in manifests(recording) if m["kind"] in ("PrometheusRule", "ServiceMonitor")]
