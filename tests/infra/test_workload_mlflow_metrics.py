"""MLflow's metrics for Prometheus: the metrics listener beside the server (images/mlflow/metrics_listener.py,
infra/mlflow_metrics.py), its Service port, ServiceMonitor and NetworkPolicy, in a stack with a Prometheus.

Sources: MLflow 3.17.2 (github.com/mlflow/mlflow@v3.17.2) mlflow/server/__init__.py (`--expose-prometheus <dir>`
becomes `prometheus_multiproc_dir`, the app creates it) and mlflow/server/prometheus_exporter.py
(prometheus_flask_exporter's GunicornInternalPrometheusMetrics, prefix `mlflow`); basic auth fails closed on
/metrics (mlflow/server/auth/__init__.py `MLFLOW_BASIC_AUTH_FAIL_CLOSED`). prometheus_client
(github.com/prometheus/client_python docs/content/multiprocess/_index.md): a MultiProcessCollector in a fresh
registry sums the directory's files.
Kubernetes "Sidecar Containers" (kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/, stable in 1.33): an
init container with restartPolicy Always keeps running beside the app containers. NetworkPolicy
(kubernetes.io/docs/concepts/services-networking/network-policies/): a pod selected by an Ingress policy admits only
what some policy's rule admits. ServiceMonitor (prometheus-operator Documentation/api-reference/api.md, Endpoint.port:
the name of a Service port).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import kubernetes_validate
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra import kube, mlflow
from infra.mlflow_metrics import METRICS_PORT
from tests.infra.harness import Recording, run_stack
from tests.infra.k8s import Manifest, arg_value, of_kind, one, pod_template, selects
from tests.infra.test_workload_mlflow_image import (
    IMAGE,
    SERVICE_HOST,
    dockerfile_copies,
    free_port,
    start_recorded_server,
)

INSTALL = {"platform:monitoring.install": "true", "platform:monitoring.serviceMonitor": "true"}
LISTENER = "metrics-listener"


@pytest.fixture(scope="module")
def monitored() -> Recording:
    return run_stack("dev", INSTALL)


def _pod(rec: Recording) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(one(rec.kubernetes_manifests(), "Deployment", "mlflow", "mlflow"))["spec"]
    return spec


def _listener(rec: Recording) -> dict[str, Any]:
    (container,) = [c for c in _pod(rec).get("initContainers") or [] if c["name"] == LISTENER]
    return container


def test_the_listener_is_a_restricted_sidecar_reading_the_servers_directory_read_only(monitored: Recording) -> None:
    pod = _pod(monitored)
    (server,) = pod["containers"]
    listener = _listener(monitored)
    assert listener["restartPolicy"] == "Always", "a native sidecar keeps running beside the server"
    assert listener["image"] == server["image"]
    assert listener["command"] == ["python", dockerfile_copies()["metrics_listener.py"]]
    directory = arg_value(listener["args"], "--directory")
    assert directory == arg_value(server["args"], "--expose-prometheus")
    (mount,) = [m for m in listener["volumeMounts"] if directory.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume
    assert any(m["name"] == mount["name"] and not m.get("readOnly") for m in server["volumeMounts"])
    assert arg_value(listener["args"], "--host") == "0.0.0.0"
    assert listener["ports"] == [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
    # A broken listener must not take MLflow out of its Service: a sidecar's readiness counts toward the pod's.
    assert "readinessProbe" not in listener and "startupProbe" not in listener
    assert listener["livenessProbe"]["tcpSocket"] == {"port": "metrics"}
    sc = listener["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(listener["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}
    assert not listener.get("env", []) or {e["name"] for e in listener["env"]} == {"MLFLOW_DISABLE_TELEMETRY"}
    # It starts only once the schema check has passed: a pod that will not serve exports nothing.
    assert [c["name"] for c in pod["initContainers"]][-1] == LISTENER


def test_the_deployment_and_service_validate_strictly_with_the_sidecar(monitored: Recording) -> None:
    ms = monitored.kubernetes_manifests()
    version = monitored.config["platform:cluster.version"]
    major, minor = version.split(".")
    for manifest in (one(ms, "Deployment", "mlflow", "mlflow"), one(ms, "Service", "mlflow", "mlflow")):
        for v in (version, f"{major}.{int(minor) + 1}"):
            kubernetes_validate.validate(manifest, v, strict=True)


def test_the_service_exposes_the_metrics_port_and_the_service_monitor_scrapes_it(monitored: Recording) -> None:
    ms = monitored.kubernetes_manifests()
    service = one(ms, "Service", "mlflow", "mlflow")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["metrics"]["port"] == METRICS_PORT and ports["metrics"]["targetPort"] == "metrics"
    assert ports["http"]["port"] == mlflow.PORT
    monitor = one(ms, "ServiceMonitor", "mlflow", "mlflow")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics"), "the listener, never the API port"


def _admitted(ms: list[Manifest], namespace: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(peer, ports) of every ingress rule of every policy in `namespace` that selects the MLflow server's pods."""
    found = []
    for policy in of_kind(ms, "NetworkPolicy", namespace):
        if not selects(policy["spec"]["podSelector"].get("matchLabels") or {}, mlflow.LABELS):
            continue
        for rule in policy["spec"].get("ingress") or []:
            found += [(peer, rule["ports"]) for peer in rule["from"]]
    return found


def test_only_prometheus_namespace_reaches_the_metrics_port_and_only_that_port(monitored: Recording) -> None:
    admitted = _admitted(monitored.kubernetes_manifests(), "mlflow")
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    to_metrics = [peer for peer, ports in admitted if {"port": METRICS_PORT, "protocol": "TCP"} in ports]
    assert to_metrics == [{"namespaceSelector": {"matchLabels": monitoring}}]
    from_prometheus = [
        ports for peer, ports in admitted if peer.get("namespaceSelector", {}).get("matchLabels") == monitoring
    ]
    assert from_prometheus == [[{"port": METRICS_PORT, "protocol": "TCP"}]], "Prometheus must not reach the API"
    # The API port keeps exactly its clients (here the inference pods and the bootstrap Job).
    to_api = [peer for peer, ports in admitted if {"port": mlflow.PORT, "protocol": "TCP"} in ports]
    assert monitoring not in [p.get("namespaceSelector", {}).get("matchLabels") for p in to_api]
    assert to_api == [peer for peer, ports in _admitted(run_stack("dev").kubernetes_manifests(), "mlflow")]


def test_no_listener_port_or_policy_without_a_prometheus(recordings: dict[str, Recording]) -> None:
    ms = recordings["dev"].kubernetes_manifests()
    assert not [c for c in _pod(recordings["dev"]).get("initContainers") or [] if c["name"] == LISTENER]
    assert [p["name"] for p in one(ms, "Service", "mlflow", "mlflow")["spec"]["ports"]] == ["http"]
    admitted = _admitted(ms, "mlflow")
    assert admitted and all({"port": METRICS_PORT, "protocol": "TCP"} not in ports for _, ports in admitted)


def test_scrape_annotations_name_the_listener_only_for_an_annotation_based_scraper(monitored: Recording) -> None:
    assert not (pod_template(one(monitored.kubernetes_manifests(), "Deployment", "mlflow", "mlflow"))["metadata"]
                .get("annotations"))  # fmt: skip
    rec = run_stack(
        "dev", {"platform:monitoring.scrapeAnnotations": "true", "platform:monitoring.prometheusNamespace": "obs"}
    )
    annotations = pod_template(one(rec.kubernetes_manifests(), "Deployment", "mlflow", "mlflow"))["metadata"][
        "annotations"
    ]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9102",
        "prometheus.io/path": "/metrics",
    }
    assert _listener(rec)["ports"][0]["containerPort"] == 9102


# ------------------------------------------------------------------------------------------- the real thing


def _get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, headers={"Host": SERVICE_HOST}, timeout=10, **kwargs)


def _requests_by_status(text: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mlflow_http_request_total":
                counts[sample.labels["status"]] = counts.get(sample.labels["status"], 0) + sample.value
    return counts


@pytest.fixture(scope="module")
def running(
    monitored: Recording, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, tuple[str, str]]]:
    """The recorded server container and the recorded listener container, run on loopback with the pod's emptyDir
    as one temporary directory: (the server's URL, the listener's URL, the admin's credentials)."""
    tmp = tmp_path_factory.mktemp("mlflow-metrics")
    started = start_recorded_server(monitored, tmp)
    listener = _listener(monitored)
    args = list(listener["args"])
    args[args.index("--directory") + 1] = args[args.index("--directory") + 1].replace(kube.TMP_MOUNT, str(tmp), 1)
    args[args.index("--host") + 1] = "127.0.0.1"
    port = free_port()
    args[args.index("--port") + 1] = str(port)
    script = {v: k for k, v in dockerfile_copies().items()}[listener["command"][1]]
    # The container's environment: only what the pod gives it (no multiprocess variable of the test's own).
    env = {"PATH": os.environ["PATH"], **{e["name"]: e["value"] for e in listener.get("env", [])}}
    log = (tmp / "listener.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(IMAGE / script), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        server = started.wait_healthy()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/metrics", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp / "listener.log").read_text()
            assert time.monotonic() < deadline, (tmp / "listener.log").read_text()
            time.sleep(0.2)
        yield server.url, url, server.admin
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        log.close()
        started.stop()


@pytest.mark.slow
def test_the_listener_counts_the_servers_requests_without_credentials(
    running: tuple[str, str, tuple[str, str]],
) -> None:
    server, listener, admin = running
    before = _requests_by_status(httpx.get(f"{listener}/metrics", timeout=10).text)
    search = f"{server}/api/2.0/mlflow/experiments/search?max_results=5"
    for _ in range(5):
        assert _get(search, auth=admin).status_code == 200
    for _ in range(3):
        assert _get(search).status_code == 401
    # The server's own /metrics stays the admin's alone (basic auth fails closed on it).
    assert _get(f"{server}/metrics").status_code == 401
    scraped = httpx.get(f"{listener}/metrics", timeout=10)
    assert scraped.status_code == 200
    after = _requests_by_status(scraped.text)
    assert after.get("200", 0) - before.get("200", 0) >= 5
    assert after.get("401", 0) - before.get("401", 0) >= 4
    # The same sum the admin reads from the server itself (its own /metrics request is not counted there).
    as_admin = _requests_by_status(_get(f"{server}/metrics", auth=admin).text)
    assert as_admin == _requests_by_status(httpx.get(f"{listener}/metrics", timeout=10).text)


@pytest.mark.slow
def test_the_listener_serves_get_metrics_and_nothing_else(running: tuple[str, str, tuple[str, str]]) -> None:
    _, listener, admin = running
    for path in ("/", "/health", "/metrics/", "/api/2.0/mlflow/experiments/search", "/static-files/index.html"):
        answer = httpx.get(f"{listener}{path}", auth=admin, timeout=10)
        assert answer.status_code == 404, path
        assert "mlflow_http_request" not in answer.text
    assert httpx.post(f"{listener}/metrics", content=b"x", timeout=10).status_code == 405
    assert (
        httpx.post(f"{listener}/api/2.0/mlflow/experiments/create", json={"name": "x"}, timeout=10).status_code == 404
    )
    assert httpx.get(f"{listener}/metrics?name[]=x", timeout=10).status_code == 200
