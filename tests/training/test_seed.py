"""`python -m training seed`: a new stack's first model, against a real MLflow server with basic auth on.

In the cluster the seed Job may start before the MLflow server answers and before the user bootstrap Job has
created its `trainer` user (infra/training_job.py, docs/first-deploy.d/bootstrap.md); these tests play that order
for real: the seed process starts first, then the server, then the user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from mlflow.tracking import MlflowClient

from local import processes, servers
from tests.support.training import last_line, run_cli

REPO = Path(__file__).resolve().parents[2]
TRAINER = "trainer"
TRAINER_PASSWORD = "seed-test-" + uuid.uuid4().hex[:12]


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    return {
        **env,
        "PYTHONPATH": str(REPO),
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_TRACKING_USERNAME": TRAINER,
        "MLFLOW_TRACKING_PASSWORD": TRAINER_PASSWORD,
        **extra,
    }


@dataclass
class Seed:
    """`python -m training seed` running in the background, its output in files the test can read meanwhile."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def wait(self, timeout: float) -> tuple[int, str, str]:
        code = self.process.wait(timeout=timeout)
        return code, self.stdout.read_text(), self.stderr.read_text()


def _seed(directory: Path, url: str, *args: str, **env: str) -> Seed:
    out, err = directory / "seed.out", directory / "seed.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "training", "seed", "--json", *args],
            cwd=REPO,
            env=_env(url, **env),
            stdout=stdout,
            stderr=stderr,
        )
    return Seed(process, out, err)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _create_user(server: servers.MlflowServer, username: str, password: str) -> None:
    assert server.admin_username and server.admin_password
    answer = requests.post(
        f"{server.url}/api/2.0/mlflow/users/create",
        json={"username": username, "password": password},
        auth=(server.admin_username, server.admin_password),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture
def late_server(tmp_path: Path, s3_server: servers.S3Server) -> Iterator[tuple[int, list[servers.MlflowServer]]]:
    """A port for a server that is started only once the test says so (basic auth, READ by default, as in the
    cloud); stopped at the end."""
    started: list[servers.MlflowServer] = []
    yield processes.free_port(), started
    for server in started:
        server.stop()


def test_seed_waits_for_the_server_and_its_user_then_trains_and_promotes_once(
    late_server: tuple[int, list[servers.MlflowServer]], s3_server: servers.S3Server, tmp_path: Path
) -> None:
    port, started = late_server
    url = f"http://{processes.HOST}:{port}"
    name = f"seed-{uuid.uuid4().hex[:8]}"
    # The Job's order on a new stack: the seed runs before the server answers...
    seed = _seed(tmp_path, url, "--wait", "240", TRAINING_MODEL_NAME=name)
    _wait_for(lambda: "cannot reach the MLflow tracking server" in seed.stderr.read_text(), 60, "a refused connection")
    # A login remembered for a minute: hashing the password on each of the seed's ~90 requests took two minutes
    # here. Only successful logins are remembered, so the 401s below are the server's answer every time.
    server = servers.start_mlflow(
        tmp_path,
        port,
        s3_server,
        artifacts_prefix=f"seed-{port}",
        basic_auth=True,
        default_permission="READ",
        auth_cache_ttl_s=60,
    )
    started.append(server)
    # ...and before its user exists: the server answers 401 to it until the user bootstrap has run.
    _wait_for(lambda: "HTTP 401" in seed.stderr.read_text(), 60, "a refused login")
    assert seed.process.poll() is None, seed.stderr.read_text()
    _create_user(server, TRAINER, TRAINER_PASSWORD)

    code, stdout, stderr = seed.wait(timeout=240)

    assert code == 0, stderr
    payload = json.loads(stdout.strip().splitlines()[-1])
    assert (payload["model_name"], payload["alias"], payload["version"], payload["seeded"]) == (
        name,
        "production",
        "1",
        True,
    )
    admin = MlflowClient(tracking_uri=url)
    with pytest.MonkeyPatch.context() as mp:
        assert server.admin_username and server.admin_password
        mp.setenv("MLFLOW_TRACKING_USERNAME", server.admin_username)
        mp.setenv("MLFLOW_TRACKING_PASSWORD", server.admin_password)
        assert admin.get_model_version_by_alias(name, "production").version == "1"
        tags = admin.get_model_version(name, "1").tags
        assert tags["promotion.production.by"] == TRAINER
        assert tags["promotion.production.reason"] == f"seed: no version of {name} carried @production"

        # Idempotent: a second run (the Job re-created by an image change) changes nothing.
        for key, value in _env(url).items():
            if key.startswith("MLFLOW_TRACKING_"):
                mp.setenv(key, value)
        result = run_cli(["seed", "--model-name", name, "--wait", "30"])
        assert last_line(result) == f"unchanged {name} version 1 already at @production"
        mp.setenv("MLFLOW_TRACKING_USERNAME", server.admin_username)
        mp.setenv("MLFLOW_TRACKING_PASSWORD", server.admin_password)
        assert [mv.version for mv in admin.search_model_versions(f"name = '{name}'")] == ["1"]


def test_seed_gives_up_at_its_deadline_with_the_exit_code_scripts_retry_on(tmp_path: Path) -> None:
    url = f"http://{processes.HOST}:{processes.free_port()}"
    started = time.monotonic()

    code, _, stderr = _seed(tmp_path, url, "--wait", "3").wait(timeout=60)

    assert code == 4
    assert f"the MLflow tracking server at {url} was not usable within 3s" in stderr
    assert time.monotonic() - started < 20
