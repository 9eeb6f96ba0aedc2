"""The service under Gunicorn, started exactly as `make demo` starts it (local/stack.py), and what tests read
from its processes: workers, their connections and memory, its metrics and logs."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from local import processes
from local.stack import LocalStack, Ports
from tests.support.models import register_sklearn
from tests.support.prometheus import sample_sum


@contextmanager
def tracking(url: str, username: str | None = None, password: str | None = None) -> Iterator[str]:
    """Point this process's MLflow client at `url` (no S3 credentials: artifacts go through the server)."""
    with mock.patch.dict(os.environ):
        for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.pop(var, None)
        os.environ["MLFLOW_TRACKING_URI"] = url
        for var, value in (("MLFLOW_TRACKING_USERNAME", username), ("MLFLOW_TRACKING_PASSWORD", password)):
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        yield url


@dataclass
class Service:
    """Gunicorn serving one model, started by LocalStack.start_service (the command `make demo` runs)."""

    stack: LocalStack
    process: processes.Process

    @property
    def url(self) -> str:
        return f"http://{processes.HOST}:{self.stack.ports.service}"

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> set[int]:
        """Live children of the Gunicorn master (its workers)."""
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.master_pid and fields[0] != "Z":
                pids.add(int(stat.parent.name))
        return pids

    def wait_workers(self, count: int, timeout: float = 90, exclude: set[int] | None = None) -> set[int]:
        """Wait until `count` workers run (none of `exclude`), each with a model loaded; returns their PIDs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count and not pids & (exclude or set()) and self.ready() and pids <= self.serving_pids():
                return pids
            time.sleep(0.2)
        raise AssertionError(f"not {count} workers within {timeout}s: {self.worker_pids()}; log:\n{self.log_tail()}")

    def serving_pids(self) -> set[int]:
        """Workers that have a model loaded (their `serving_model_info` gauge is 1)."""
        return {
            int(sample.labels["pid"])
            for family in text_string_to_metric_families(self.get("/metrics").text)
            for sample in family.samples
            if sample.name == "serving_model_info" and sample.value == 1
        }

    def connections(self, pid: int) -> int:
        """Established client connections to the service port that process `pid` holds."""
        sockets = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                sockets.add(target[8:-1])
        port = f"{self.stack.ports.service:04X}"
        count = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            # local address, state 01 = ESTABLISHED, inode
            if fields[1].endswith(f":{port}") and fields[3] == "01" and fields[9] in sockets:
                count += 1
        return count

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=30, **kwargs)

    def metric(self, name: str, /, **labels: str) -> float:
        """The sum over all workers of the samples of `name` whose labels include `labels`."""
        return sample_sum(self.get("/metrics").text, name, labels)

    def log_records(self) -> list[dict[str, Any]]:
        """The service's JSON log lines (Gunicorn's own lines are JSON too)."""
        records = []
        for line in self.process.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def log_tail(self, lines: int = 30) -> str:
        return processes.log_tail(self.process.log, lines)

    def stop(self) -> None:
        self.process.stop()


@contextmanager
def gunicorn(
    state_dir: Path,
    mlflow_url: str,
    model_name: str,
    *,
    cache_url: str | None = None,
    workers: int = 2,
    reload_interval_s: float = 1.0,
    ready_path: str = "/health/ready",
    settings: Mapping[str, str] | None = None,
) -> Iterator[Service]:
    """The service over `model_name`@production, stopped (by PID) on exit; `settings` are extra SERVING_* vars."""
    stack = LocalStack(
        state_dir=state_dir,
        ports=Ports(service=processes.free_port()),
        workers=workers,
        reload_interval_s=reload_interval_s,
        say=lambda _: None,
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    cache_url_file = state_dir / "redis-url"
    cache_url_file.write_text(cache_url or "")
    cache_url_file.chmod(0o600)
    env = {
        "SERVING_MODEL_NAME": model_name,
        "SERVING_CACHE_ENABLED": "true" if cache_url else "false",
        # The cache's failure modes are under test: asked on every request, even where computing is cheaper.
        "SERVING_CACHE_MODE": "always",
        **(settings or {}),
    }
    process = stack.start_service(mlflow_url, cache_url_file, extra_env=env, ready_path=ready_path)
    service = Service(stack, process)
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def serving_registered(
    mlflow_url: str, name: str, model: Any, features: pd.DataFrame, state_dir: Path, **options: Any
) -> Iterator[Service]:
    """`model` registered as `name`@production, then the service over it once every worker has loaded it."""
    with tracking(mlflow_url):
        register_sklearn(name, model, features)
    with gunicorn(state_dir, mlflow_url, name, **options) as service:
        service.wait_workers(options.get("workers", 2))
        yield service


def busiest_worker(service: Service, pids: set[int], within_s: float = 5.0) -> tuple[int, int]:
    """The worker holding the most client connections, and how many: a victim holding none would prove nothing.

    Counted from one sample of every worker, sampled again until one holds a connection (or `within_s` passes):
    with a connection per request, each lives well under a millisecond, so one look may find them all closed."""
    deadline = time.monotonic() + within_s
    while True:
        counts = {pid: service.connections(pid) for pid in pids}
        victim = max(counts, key=counts.__getitem__)
        if counts[victim] > 0 or time.monotonic() >= deadline:
            return victim, counts[victim]
        time.sleep(0.005)


def rss_kb(pid: int) -> int:
    """Resident set size of `pid`, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def kill(process: processes.Process) -> None:
    """SIGKILL a server's whole process group: it is lost, not stopped (no shutdown of its own runs)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.stop(timeout=5)  # reaps it and removes its PID file
