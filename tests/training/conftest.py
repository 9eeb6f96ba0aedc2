"""Fixtures for the lifecycle CLI tests, all against the session's real MLflow server.

Training is the slow part, so two models are trained once per session through the CLI (a good LinearRegression
and a deliberately bad DummyRegressor); each test then registers copies of those logged models under a model
name of its own (tests/support/training.py `register`), so tests share no registry state and run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.demo_models import iris_frame
from local.servers import MlflowServer
from tests.support.training import WORSE_CONFIG, Trained, point_at, train_cli


@pytest.fixture(scope="session")
def worse_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("configs") / "dummy.yaml"
    path.write_text(WORSE_CONFIG)
    return path


@pytest.fixture(scope="session")
def trained_once(mlflow_server: MlflowServer, worse_config: Path) -> dict[str, Trained]:
    """`good` (the default LinearRegression config) and `worse` (DummyRegressor), trained once per session: every
    test registers copies of these logged models under a name of its own, and a logged model never changes."""
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, mlflow_server)
        suffix = uuid.uuid4().hex[:8]
        return {
            "good": train_cli(["--model-name", f"base-good-{suffix}"]),
            "worse": train_cli(["--model-name", f"base-worse-{suffix}", "--config", str(worse_config)]),
        }


@pytest.fixture(scope="module")
def trained(mlflow_server: MlflowServer, trained_once: dict[str, Trained]) -> Iterator[dict[str, Trained]]:
    """`trained_once`, with this module's MLflow client pointed at the session's server."""
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, mlflow_server)
        yield trained_once


@pytest.fixture
def model_name(mlflow_tracking: str) -> str:
    """A registered-model name no other test uses (the server is shared by the session)."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tables") / "iris.csv"
    iris_frame().to_csv(path, index=False)
    return path
