"""Monitoring in the cluster (infra/monitoring.py): kube-prometheus-stack installed or brought, and the objects
its operator and Grafana load.

Chart facts are from kube-prometheus-stack values.yaml at tag kube-prometheus-stack-88.5.3
(github.com/prometheus-community/helm-charts): `serviceMonitorSelectorNilUsesHelmValues` / `ruleSelector...`
(true: select only the release's own label), the Grafana sidecar's `grafana_dashboard: "1"` label searched in
ALL namespaces, and node-exporter's hostNetwork/hostPID (forbidden by Pod Security `restricted`,
https://kubernetes.io/docs/concepts/security/pod-security-standards/).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import alerts, dashboards
from infra.config import ConfigError
from infra.monitoring import KUBE_PROMETHEUS_STACK
from tests.infra.harness import Recording, run_stack
from tests.infra.k8s import Manifest, arg_value, one, pod_template, selects

RELEASE = "kubernetes:helm.sh/v3:Release"
INSTALL = {
    "platform:monitoring.install": "true",
    "platform:monitoring.serviceMonitor": "true",
    "platform:monitoring.retention": "30d",
    "platform:monitoring.storageSize": "100Gi",
    "platform:monitoring.selectorLabel": "prometheus=platform",
}


@pytest.fixture(scope="module")
def installed() -> Recording:
    return run_stack("prod", INSTALL)


def release(rec: Recording) -> Any:
    (r,) = [r for r in rec.find(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]
    return r


def test_installs_the_pinned_official_chart_into_a_restricted_monitoring_namespace(installed: Recording) -> None:
    r = release(installed)
    assert (r.inputs["version"], r.inputs["repositoryOpts"]["repo"]) == (
        KUBE_PROMETHEUS_STACK.version,
        "https://prometheus-community.github.io/helm-charts",
    )
    assert r.inputs["namespace"] == "monitoring"
    ns = one(installed.kubernetes_manifests(), "Namespace", "monitoring")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    values = r.inputs["values"]
    assert values["nodeExporter"]["enabled"] is False, "node-exporter needs the host's network and PID namespace"
    assert values["grafana"]["initChownData"]["enabled"] is False, "a root init container breaks `restricted`"


def test_storage_and_retention_come_from_config_and_grafana_stays_internal(installed: Recording) -> None:
    values = release(installed).inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "100Gi"
    grafana = values["grafana"]
    assert grafana["service"]["type"] == "ClusterIP" and grafana["ingress"]["enabled"] is False
    assert grafana["persistence"]["enabled"] is True
    admin = one(installed.kubernetes_manifests(), "Secret", grafana["admin"]["existingSecret"], "monitoring")
    assert admin["stringData"]["admin-password"], "Grafana's admin password is generated, not the chart's default"


def test_the_installed_prometheus_selects_our_service_monitor_and_rules(installed: Recording) -> None:
    spec = release(installed).inputs["values"]["prometheus"]["prometheusSpec"]
    ms = installed.kubernetes_manifests()
    monitor = one(ms, "ServiceMonitor", "inference", "inference")
    rule = one(ms, "PrometheusRule", "inference", "inference")
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False and spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["serviceMonitorSelector"]["matchLabels"] == {"prometheus": "platform"}
    assert selects(spec["serviceMonitorSelector"]["matchLabels"], monitor["metadata"]["labels"])
    assert selects(spec["ruleSelector"]["matchLabels"], rule["metadata"]["labels"])
    assert spec["serviceMonitorNamespaceSelector"] == spec["ruleNamespaceSelector"] == {}


def test_operator_objects_wait_for_the_chart_that_installs_their_crds(installed: Recording) -> None:
    chart = release(installed)
    for kind in ("ServiceMonitor", "PrometheusRule"):
        crs = [r for r in installed if r.type == f"kubernetes:monitoring.coreos.com/v1:{kind}"]
        assert crs and all(installed.depends_on(cr, chart) for cr in crs), kind
    inference = installed.one("kubernetes:apps/v1:Deployment", "mlp-prod-inference-deployment")
    assert not installed.depends_on(inference, chart), "the service must not wait minutes for the chart"


def test_dashboards_ship_as_configmaps_the_grafana_sidecar_loads(installed: Recording) -> None:
    cm = one(installed.kubernetes_manifests(), "ConfigMap", "inference-dashboards", "inference")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"] == dashboards.dashboards('namespace="inference"')
    for text in cm["data"].values():
        assert json.loads(text)["panels"]


def test_the_rule_carries_the_alerts_scoped_to_the_service_namespace(installed: Recording) -> None:
    rule = one(installed.kubernetes_manifests(), "PrometheusRule", "inference", "inference")
    alias = installed.config["platform:inference.modelAlias"]
    threshold = float(installed.config["platform:drift.threshold"])
    scope = alerts.AlertScope('namespace="inference"', alias, threshold, mlflow_matcher='namespace="mlflow"')
    assert rule["spec"]["groups"] == alerts.rule_groups(scope)


def test_only_the_monitoring_namespace_may_scrape_the_service_metrics_port(installed: Recording) -> None:
    ms = installed.kubernetes_manifests()
    (policy,) = [
        m for m in ms if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "prometheus-to-inference-ingress"
    ]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_brought_operator_gets_the_objects_and_nothing_is_installed() -> None:
    rec = run_stack(
        "staging",
        {
            "platform:monitoring.operatorPresent": "true",
            "platform:monitoring.serviceMonitor": "true",
            "platform:monitoring.prometheusNamespace": "observability",
        },
    )
    assert not [r for r in rec.find(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]
    ms = rec.kubernetes_manifests()
    assert not [m for m in ms if m["kind"] == "Namespace" and m["metadata"]["name"] == "monitoring"]
    monitor: Manifest = one(ms, "ServiceMonitor", "inference", "inference")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_a_service_monitor_without_the_operator_is_a_config_error() -> None:
    """Without the CRDs `pulumi up` would fail late with "no matches for kind ServiceMonitor"."""
    with pytest.raises(ConfigError, match="monitoring.install .* or monitoring.operatorPresent"):
        run_stack("dev", {"platform:monitoring.serviceMonitor": "true", "platform:monitoring.prometheusNamespace": "m"})


def test_retention_defaults_by_environment() -> None:
    """Unset, dev keeps 3 days (a working session), prod 30 (a release to compare with); prod's is set above."""
    rec = run_stack("dev", {"platform:monitoring.install": "true"})
    assert release(rec).inputs["values"]["prometheus"]["prometheusSpec"]["retention"] == "3d"
    assert not [m for m in rec.kubernetes_manifests() if m["kind"] == "ServiceMonitor"], "serviceMonitor is off"


def test_mlflow_serves_metrics_from_a_multiprocess_directory_on_its_emptydir(installed: Recording) -> None:
    """`mlflow server --expose-prometheus <dir>` (mlflow/server/__init__.py@v3.17.2: the directory becomes
    prometheus_multiproc_dir and must be writable; the root filesystem is read-only)."""
    pod = pod_template(one(installed.kubernetes_manifests(), "Deployment", "mlflow", "mlflow"))["spec"]
    (container,) = pod["containers"]
    directory = arg_value(container["args"], "--expose-prometheus")
    (tmp,) = [m for m in container["volumeMounts"] if directory.startswith(m["mountPath"] + "/")]
    assert any(v["name"] == tmp["name"] and "emptyDir" in v for v in pod["volumes"])
