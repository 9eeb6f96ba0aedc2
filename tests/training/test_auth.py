"""Against an MLflow server with basic auth on (as in the cluster), credentials come from the MLflow env vars."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from local import processes, servers
from tests.support.training import run_cli


@pytest.fixture(scope="module")
def auth_server(
    tmp_path_factory: pytest.TempPathFactory, s3_server: servers.S3Server
) -> Iterator[servers.MlflowServer]:
    state: Path = tmp_path_factory.mktemp("mlflow-auth")
    server = servers.start_mlflow(state, processes.free_port(), s3_server, artifacts_prefix="auth", basic_auth=True)
    yield server
    server.stop()


@pytest.fixture
def auth_tracking(auth_server: servers.MlflowServer, monkeypatch: pytest.MonkeyPatch) -> servers.MlflowServer:
    for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_USERNAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.url)
    return auth_server


def test_credentials_come_from_the_mlflow_environment_variables(
    auth_tracking: servers.MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert auth_tracking.admin_username and auth_tracking.admin_password
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth_tracking.admin_username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_tracking.admin_password)
    MlflowClient().create_registered_model("auth-model")

    result = run_cli(["status", "--model-name", "auth-model"])

    assert "no aliases set on auth-model" in result.stdout


def test_missing_credentials_are_a_clear_error(auth_tracking: servers.MlflowServer) -> None:
    result = run_cli(["status", "--model-name", "auth-model"], expect=1)

    assert f"error from {auth_tracking.url}: not authenticated (HTTP 401)" in result.stderr
    assert "MLFLOW_TRACKING_USERNAME" in result.stderr
