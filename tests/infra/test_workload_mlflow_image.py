"""The MLflow image (images/mlflow) run for real with what the stack gives it.

The server starts with the exact command, arguments and environment of the recorded Deployment (only the
bind address, port and file locations are moved to loopback and a temporary directory, and the backend is
SQLite instead of RDS); the user bootstrap runs with the recorded Job's command and Secrets.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import kube
from infra.db_passfile import RDS_CA_BUNDLE
from infra.mlflow_auth import basic_auth_ini
from tests.infra.harness import ROOT, Recording
from tests.infra.k8s import Manifest, arg_value, by_component, one

IMAGE = ROOT / "images" / "mlflow"
VENV_BIN = Path(sys.executable).parent
SERVICE_HOST = "mlflow.mlflow.svc.cluster.local:5000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dockerfile_copies() -> dict[str, str]:
    """Source file -> destination path, from the Dockerfile's COPY lines."""
    copies = {}
    for line in (IMAGE / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            *_, source, destination = line.split()
            copies[source] = destination
    return copies


def secret_files(rec: Recording, namespace: str, name: str, directory: Path) -> Path:
    """Write a recorded Secret the way the kubelet mounts it: one file per key."""
    directory.mkdir(parents=True)
    for key, value in one(rec.kubernetes_manifests(), "Secret", name, namespace)["stringData"].items():
        (directory / key).write_text(value)
    return directory


def secret_volume(pod_spec: dict[str, Any], mount_path: str) -> str:
    (c,) = pod_spec["containers"]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == mount_path]
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == mount["name"]]
    name: str = volume["secret"]["secretName"]
    return name


@pytest.fixture(scope="module")
def dev(recordings: dict[str, Recording]) -> Recording:
    return recordings["dev"]


@dataclass
class Server:
    url: str
    admin: tuple[str, str]
    log: Path


@dataclass
class Started:
    """A recorded server process, not yet known to be healthy."""

    process: subprocess.Popen[bytes]
    server: Server

    def wait_healthy(self, timeout: float = 180) -> Server:
        url, log = self.server.url, self.server.log
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"mlflow server exited {self.process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return self.server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {timeout:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        # The server forks uvicorn workers into its own session: stop the whole group, by its id.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_recorded_server(
    dev: Recording, tmp: Path, backend_store_uri: str | None = None, auth_database_uri: str | None = None
) -> Started:
    """Start the recorded MLflow Deployment's container on loopback (SQLite in `tmp` unless URIs are given)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (container,) = one(dev.kubernetes_manifests(), "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"][
        "containers"
    ]
    secrets, admin = server_secrets(
        dev,
        tmp / "secrets",
        backend_store_uri or f"sqlite:///{tmp}/mlflow.db",
        auth_database_uri or f"sqlite:///{tmp}/auth.db",
    )
    # The image's entrypoint is this repository's entrypoint.sh, and the recorded command names it.
    assert container["command"] == [dockerfile_copies()["entrypoint.sh"]]
    port = free_port()
    args = list(container["args"])
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    # The pod's emptyDir, here the temporary directory.
    metrics_dir = args.index("--expose-prometheus") + 1
    args[metrics_dir] = args[metrics_dir].replace(kube.TMP_MOUNT, str(tmp), 1)
    env = {e["name"]: e["value"].replace("/var/run/secrets/mlflow", str(secrets)) for e in container["env"]}
    env |= {"HOME": str(tmp), "TMPDIR": str(tmp), "PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    log = tmp / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["sh", str(IMAGE / "entrypoint.sh"), *args],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Started(process, Server(url=f"http://127.0.0.1:{port}", admin=admin, log=log))


@contextmanager
def recorded_server(dev: Recording, tmp: Path) -> Iterator[Server]:
    started = start_recorded_server(dev, tmp)
    try:
        yield started.wait_healthy()
    finally:
        started.stop()


def server_secrets(
    dev: Recording, directory: Path, backend_store_uri: str, auth_database_uri: str
) -> tuple[Path, tuple[str, str]]:
    """The server's Secret as the kubelet mounts it, pointing at local databases; and the recorded admin."""
    manifests = dev.kubernetes_manifests()
    pod_spec = one(manifests, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
    recorded = one(manifests, "Secret", secret_volume(pod_spec, "/var/run/secrets/mlflow"), "mlflow")["stringData"]
    admin_password = re.search(r"admin_password = (.*)", recorded["basic-auth.ini"])
    assert admin_password is not None
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "backend-store-uri").write_text(backend_store_uri)
    (directory / "basic-auth.ini").write_text(basic_auth_ini(auth_database_uri, "admin", admin_password.group(1)))
    (directory / "flask-secret-key").write_text(recorded["flask-secret-key"])
    return directory, ("admin", admin_password.group(1))


@pytest.fixture(scope="module")
def server(dev: Recording, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The recorded MLflow Deployment's container, run on loopback. Shared by the module's tests, so only one of
    them may create users on it (test_bootstrap_job_creates_non_admin_users_that_read_but_cannot_change); a test
    that changes users again runs its own server."""
    with recorded_server(dev, tmp_path_factory.mktemp("mlflow")) as running:
        yield running


def bootstrap(
    rec: Recording, server: Server, tmp: Path, users: dict[str, str] | None = None, wait_s: int = 30
) -> subprocess.CompletedProcess[str]:
    """Run the recorded bootstrap Job's command against `server`, with its Secrets as files."""
    job = by_component(rec.kubernetes_manifests(), "Job", "mlflow", "bootstrap-users")
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    script = dockerfile_copies()["bootstrap_users.py"]
    assert c["command"] == ["python", script]
    env = {e["name"]: e["value"] for e in c["env"]}
    admin_dir = secret_files(rec, "mlflow", secret_volume(spec, env["MLFLOW_ADMIN_DIR"]), tmp / "admin")
    users_dir = secret_files(rec, "mlflow", secret_volume(spec, env["MLFLOW_USERS_DIR"]), tmp / "users")
    for name, password in (users or {}).items():
        (users_dir / name).write_text(password)
    env |= {
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_ADMIN_DIR": str(admin_dir),
        "MLFLOW_USERS_DIR": str(users_dir),
        "MLFLOW_BOOTSTRAP_TIMEOUT_S": str(wait_s),
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, str(IMAGE / "bootstrap_users.py")], env=env, capture_output=True, text=True, timeout=120
    )


def api(server: Server, method: str, path: str, auth: tuple[str, str] | None, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/2.0/mlflow/{path}", auth=auth, timeout=10, **kwargs)


@pytest.mark.slow
def test_server_accepts_its_service_name_and_rejects_other_hosts(server: Server) -> None:
    search = f"{server.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert httpx.get(search, headers={"Host": "attacker.example:5000"}, auth=server.admin).status_code == 403
    assert httpx.get(search, headers={"Host": SERVICE_HOST}, auth=server.admin).status_code == 200
    # Basic auth is on: no credentials, no data.
    assert httpx.get(search, headers={"Host": SERVICE_HOST}).status_code == 401


@pytest.mark.slow
def test_bootstrap_job_creates_non_admin_users_that_read_but_cannot_change(
    dev: Recording, server: Server, tmp_path: Path
) -> None:
    done = bootstrap(dev, server, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "inference: created" in done.stdout and "trainer: created" in done.stdout
    inference = ("inference", (tmp_path / "users" / "inference").read_text())

    me = api(server, "GET", "users/current", inference)
    assert me.status_code == 200 and me.json()["user"]["is_admin"] is False
    assert api(server, "POST", "registered-models/create", server.admin, json={"name": "linear_regression"}).is_success
    read = api(server, "GET", "registered-models/get", inference, params={"name": "linear_regression"})
    assert read.status_code == 200
    tag = {"name": "linear_regression", "key": "owner", "value": "inference"}
    assert api(server, "POST", "registered-models/set-tag", inference, json=tag).status_code == 403
    rename = {"username": "admin", "password": "taken-over-by-inference"}
    assert api(server, "PATCH", "users/update-password", inference, json=rename).status_code == 403


@pytest.mark.slow
def test_bootstrap_converges_on_a_rotated_password(dev: Recording, tmp_path: Path) -> None:
    # A server of its own: the users it creates would make the shared server's "created" test see "updated".
    with recorded_server(dev, tmp_path / "server") as server:
        first = bootstrap(dev, server, tmp_path / "first")
        assert first.returncode == 0, first.stderr
        old = (tmp_path / "first" / "users" / "inference").read_text()
        second = bootstrap(dev, server, tmp_path / "second", users={"inference": "rotated-password-0123456789"})
        assert second.returncode == 0, second.stderr
        assert "inference: updated" in second.stdout
        assert api(server, "GET", "users/current", ("inference", old)).status_code == 401
        assert api(server, "GET", "users/current", ("inference", "rotated-password-0123456789")).status_code == 200


def test_bootstrap_fails_clearly_when_the_server_is_unreachable(dev: Recording, tmp_path: Path) -> None:
    unreachable = Server(url=f"http://127.0.0.1:{free_port()}", admin=("admin", "x"), log=tmp_path / "none")
    done = bootstrap(dev, unreachable, tmp_path, wait_s=3)
    assert done.returncode == 1
    assert f"MLflow at {unreachable.url} not healthy" in done.stderr


def test_entrypoint_refuses_a_missing_secret_file(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", str(IMAGE / "entrypoint.sh"), "--version"],
        env={"MLFLOW_BACKEND_STORE_URI_FILE": str(tmp_path / "absent"), "PATH": f"{VENV_BIN}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 64
    assert f"MLFLOW_BACKEND_STORE_URI_FILE={tmp_path / 'absent'} is not a readable file" in done.stderr


def test_auth_config_survives_special_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.server.auth.config import read_auth_config

    uri = "postgresql+psycopg2://mlflow:p%40ss%25word%3A@db.example:5432/mlflow?sslmode=require"
    ini = tmp_path / "basic-auth.ini"
    ini.write_text(basic_auth_ini(uri, "admin", "a%b@c:d"))
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    config = read_auth_config()
    assert (config.database_uri, config.admin_password) == (uri, "a%b@c:d")


# ------------------------------------------------------------------------------------------ the image


def test_dockerfile_is_hadolint_clean() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "hadolint"), str(IMAGE / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_runs_as_the_pods_non_root_user_from_a_pinned_base() -> None:
    lines = (IMAGE / "Dockerfile").read_text().splitlines()
    (base,) = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", base), base
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user == f"{kube.RUN_AS_USER}:{kube.RUN_AS_USER}" and kube.RUN_AS_USER >= 10000


def test_image_requirements_are_pinned() -> None:
    pins = {}
    for line in (IMAGE / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"unpinned: {line}"
            pins[name] = version
    assert pins == {
        "mlflow[auth]": "3.17.2",
        "prometheus-flask-exporter": "0.23.2",
        "prometheus-client": "0.26.0",
        "Flask-WTF": "1.3.0",
        "psycopg2-binary": "2.9.13",
        "boto3": "1.44.5",
    }


def test_image_holds_the_rds_ca_bundle_the_backend_uri_verifies_against() -> None:
    """AWS RDS User Guide, "Using SSL/TLS to encrypt a connection to a DB instance or cluster": the certificate
    bundle for all AWS Regions is https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem. Docker's ADD
    of a URL writes mode 0600 (Dockerfile reference, ADD), unreadable by the non-root user without --chmod."""
    adds = [line.split() for line in (IMAGE / "Dockerfile").read_text().splitlines() if line.startswith("ADD ")]
    assert [
        "ADD",
        "--chmod=0444",
        "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
        RDS_CA_BUNDLE,
    ] in (adds)


def test_deployment_and_job_use_the_image_paths(dev: Recording) -> None:
    manifests: list[Manifest] = dev.kubernetes_manifests()
    (c,) = one(manifests, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]["containers"]
    copies = dockerfile_copies()
    assert c["command"] == [copies["entrypoint.sh"]]
    assert arg_value(c["args"], "--port") == "5000"
    job = by_component(manifests, "Job", "mlflow", "bootstrap-users")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][1] == copies["bootstrap_users.py"]


@pytest.mark.slow
def test_metrics_are_served_to_the_admin_only(dev: Recording, tmp_path: Path) -> None:
    """`--expose-prometheus` needs prometheus-flask-exporter in the image (mlflow/server/prometheus_exporter.py
    @v3.17.2). Basic auth fails closed on a route with no permission validator (mlflow/server/auth/__init__.py
    @v3.17.2 `_before_request`, MLFLOW_BASIC_AUTH_FAIL_CLOSED on by default): /metrics is the admin's alone, which
    is why Prometheus scrapes the metrics listener instead (tests/infra/test_workload_mlflow_metrics.py)."""
    with recorded_server(dev, tmp_path / "server") as server:
        done = bootstrap(dev, server, tmp_path)
        assert done.returncode == 0, done.stderr
        inference = ("inference", (tmp_path / "users" / "inference").read_text())
        metrics = f"{server.url}/metrics"
        assert httpx.get(metrics, headers={"Host": SERVICE_HOST}).status_code == 401
        assert httpx.get(metrics, headers={"Host": SERVICE_HOST}, auth=inference).status_code == 403
        scraped = httpx.get(metrics, headers={"Host": SERVICE_HOST}, auth=server.admin)
        assert scraped.status_code == 200
        assert "mlflow_http_request_total{" in scraped.text
