"""Scenario 7: the MLflow server's exposure. With basic auth on (the cloud's `default_permission`) and the
inference user created by the cloud's own bootstrap script (images/mlflow/bootstrap_users.py): anonymous requests
are refused (401), the read-only user cannot register versions or move aliases (403), and the service logged in
as that user loads and serves the production model."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from infra.mlflow_auth import DEFAULT_PERMISSION
from local import processes, servers
from local.stack import REPO
from tests.support.figures import Figures
from tests.support.gunicorn import gunicorn, tracking
from tests.support.models import register_sklearn

pytestmark = [pytest.mark.slow]

NAME = "rel_auth_lr"
USER = "inference"


@pytest.fixture(scope="module")
def server(s3_server: servers.S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.MlflowServer]:
    server = servers.start_mlflow(
        tmp_path_factory.mktemp("mlflow-auth"),
        processes.free_port(),
        s3_server,
        artifacts_prefix="auth-artifacts",
        basic_auth=True,
        default_permission=DEFAULT_PERMISSION,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(server: servers.MlflowServer) -> tuple[str, str]:
    assert server.admin_username and server.admin_password
    return server.admin_username, server.admin_password


@pytest.fixture(scope="module")
def inference_user(
    server: servers.MlflowServer, admin: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """The inference user, made by the bootstrap Job's script from secret files; returns (name, password file)."""
    mounted = tmp_path_factory.mktemp("secrets")
    (mounted / "admin").mkdir()
    (mounted / "admin" / "username").write_text(admin[0])
    (mounted / "admin" / "password").write_text(admin[1])
    (mounted / "users").mkdir()
    password_file = mounted / "users" / USER
    password_file.write_text(secrets.token_urlsafe(24))
    env = {
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_ADMIN_DIR": str(mounted / "admin"),
        "MLFLOW_USERS_DIR": str(mounted / "users"),
        "MLFLOW_BOOTSTRAP_TIMEOUT_S": "30",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "images" / "mlflow" / "bootstrap_users.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"{USER}: created" in done.stdout
    return USER, password_file


@pytest.fixture(scope="module")
def production(
    server: servers.MlflowServer, admin: tuple[str, str], linear: LinearRegression, features: pd.DataFrame
) -> str:
    with tracking(server.url, *admin):
        return register_sklearn(NAME, linear, features)


def api(server: servers.MlflowServer, method: str, path: str, auth: tuple[str, str] | None, **kw: object) -> int:
    response = httpx.request(method, f"{server.url}/api/2.0/mlflow/{path}", auth=auth, timeout=10, **kw)  # type: ignore[arg-type]
    return response.status_code


def test_anonymous_requests_are_refused(server: servers.MlflowServer, production: str, figures: Figures) -> None:
    calls = [
        ("GET", "registered-models/search", {}),
        ("GET", "registered-models/alias", {"params": {"name": NAME, "alias": "production"}}),
        ("GET", "experiments/search", {"params": {"max_results": 1}}),
        ("POST", "registered-models/create", {"json": {"name": "anonymous_model"}}),
        ("POST", "registered-models/alias", {"json": {"name": NAME, "alias": "production", "version": "1"}}),
    ]
    statuses = [api(server, method, path, None, **kw) for method, path, kw in calls]
    artifacts = httpx.get(f"{server.url}/api/2.0/mlflow-artifacts/artifacts", timeout=10).status_code
    figures.record(
        "7_mlflow_exposure_anonymous", requests=len(statuses) + 1, refused=statuses.count(401) + (artifacts == 401)
    )
    assert statuses == [401] * len(calls)
    assert artifacts == 401


def test_read_only_user_cannot_register_or_move_aliases(
    server: servers.MlflowServer,
    inference_user: tuple[str, Path],
    production: str,
    linear: LinearRegression,
    features: pd.DataFrame,
    figures: Figures,
) -> None:
    user = (inference_user[0], inference_user[1].read_text())
    with tracking(server.url, *user):
        client = MlflowClient()
        # What it needs: read the alias and download the version it points at.
        assert client.get_model_version_by_alias(NAME, "production").version == production
        source = client.get_model_version_download_uri(NAME, production)
        denied = {}
        attempts = {
            "register_version": lambda: client.create_model_version(NAME, source),
            "set_alias": lambda: client.set_registered_model_alias(NAME, "production", production),
            "delete_alias": lambda: client.delete_registered_model_alias(NAME, "production"),
            "delete_model": lambda: client.delete_registered_model(NAME),
            "tag_model": lambda: client.set_registered_model_tag(NAME, "owner", USER),
        }
        for label, attempt in attempts.items():
            with pytest.raises(MlflowException) as raised:
                attempt()
            denied[label] = raised.value.get_http_status_code()
        with pytest.raises(MlflowException) as raised:
            # A new run under the admin's experiment, to log a model to register: refused as well.
            with mlflow.start_run(experiment_id="0"):
                pass
        denied["log_run"] = raised.value.get_http_status_code()
        # MLflow's basic auth lets any signed-in user create models of its own (without workspaces, creation is
        # not a permission); they are not the production model, which it still cannot touch.
        own = client.create_registered_model(f"{NAME}_{USER}_own").name

    figures.record(
        "7_mlflow_exposure_read_only",
        requests=len(denied) + 3,
        refused=sum(s == 403 for s in denied.values()),
        can_create_own_models=own == f"{NAME}_{USER}_own",
    )
    assert denied == dict.fromkeys(denied, 403), denied
    with tracking(server.url, *user):
        assert MlflowClient().get_model_version_by_alias(NAME, "production").version == production, "alias moved"


def test_service_logged_in_as_the_read_only_user_serves_the_production_model(
    server: servers.MlflowServer,
    inference_user: tuple[str, Path],
    production: str,
    rows: list[dict[str, float]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    username_file = tmp_path / "mlflow-username"
    username_file.write_text(inference_user[0])
    settings = {
        "SERVING_MLFLOW_USERNAME_FILE": str(username_file),
        "SERVING_MLFLOW_PASSWORD_FILE": str(inference_user[1]),
    }
    with gunicorn(tmp_path / "service", server.url, NAME, workers=1, settings=settings) as service:
        answers = [service.post("/predict", json={"instances": [row]}) for row in rows[:20]]
        version = service.get("/health").json()["model"]["version"]
    figures.record("7_mlflow_exposure_service", requests=len(answers), errors=sum(a.is_error for a in answers))
    assert version == production
    assert all(a.status_code == 200 for a in answers)
