"""The image's command, run from the venv as the image runs it: Gunicorn workers, metrics, drain on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LinearRegression

from local import processes
from tests.support.models import register_sklearn

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "service" / "Dockerfile"
NAME = "svc_image_lr"


@dataclass(frozen=True)
class Image:
    base: list[str]
    user: str
    env: dict[str, str]
    cmd: list[str]


def read_dockerfile() -> Image:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    env: dict[str, str] = {}
    for line in lines:
        if line.startswith("ENV "):
            env.update(part.split("=", 1) for part in shlex.split(line[4:]))  # type: ignore[misc]
    return Image(
        base=[line.split()[1] for line in lines if line.startswith("FROM ")],
        user=next(line.split()[1] for line in lines if line.startswith("USER ")),
        env=env,
        cmd=json.loads(next(line[4:] for line in lines if line.startswith("CMD "))),
    )


def test_dockerfile_is_hadolint_clean() -> None:
    done = subprocess.run([str(processes.VENV_BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_runs_non_root_on_a_pinned_slim_base_with_state_under_tmp() -> None:
    image = read_dockerfile()
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.split(" ")[0]) for base in image.base)
    assert int(image.user.split(":")[0]) >= 10000
    for var in ("HOME", "TMPDIR", "PROMETHEUS_MULTIPROC_DIR", "SERVING_MODEL_DIR"):
        assert image.env[var].startswith("/tmp"), f"{var} must be writable under a read-only root filesystem"
    assert image.cmd == ["gunicorn", "-c", "service/gunicorn.conf.py", "service.app:create_app()"]


@dataclass
class Running:
    process: processes.Process
    port: int
    home: Path
    metrics_dir: Path

    @property
    def url(self) -> str:
        return f"http://{processes.HOST}:{self.port}"


@pytest.fixture(scope="module")
def gunicorn(
    tracking: str, linear: LinearRegression, diabetes: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    register_sklearn(NAME, linear, diabetes[0])
    image = read_dockerfile()
    state = tmp_path_factory.mktemp("image")
    port = processes.free_port()
    # The image's environment, with its /tmp paths moved into this test's directory.
    env = {k: v.replace("/tmp", str(state / "tmp"), 1) if v.startswith("/tmp") else v for k, v in image.env.items()}
    env |= {
        "PATH": f"{processes.VENV_BIN}:{os.environ['PATH']}",
        "SERVING_BIND": f"{processes.HOST}:{port}",
        "SERVING_REGISTRY_URI": tracking,
        "SERVING_MODEL_NAME": NAME,
        "SERVING_GRACEFUL_TIMEOUT": "20",
    }
    (state / "tmp").mkdir()
    argv = [str(processes.VENV_BIN / image.cmd[0]), *image.cmd[1:]]
    process = processes.spawn("gunicorn", argv, state, env=env, cwd=ROOT)
    running = Running(process, port, Path(env["HOME"]), Path(env["PROMETHEUS_MULTIPROC_DIR"]))
    try:
        ready = f"{running.url}/health/ready"
        processes.wait_until(process, lambda: processes.http_ok(ready), 120, "the service is ready")
        yield running
    finally:
        process.stop()


def model_info_series(url: str) -> list[dict[str, str]]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "serving_model_info" and sample.value == 1
    ]


def test_every_worker_loads_the_model_and_metrics_add_up_across_workers(
    gunicorn: Running, linear: LinearRegression, diabetes: Any
) -> None:
    rows = diabetes[0].head(3)
    answer = httpx.post(f"{gunicorn.url}/predict", json={"instances": rows.to_dict(orient="records")}, timeout=10)
    assert answer.status_code == 200 and answer.headers["X-Model-Name"] == NAME
    np.testing.assert_allclose(answer.json()["predictions"], linear.predict(rows), rtol=1e-12)
    deadline = time.monotonic() + 60
    while len(series := model_info_series(gunicorn.url)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len({s["pid"] for s in series}) == 2, f"one model per worker, both in one scrape: {series}"
    assert {s["name"] for s in series} == {NAME}


def test_sigterm_drains_the_request_in_flight_and_exits_cleanly(
    gunicorn: Running, linear: LinearRegression, diabetes: Any
) -> None:
    rows = diabetes[0].head(2)
    body = json.dumps({"instances": rows.to_dict(orient="records")}).encode()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {processes.HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((processes.HOST, gunicorn.port), timeout=30) as sock:
        sock.sendall(head + body[:20])
        time.sleep(0.5)  # the worker has read the headers: the request is in flight
        os.kill(gunicorn.process.pid, signal.SIGTERM)
        time.sleep(1.0)
        sock.sendall(body[20:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", response[:300]
    np.testing.assert_allclose(
        json.loads(rest.split(b"\r\n\r\n", 1)[1])["predictions"], linear.predict(rows), rtol=1e-12
    )
    assert gunicorn.process.popen is not None
    assert gunicorn.process.popen.wait(timeout=30) == 0, processes.log_tail(gunicorn.process.log)
    assert not processes.port_in_use(gunicorn.port)
    assert not (gunicorn.home / ".gunicorn").exists(), "no control socket"
    live = sorted(p.name for p in gunicorn.metrics_dir.glob("gauge_live*"))
    assert live == [], f"dead workers' live gauges are removed: {live}"
