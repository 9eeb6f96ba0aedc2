"""Fixtures for the lifecycle CLI tests, all against the session's real MLflow server.

Training is the slow part, so two models are trained once per module through the CLI (a good LinearRegression
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


@pytest.fixture(scope="module")
def worse_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("configs") / "dummy.yaml"
    path.write_text(WORSE_CONFIG)
    return path


@pytest.fixture(scope="module")
def trained(mlflow_server: MlflowServer, worse_config: Path) -> Iterator[dict[str, Trained]]:
    """`good` (the default LinearRegression config) and `worse` (DummyRegressor), trained once per module."""
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, mlflow_server)
        suffix = uuid.uuid4().hex[:8]
        yield {
            "good": train_cli(["--model-name", f"base-good-{suffix}"]),
            "worse": train_cli(["--model-name", f"base-worse-{suffix}", "--config", str(worse_config)]),
        }


@pytest.fixture
def model_name(mlflow_tracking: str) -> str:
    """A registered-model name no other test uses (the server is shared by the session)."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tables") / "iris.csv"
    iris_frame().to_csv(path, index=False)
    return path
