"""Monitoring of the inference service: kube-prometheus-stack when this stack installs it, and the objects the
Prometheus Operator and Grafana pick up (ServiceMonitor, PrometheusRule, dashboard ConfigMaps).

`monitoring.install` installs the official chart (pinned) into `monitoring`, a namespace labelled for Pod
Security Admission `restricted`: node-exporter stays off (it needs the host's network, PID namespace and paths),
Grafana's root init container too. Prometheus and Grafana keep their data on persistent volumes; Grafana stays
internal (ClusterIP; `kubectl port-forward`, docs/observability.md). With `monitoring.operatorPresent` instead,
the cluster's own operator gets the same objects; its Prometheus must select `monitoring.selectorLabel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import alerts, dashboards, inference, kube, mlflow, mlflow_metrics, redis_exporter
from infra.addons import Chart
from infra.config import MonitoringConfig
from infra.namespaces import pod_security_labels

# https://github.com/prometheus-community/helm-charts/tree/kube-prometheus-stack-88.5.3/charts/kube-prometheus-stack
KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3")
RELEASE = "kube-prometheus-stack"
SCRAPE_INTERVAL = "30s"
# The Grafana sidecar of the chart loads ConfigMaps carrying this label, from every namespace
# (values.yaml@kube-prometheus-stack-88.5.3: grafana.sidecar.dashboards.label / labelValue / searchNamespace: ALL).
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
GRAFANA_ADMIN_SECRET = "grafana-admin"


@dataclass(frozen=True)
class MonitoringArgs:
    config: MonitoringConfig
    kubernetes_version: pulumi.Input[str]
    inference_namespace: pulumi.Input[str]
    mlflow_namespace: pulumi.Input[str]
    champion_alias: str
    drift_threshold: float


def chart_values(cfg: MonitoringConfig) -> dict[str, Any]:
    """The chart's values: restricted pods, persistent storage, retention, selectors on our label."""
    selector = {"matchLabels": dict(cfg.selector_labels)}
    restricted_container = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }

    def volume(size: str) -> dict[str, Any]:
        return {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}

    return {
        "crds": {"enabled": True},
        # hostNetwork, hostPID and hostPath volumes: forbidden in a `restricted` namespace.
        "nodeExporter": {"enabled": False},
        "prometheus": {
            "prometheusSpec": {
                "retention": cfg.retention,
                "scrapeInterval": SCRAPE_INTERVAL,
                "storageSpec": {"volumeClaimTemplate": {"spec": volume(cfg.storage_size)}},
                # Select by our label (not the chart's release-derived default), in every namespace.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "serviceMonitorSelector": selector,
                "serviceMonitorNamespaceSelector": {},
                "ruleSelectorNilUsesHelmValues": False,
                "ruleSelector": selector,
                "ruleNamespaceSelector": {},
            }
        },
        "grafana": {
            "service": {"type": "ClusterIP"},
            "ingress": {"enabled": False},
            "persistence": {"enabled": True, "size": cfg.grafana_storage_size},
            # Its init container runs as root to chown the volume; fsGroup does that job under `restricted`.
            "initChownData": {"enabled": False},
            "containerSecurityContext": restricted_container,
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": "grafana_dashboard",
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                }
            },  # fmt: skip
        },
    }


@dataclass(frozen=True)
class ScrapeTarget:
    """A Service whose pods Prometheus scrapes: its name and component (the object's labels), the pod labels the
    ServiceMonitor selects it by, and the path and named Service port it scrapes."""

    name: str
    component: str
    selector: dict[str, str]
    path: str
    namespace: pulumi.Input[str]
    port: str = "http"


def service_monitor(
    resource_name: str, target: ScrapeTarget, cfg: MonitoringConfig, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """A ServiceMonitor the installed (or brought) Prometheus selects by `cfg.selector_labels`."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata={
            "name": target.name,
            "namespace": target.namespace,
            "labels": {**kube.object_labels(target.name, target.component), **dict(cfg.selector_labels)},
        },
        spec={
            "selector": {"matchLabels": target.selector},
            "endpoints": [{"port": target.port, "path": target.path, "interval": SCRAPE_INTERVAL, "scheme": "http"}],
        },
        opts=opts,
    )


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack (optional); the ServiceMonitors of the inference service, MLflow's metrics listener and
    the Redis exporter; the PrometheusRule and dashboards."""

    namespace: str | None

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Monitoring", name, None, opts)
        cfg = args.config
        child = kube.child_options(self, opts)
        self.namespace = cfg.prometheus_namespace if cfg.install else None
        crds: list[pulumi.Resource] = []
        if cfg.install and self.namespace is not None:
            crds.append(self._install(name, args, self.namespace, child))
        if cfg.operator_objects:
            # The custom resources need the operator's CRDs: installed by the release (_install), or already there.
            after_crds = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=crds))
            self._operator_objects(name, args, after_crds, child)
        self.register_outputs({"namespace": self.namespace})

    def _install(
        self, name: str, args: MonitoringArgs, namespace: str, child: pulumi.ResourceOptions
    ) -> k8s.helm.v3.Release:
        """kube-prometheus-stack in a namespace of its own, with Grafana's admin login as a Secret; the release,
        which installs the operator's CRDs."""
        cfg = args.config
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={
                "name": namespace,
                "labels": pulumi.Output.from_input(args.kubernetes_version).apply(pod_security_labels),
            },
            opts=child,
        )
        in_ns = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[ns]))
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=child)
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": namespace},
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=in_ns,
        )
        chart = KUBE_PROMETHEUS_STACK
        return k8s.helm.v3.Release(
            f"{name}-{chart.name}",
            name=RELEASE,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            values=chart_values(cfg),
            opts=pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[ns, admin])),
        )

    def _operator_objects(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions, child: pulumi.ResourceOptions
    ) -> None:
        """The ServiceMonitors of the service, MLflow's metrics listener and the Redis exporter, the PrometheusRule of
        alerts/rules, and the Grafana dashboards; `opts` wait for the operator's CRDs."""
        cfg = args.config
        labels = {**kube.object_labels(inference.NAME, "server"), **dict(cfg.selector_labels)}
        namespace = args.inference_namespace
        targets = {
            "service-monitor": ScrapeTarget(
                inference.NAME, "server", inference.LABELS, inference.METRICS_PATH, namespace
            ),
            "redis-exporter-service-monitor": ScrapeTarget(
                redis_exporter.NAME, "exporter", redis_exporter.LABELS, redis_exporter.METRICS_PATH, namespace
            ),
            # MLflow's metrics listener (infra/mlflow_metrics.py), never its API port.
            "mlflow-service-monitor": ScrapeTarget(
                mlflow.NAME,
                "tracking-server",
                mlflow.LABELS,
                mlflow_metrics.METRICS_PATH,
                args.mlflow_namespace,
                port=mlflow_metrics.METRICS_PORT_NAME,
            ),
        }
        for suffix, target in targets.items():
            service_monitor(f"{name}-{suffix}", target, cfg, opts)
        # MLflow's series: its metrics listener's, scraped wherever a ServiceMonitor is (mlflow_metrics.py).
        scope = pulumi.Output.all(namespace, args.mlflow_namespace).apply(
            lambda ns: alerts.rule_groups(
                alerts.AlertScope(
                    f'namespace="{ns[0]}"', args.champion_alias, args.drift_threshold, f'namespace="{ns[1]}"'
                )
            )
        )
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": inference.NAME, "namespace": namespace, "labels": labels},
            spec={"groups": scope},
            opts=opts,
        )
        boards = pulumi.Output.from_input(namespace).apply(lambda ns: dashboards.dashboards(f'namespace="{ns}"'))
        k8s.core.v1.ConfigMap(
            f"{name}-dashboards",
            metadata={
                "name": "inference-dashboards",
                "namespace": namespace,
                "labels": {**kube.object_labels(inference.NAME, "dashboards"), **DASHBOARD_LABEL},
            },
            data=boards,
            opts=child,
        )
