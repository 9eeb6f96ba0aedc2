"""MLflow's metrics for Prometheus: the server's multiprocess directory, and the metrics listener beside it.

`mlflow server --expose-prometheus <dir>` serves /metrics (prometheus-flask-exporter) from its own app and port, its
workers' counts shared through prometheus_client's multiprocess files in <dir> on the pod's emptyDir. MLflow
3.17.2's basic auth fails closed on a route without a permission validator (mlflow/server/auth/__init__.py
`MLFLOW_BASIC_AUTH_FAIL_CLOSED`, default on), so only the admin may read the server's own /metrics, and Prometheus
is not given the admin's password: it scrapes the metrics listener instead (images/mlflow/metrics_listener.py), a
sidecar that sums the same files and serves GET /metrics only, on METRICS_PORT, which the NetworkPolicies admit from
Prometheus alone (infra/workloads.py `flows`); the ServiceMonitor is infra/monitoring.py's.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import kube
from infra.config import MonitoringConfig, Resources

METRICS_PATH = "/metrics"
METRICS_DIR = f"{kube.TMP_MOUNT}/prometheus"
METRICS_PORT = 9102
METRICS_PORT_NAME = "metrics"
METRICS_LISTENER = "/opt/mlflow/metrics_listener.py"
# One Python process reading a few small files per scrape: small, fixed bounds.
METRICS_LISTENER_RESOURCES = Resources(
    cpu_request="10m",
    cpu_limit="200m",
    memory_request="48Mi",
    memory_limit="96Mi",
    ephemeral_storage_request="8Mi",
    ephemeral_storage_limit="32Mi",
)


def metrics_listener(image: pulumi.Input[str]) -> k8s.core.v1.ContainerArgsDict:
    """The server's metrics on METRICS_PORT, for Prometheus: a native sidecar (an init container that keeps running,
    restartPolicy Always; Kubernetes 1.29+, "Sidecar Containers") reading the server's multiprocess directory from
    the shared emptyDir, mounted read-only. As a sidecar it starts before the server and stops after it, so the
    last scrapes of a draining pod still answer. It holds no secret and opens no connection."""
    return {
        "name": "metrics-listener",
        "image": image,
        "image_pull_policy": "IfNotPresent",
        "restart_policy": "Always",
        "command": ["python", METRICS_LISTENER],
        "args": ["--directory", METRICS_DIR, "--host", "0.0.0.0", "--port", str(METRICS_PORT)],
        "ports": [{"name": METRICS_PORT_NAME, "container_port": METRICS_PORT, "protocol": "TCP"}],
        # No readiness probe: a sidecar's readiness counts toward the pod's ("Sidecar Containers"), and a listener
        # that cannot read the files must cost a scrape (Prometheus's `up` drops), not the registry its Service.
        # Alive while it accepts connections, so a slow server start does not restart it.
        "liveness_probe": {
            "tcp_socket": {"port": METRICS_PORT_NAME},
            "period_seconds": 20,
            "failure_threshold": 3,
            "timeout_seconds": 3,
            "success_threshold": 1,
        },
        "resources": kube.resources(METRICS_LISTENER_RESOURCES),
        "security_context": kube.container_security_context(),
        "volume_mounts": [{**kube.tmp_mount(), "read_only": True}],
    }


def scrape_annotations(monitoring: MonitoringConfig | None) -> dict[str, str]:
    """The `prometheus.io/*` pod annotations, for an annotation-based scraper only: the listener's port."""
    if monitoring is None or not monitoring.scrape_annotations:
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT), "prometheus.io/path": METRICS_PATH}
