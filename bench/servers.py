"""The servers under test, each started the way it is run for real, with the same number of workers.

- `constant`, `asgi`: bench/constant_app.py under service/gunicorn.conf.py (Gunicorn + Uvicorn workers): a FastAPI
  route that reads and decodes the body, and a bare ASGI callable (the ceiling).
- `mlflow`: `mlflow models serve -m models:/<name>@production --env-manager local --workers N` (Uvicorn).
- `service*`: the inference service under service/gunicorn.conf.py, with the settings of the scenario.
- the peers (MLServer, BentoML, LitServe): bench/peers.py, each from its own virtualenv.

Start-up time is measured from the spawn to the first good answer; for the service, also per worker (spawn to
its "model serving" log line). All bind 127.0.0.1 on a free port and are stopped by PID.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.load import rss_mb, tree, workers
from local import processes
from local.processes import HOST

REPO = Path(__file__).resolve().parents[1]
GUNICORN_CONF = REPO / "service" / "gunicorn.conf.py"


@dataclass
class Target:
    name: str
    description: str
    port: int
    process: processes.Process
    startup_s: float
    worker_ready_s: list[float] = field(default_factory=list)  # spawn of the server to each worker's model
    worker_boot_to_ready_s: list[float] = field(default_factory=list)  # a worker's own start to its model
    settings: dict[str, str] = field(default_factory=dict)
    path: str = "/invocations"  # where the predictions are POSTed

    @property
    def url(self) -> str:
        return self.endpoint()

    def endpoint(self, route: str = "") -> str:
        """Where a body is POSTed: its own route on this server (V2 beside /invocations), else the server's."""
        return f"http://{HOST}:{self.port}{route or self.path}"

    def rss_per_worker_mb(self) -> list[float]:
        return sorted(rss_mb(pid) for pid in workers(self.process.pid))

    def describe(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "port": self.port,
            "path": self.path,
            "processes": len(tree(self.process.pid)),
            "startup_s": round(self.startup_s, 2),
            "worker_ready_s": [round(s, 2) for s in self.worker_ready_s],
            "worker_boot_to_ready_s": [round(s, 2) for s in self.worker_boot_to_ready_s],
            "rss_per_worker_mb": self.rss_per_worker_mb(),
            "settings": self.settings,
        }

    def stop(self) -> None:
        self.process.stop()


def _wait(proc: processes.Process, url: str, started: float, n_workers: int, timeout: float = 180) -> float:
    """Seconds from `started` to the first good answer; returns once all `n_workers` workers are up too."""
    processes.wait_until(proc, lambda: processes.http_ok(url), timeout, f"{proc.name} answering {url}")
    answered = time.time() - started
    # The first worker can answer before the master has forked the last one.
    processes.wait_until(proc, lambda: len(workers(proc.pid)) >= n_workers, 60, f"{proc.name}'s {n_workers} workers")
    return answered


CONSTANTS = {
    "constant": ("bench.constant_app:app", "FastAPI route that reads and decodes the body, answers a constant"),
    "asgi": ("bench.constant_app:bare", "bare ASGI callable that drains the body, answers a constant (ceiling)"),
}


def start_constant(state_dir: Path, n_workers: int, kind: str = "constant", name: str = "") -> Target:
    app, description = CONSTANTS[kind]
    name = name or kind
    port = processes.free_port()
    env = {"WEB_CONCURRENCY": str(n_workers), "SERVING_BIND": f"{HOST}:{port}"}
    argv = [str(processes.VENV_BIN / "gunicorn"), "-c", str(GUNICORN_CONF), app]
    started = time.time()
    proc = processes.spawn(f"bench-{name}", argv, state_dir, env=env, cwd=REPO)
    startup = _wait(proc, f"http://{HOST}:{port}/ping", started, n_workers)
    return Target(name, description, port, proc, startup)


def start_mlflow_serve(
    state_dir: Path, n_workers: int, mlflow_url: str, model_uri: str, name: str = "mlflow"
) -> Target:
    port = processes.free_port()
    env = {
        "MLFLOW_TRACKING_URI": mlflow_url,
        # It starts `uvicorn` by name: the venv's must come first.
        "PATH": f"{processes.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    argv = [str(processes.VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
            "-h", HOST, "-p", str(port), "-w", str(n_workers)]  # fmt: skip
    started = time.time()
    proc = processes.spawn(f"bench-{name}", argv, state_dir, env=env, cwd=state_dir)
    startup = _wait(proc, f"http://{HOST}:{port}/ping", started, n_workers)
    return Target(name, f"mlflow models serve {model_uri} --env-manager local", port, proc, startup)


def start_service(
    name: str,
    state_dir: Path,
    n_workers: int,
    mlflow_url: str,
    model_name: str,
    settings: dict[str, str] | None = None,
    describe: str = "",
    timeout: float = 180,
) -> Target:
    """The inference service over `model_name@production`, with extra SERVING_* settings."""
    port = processes.free_port()
    metrics_dir = state_dir / f"{name}-prometheus"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    settings = {"SERVING_CACHE_ENABLED": "false", "SERVING_BATCH_ENABLED": "false", **(settings or {})}
    env = {
        "SERVING_REGISTRY_URI": mlflow_url,
        "SERVING_MODEL_NAME": model_name,
        "SERVING_MODEL_ALIAS": "production",
        "SERVING_MODEL_DIR": str(state_dir / f"{name}-models"),
        "WEB_CONCURRENCY": str(n_workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "SERVING_BIND": f"{HOST}:{port}",
        **settings,
    }
    argv = [str(processes.VENV_BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "service.app:create_app()"]
    started = time.time()
    proc = processes.spawn(f"bench-{name}", argv, state_dir, env=env, cwd=REPO)
    startup = _wait(proc, f"http://{HOST}:{port}/health/ready", started, n_workers, timeout)

    def since_start(message: str) -> list[float]:
        entries = _wait_for_lines(proc.log, lambda e: e.get("message", "").startswith(message), started, n_workers)
        return sorted(datetime.fromisoformat(e["ts"]).timestamp() for e in entries)

    ready = since_start("model serving")
    booted = since_start("Booting worker")
    target = Target(name, describe or f"inference service, {model_name}", port, proc, startup)
    target.worker_ready_s = [t - started for t in ready]
    # Workers boot together: the i-th to boot is paired with the i-th to be ready.
    target.worker_boot_to_ready_s = [r - b for b, r in zip(booted, ready, strict=False)]
    target.settings = {k: v for k, v in settings.items() if "URL" not in k}  # the Redis URL file holds a password
    return target


def _wait_for_lines(log: Path, match: Callable[[dict[str, Any]], bool], since: float, count: int) -> list[Any]:
    """The first `count` JSON log entries written after `since` that `match`, waiting up to 60 s for them."""
    deadline = time.monotonic() + 60
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = []
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if datetime.fromisoformat(entry["ts"]).timestamp() >= since - 1 and match(entry):
                found.append(entry)
        if len(found) >= count:
            return found[:count]
        time.sleep(0.2)
    return found
