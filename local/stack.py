"""The local twin of the production topology: S3 store, MLflow (+ optional PostgreSQL), Redis, the service.

`LocalStack.up()` starts each part on loopback with its state and logs under one folder, trains and promotes
the demo model when the registry has no `production` version yet, waits until everything is healthy, and
stops whatever it started if any part fails. `LocalStack.down()` stops every process by its PID file.
The same class drives `make demo` and the end-to-end test, so the test proves what the demo runs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from local import processes, prometheus, servers
from local.demo_models import DIABETES, DemoModel
from local.processes import HOST, StartError

REPO = Path(__file__).resolve().parents[1]
# The default demo model's name and sample row (local/demo_models.py holds the others).
MODEL_NAME = DIABETES.model_name
ALIAS = "production"
SAMPLE_ROW = dict(DIABETES.sample_row)


@dataclass(frozen=True)
class Ports:
    """Where each part listens; each can be moved with an environment variable."""

    service: int = 8000
    mlflow: int = 5000
    redis: int = 6379
    s3: int = 8333
    postgres: int = 5433
    prometheus: int = 9090
    redis_exporter: int = 9121

    ENV = {"service": "SERVICE_PORT", "mlflow": "MLFLOW_PORT", "redis": "REDIS_PORT", "s3": "S3_PORT",
           "postgres": "PG_PORT", "prometheus": "PROMETHEUS_PORT",
           "redis_exporter": "REDIS_EXPORTER_PORT"}  # fmt: skip

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Ports:
        env = dict(os.environ if env is None else env)
        values: dict[str, int] = {}
        for name, var in cls.ENV.items():
            raw = env.get(var)
            if raw is None:
                continue
            if not raw.isdigit() or not 1 <= int(raw) <= 65535:
                raise StartError(f"{var} must be a TCP port number between 1 and 65535 (got {raw!r})")
            values[name] = int(raw)
        return replace(cls(), **values)

    @classmethod
    def free(cls) -> Ports:
        """Ports nothing listens on now: for tests, which must not collide with a running demo."""
        return cls(*(processes.free_port() for _ in range(7)))


@dataclass
class LocalStack:
    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    db: Literal["sqlite", "postgres"] = "sqlite"
    workers: int = 2
    reload_interval_s: float = 5.0
    say: Callable[[str], None] = print
    demo: DemoModel = DIABETES
    # The cache asks Redis only where a hit saves more than the round trip (auto); tests of the version-keyed
    # cache force it on.
    cache_mode: Literal["auto", "always", "never"] = "auto"
    started: list[processes.Process] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    # ---------------------------------------------------------------------------------------- up

    def up(self) -> dict[str, str]:
        """Start every part (or fail having stopped what it started); returns the URLs."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.running():
            raise StartError(
                f"a local stack already runs from {self.state_dir} ({', '.join(self.running())}); "
                "stop it with `make demo-down`"
            )
        try:
            self._up()
        except BaseException:
            self.say("a part failed to start: stopping what was started")
            self.stop_started()
            raise
        return self.urls

    def _up(self) -> None:
        steps = 7 if self.db == "sqlite" else 8
        step = iter(range(1, steps + 1))

        self.say(f"[{next(step)}/{steps}] S3 object store (SeaweedFS) on {HOST}:{self.ports.s3}")
        access_key, secret_key = self._persistent_secret("s3-access-key"), self._persistent_secret("s3-secret-key")
        s3 = servers.start_seaweedfs(self.state_dir, self.ports.s3, access_key=access_key, secret_key=secret_key)
        self.started.append(s3.process)
        self.urls["s3"] = s3.endpoint

        backend = None
        if self.db == "postgres":
            self.say(f"[{next(step)}/{steps}] PostgreSQL backend store on {HOST}:{self.ports.postgres}")
            pg = servers.start_postgres(self.state_dir, self.ports.postgres)
            self.started.append(pg.process)
            backend = pg.sqlalchemy_uri

        self.say(f"[{next(step)}/{steps}] MLflow tracking server + registry on {HOST}:{self.ports.mlflow}")
        mlflow = servers.start_mlflow(self.state_dir, self.ports.mlflow, s3, backend_store_uri=backend)
        self.started.append(mlflow.process)
        self.urls["mlflow"] = mlflow.url

        self.say(f"[{next(step)}/{steps}] Redis (password-protected cache) on {HOST}:{self.ports.redis}")
        redis = servers.start_redis(
            self.state_dir, self.ports.redis, password=self._persistent_secret("redis-password")
        )
        self.started.append(redis.process)
        self.urls["redis"] = f"redis://{HOST}:{self.ports.redis}/0"
        cache_url_file = self.state_dir / "redis-url"
        cache_url_file.write_text(redis.url)
        cache_url_file.chmod(0o600)

        self.say(f"[{next(step)}/{steps}] Demo model `{self.demo.model_name}@{ALIAS}` in the registry")
        self.ensure_model(mlflow.url)

        where = f"{HOST}:{self.ports.service}"
        self.say(f"[{next(step)}/{steps}] Inference service (Gunicorn, {self.workers} workers) on {where}")
        service = self.start_service(mlflow.url, cache_url_file)
        self.started.append(service)
        self.urls["service"] = f"http://{HOST}:{self.ports.service}"
        self.say(f"[{next(step)}/{steps}] Prometheus on {HOST}:{self.ports.prometheus} (+ Redis exporter), same alerts")
        exporter = prometheus.start_redis_exporter(self.state_dir, self.ports.redis_exporter, redis)
        self.started.append(exporter.process)
        # MLflow's metrics through the cluster's listener, on whatever loopback port is free.
        listener = prometheus.start_mlflow_metrics_listener(self.state_dir, processes.free_port(), mlflow)
        self.started.append(listener.process)
        prom = prometheus.start_prometheus(
            self.state_dir,
            self.ports.prometheus,
            self.ports.service,
            exporter.port,
            champion_alias=ALIAS,
            mlflow_metrics_port=listener.port,
        )
        self.started.append(prom.process)
        self.urls["prometheus"] = prom.url

        self.say(f"[{next(step)}/{steps}] Sample prediction")
        self.urls["sample"] = json.dumps(self.predict([dict(self.demo.sample_row)]))

    def _secret_file(self, name: str) -> Path:
        """The file `_persistent_secret(name)` keeps its value in, created if need be."""
        self._persistent_secret(name)
        return self.state_dir / name

    def _persistent_secret(self, name: str) -> str:
        """Generated once and kept (0600) under the state folder, so re-runs find their data again."""
        path = self.state_dir / name
        if not path.exists():
            token = secrets.token_hex(8) if name.endswith("access-key") else secrets.token_urlsafe(24)
            path.write_text(token)
            path.chmod(0o600)
        return path.read_text().strip()

    def training(self, mlflow_url: str, *args: str, timeout: float = 300) -> str:
        """Run the training CLI exactly as a user would; returns its stdout."""
        env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_url}
        for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(var, None)  # artifacts go through the server's proxy, as in the cluster
        done = subprocess.run(
            [sys.executable, "-m", "training", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise StartError(f"`python -m training {' '.join(args)}` failed:\n{(done.stdout + done.stderr)[-3000:]}")
        return str(done.stdout)

    def ensure_model(self, mlflow_url: str) -> None:
        """Train, register and promote the demo model only when no version carries the alias yet (the CLI's
        `seed`, as a new cloud stack's first model is made)."""
        data = self.demo.data_args(self.state_dir)
        out = self.training(
            mlflow_url, "seed", "--model-name", self.demo.model_name, "--alias", ALIAS, "--wait", "30", *data
        )
        last = out.strip().splitlines()[-1] if out.strip() else ""
        seeded = re.fullmatch(r"seeded \S+ version (\d+) at @\S+", last)
        unchanged = re.fullmatch(r"unchanged \S+ version (\d+) already at @\S+", last)
        if seeded:
            self.say(f"      trained, registered and promoted version {seeded.group(1)}")
        elif unchanged:
            self.say(f"      already there: version {unchanged.group(1)} (state kept from an earlier run)")
        else:
            raise StartError(f"could not read the outcome of `python -m training seed`:\n{out[-2000:]}")

    def train(self, mlflow_url: str, *extra: str) -> str:
        out = self.training(mlflow_url, "train", "--model-name", self.demo.model_name, *extra)
        found = re.findall(r"registered \S+ version (\d+)", out)
        if not found:
            raise StartError(f"could not read the registered version from the training output:\n{out[-2000:]}")
        return str(found[-1])

    def start_service(
        self,
        mlflow_url: str,
        cache_url_file: Path,
        extra_env: Mapping[str, str] | None = None,
        ready_path: str = "/health/ready",
    ) -> processes.Process:
        """Gunicorn over the service; `extra_env` adds or overrides `SERVING_*` settings (the reliability tests).

        Returns once `ready_path` answers 2xx (a test of a service that starts not ready waits for /health/live).
        """
        processes.require_free(self.ports.service, "the inference service", "SERVICE_PORT")
        metrics_dir = self.state_dir / "prometheus"
        if metrics_dir.exists():
            for stale in metrics_dir.glob("*.db"):
                stale.unlink()
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "SERVING_REGISTRY_URI": mlflow_url,
            "SERVING_MODEL_NAME": self.demo.model_name,
            "SERVING_MODEL_ALIAS": ALIAS,
            "SERVING_RELOAD_INTERVAL_S": str(self.reload_interval_s),
            "SERVING_CACHE_ENABLED": "true",
            "SERVING_CACHE_MODE": self.cache_mode,
            "SERVING_CACHE_URL_FILE": str(cache_url_file),
            "SERVING_CACHE_SIGNING_KEY_FILE": str(self._secret_file("cache-signing-key")),
            "SERVING_MODEL_DIR": str(self.state_dir / "models"),
            "WEB_CONCURRENCY": str(self.workers),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "SERVING_BIND": f"{HOST}:{self.ports.service}",
            **(extra_env or {}),
        }
        argv = [str(processes.VENV_BIN / "gunicorn"), "-c", str(REPO / "service" / "gunicorn.conf.py"),
                "--bind", f"{HOST}:{self.ports.service}", "service.app:create_app()"]  # fmt: skip
        proc = processes.spawn("service", argv, self.state_dir, env=env, cwd=REPO)
        url = f"http://{HOST}:{self.ports.service}{ready_path}"
        processes.wait_until(proc, lambda: processes.http_ok(url), 120, f"gunicorn serving {url}")
        return proc

    def predict(self, rows: list[dict[str, float | str]]) -> dict[str, object]:
        request = urllib.request.Request(
            f"http://{HOST}:{self.ports.service}/predict",
            data=json.dumps({"instances": rows}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback URL built here
            body: dict[str, object] = json.loads(resp.read())
        return body

    # -------------------------------------------------------------------------------------- down

    def pid_files(self) -> list[Path]:
        return sorted(self.state_dir.glob("*.pid")) if self.state_dir.exists() else []

    def running(self) -> list[str]:
        alive = []
        for pid_file in self.pid_files():
            pid = _read_pid(pid_file)
            if pid is not None and processes.pid_alive(pid):
                alive.append(pid_file.stem)
        return alive

    def stop_started(self) -> None:
        for proc in reversed(self.started):
            proc.stop()
        self.started.clear()

    def down(self) -> list[str]:
        """Stop every process this state folder records, service first; returns what was stopped."""
        order = ["prometheus", "redis-exporter", "mlflow-metrics", "service", "redis", "mlflow", "postgres",
                 "seaweedfs"]  # fmt: skip
        files = sorted(self.pid_files(), key=lambda p: order.index(p.stem) if p.stem in order else -1)
        stopped = []
        for pid_file in files:
            pid = _read_pid(pid_file)
            if pid is not None and processes.pid_alive(pid):
                processes.stop_pid(pid)
                stopped.append(pid_file.stem)
            pid_file.unlink(missing_ok=True)
        self.started.clear()
        return stopped

    def clean(self) -> None:
        self.down()
        servers.remove_state(self.state_dir)


def _read_pid(pid_file: Path) -> int | None:
    text = pid_file.read_text().strip()
    return int(text) if text.isdigit() else None


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False
