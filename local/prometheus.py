"""Prometheus, the Redis exporter and MLflow's metrics listener of the local edition (Debian's `prometheus` and
`prometheus-redis-exporter`, images/mlflow/metrics_listener.py).

Prometheus scrapes the service (its `/metrics` sums every Gunicorn worker, PROMETHEUS_MULTIPROC_DIR), MLflow
through the same metrics listener as the cluster's pod (the `mlflow server --expose-prometheus` files, on a port of
its own), the Redis exporter and itself, bound to loopback with its TSDB under the state folder, and evaluates the
same alert rules as the cluster (infra/alerts.py), scoped by `job="inference"` instead of the cluster's namespace.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra import alerts
from local import processes, servers
from local.processes import HOST, StartError

SERVICE_JOB = "inference"
REDIS_JOB = "redis"
MLFLOW_JOB = "mlflow"
# Short intervals: the demo shows a promotion within seconds, and the local test waits for a few scrapes.
SCRAPE_INTERVAL = "5s"
RETENTION = "2d"
# The module the cluster's MLflow pod runs as its sidecar (infra/mlflow_metrics.py), from this checkout.
METRICS_LISTENER = Path(__file__).resolve().parents[1] / "images" / "mlflow" / "metrics_listener.py"


@dataclass
class Exporter:
    """A process serving `/metrics` for Prometheus on a loopback port (the Redis exporter, the MLflow listener)."""

    process: processes.Process
    port: int

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.port}/metrics"

    def stop(self) -> None:
        self.process.stop()


@dataclass
class PrometheusServer:
    process: processes.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self.process.stop()

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result vector (`/api/v1/query`)."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        return self._api("query", params)

    def query_range(self, expr: str, start: float, end: float, step: str = "1s") -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step}
        return self._api("query_range", params)

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets (`/api/v1/targets`): job label, scrape URL, health."""
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=5) as resp:  # noqa: S310 - loopback
            active: list[dict[str, Any]] = json.loads(resp.read())["data"]["activeTargets"]
        return active

    def rule_names(self) -> set[str]:
        with urllib.request.urlopen(f"{self.url}/api/v1/rules", timeout=5) as resp:  # noqa: S310 - loopback
            groups = json.loads(resp.read())["data"]["groups"]
        return {rule["name"] for group in groups for rule in group["rules"]}

    def _api(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL built here
            body = json.loads(resp.read())
        if body.get("status") != "success":
            raise StartError(f"Prometheus query failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StartError(f"{name} is not installed: run `make system-deps` as root (Debian package {name})")
    return found


def start_redis_exporter(state_dir: Path, port: int, redis: servers.RedisServer) -> Exporter:
    """redis_exporter on loopback, the password from the environment (not the command line, which `ps` shows)."""
    processes.require_free(port, "the Redis exporter", "REDIS_EXPORTER_PORT")
    scheme = "rediss" if redis.tls else "redis"
    argv = [
        binary("prometheus-redis-exporter"),
        f"--web.listen-address={HOST}:{port}",
        f"--redis.addr={scheme}://{HOST}:{redis.port}",
    ]
    if redis.tls:
        argv.append(f"--tls-ca-cert-file={redis.tls.ca_cert}")
    proc = processes.spawn("redis-exporter", argv, state_dir, env={"REDIS_PASSWORD": redis.password})
    exporter = Exporter(proc, port)
    processes.wait_until(proc, lambda: processes.http_ok(exporter.metrics_url), 30, f"redis_exporter on {port}")
    return exporter


def start_mlflow_metrics_listener(state_dir: Path, port: int, mlflow: servers.MlflowServer) -> Exporter:
    """MLflow's metrics listener on loopback, summing the server's `--expose-prometheus` directory: what Prometheus
    scrapes for MLflow, here as in the cluster, where the server's own /metrics answers its admin only."""
    if mlflow.metrics_dir is None:
        raise StartError("the MLflow server was started without --expose-prometheus: no metrics to serve")
    processes.require_free(port, "MLflow's metrics listener")
    argv = [str(processes.VENV_BIN / "python"), str(METRICS_LISTENER),
            "--directory", str(mlflow.metrics_dir), "--host", HOST, "--port", str(port)]  # fmt: skip
    proc = processes.spawn("mlflow-metrics", argv, state_dir)
    listener = Exporter(proc, port)
    processes.wait_until(proc, lambda: processes.http_ok(listener.metrics_url), 30, f"MLflow's metrics on {port}")
    return listener


def config(
    port: int,
    service_port: int,
    redis_exporter_port: int | None,
    rules_file: Path,
    mlflow_metrics_port: int | None = None,
) -> dict[str, Any]:
    """prometheus.yml: the service, MLflow's metrics listener, the Redis exporter and Prometheus itself, with the
    alert rules."""
    jobs = [(SERVICE_JOB, service_port), ("prometheus", port)]
    if redis_exporter_port is not None:
        jobs.append((REDIS_JOB, redis_exporter_port))
    if mlflow_metrics_port is not None:
        jobs.append((MLFLOW_JOB, mlflow_metrics_port))
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules_file)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"{HOST}:{target}"]}]} for job, target in jobs
        ],
    }


def start_prometheus(
    state_dir: Path,
    port: int,
    service_port: int,
    redis_exporter_port: int | None,
    champion_alias: str,
    drift_threshold: float = 0.2,
    mlflow_metrics_port: int | None = None,
) -> PrometheusServer:
    """Prometheus on loopback, TSDB under `<state_dir>/prometheus-data`, scraping every few seconds."""
    processes.require_free(port, "Prometheus", "PROMETHEUS_PORT")
    home = state_dir / "prometheus-server"
    home.mkdir(parents=True, exist_ok=True)
    rules = home / "rules.yml"
    mlflow = f'job="{MLFLOW_JOB}"' if mlflow_metrics_port is not None else None
    scope = alerts.AlertScope(f'job="{SERVICE_JOB}"', champion_alias, drift_threshold, mlflow)
    rules.write_text(alerts.rules_yaml(scope))
    config_file = home / "prometheus.yml"
    scrape = config(port, service_port, redis_exporter_port, rules, mlflow_metrics_port)
    config_file.write_text(yaml.safe_dump(scrape, sort_keys=False))
    argv = [
        binary("prometheus"),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={state_dir / 'prometheus-data'}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={HOST}:{port}",
    ]
    proc = processes.spawn("prometheus", argv, state_dir)
    server = PrometheusServer(proc, port)
    processes.wait_until(proc, lambda: processes.http_ok(f"{server.url}/-/ready"), 60, f"Prometheus on {port}")
    return server
