"""Models to serve, registered for real, and the service running over them.

Each test module registers its models under names of its own, so the session's MLflow server is shared
safely. Models are logged like the training CLI logs them: sklearn flavor (skops), a signature of named float64
columns, an input example, then sealed with the CLI's own `training.seal.seal` (digest and contract tags).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge

from local import servers
from service.app import create_app
from service.settings import Settings
from training.seal import contract, seal

# Pinned rather than inferred: inference imports the model in a subprocess, seconds per model logged.
PIP_REQUIREMENTS = ["scikit-learn==1.9.1"]


def loaded_linear_model(directory: Path, diabetes: tuple[pd.DataFrame, pd.Series], ref: Any) -> Any:
    """The diabetes LinearRegression saved under `directory`, loaded and vetted as the service loads a version
    (`ref`: its VersionRef), for tests that drive the data plane or the fast lane without a registry."""
    features, target = diabetes
    return loaded_sklearn_model(directory, LinearRegression().fit(features, target), features, ref)


def loaded_sklearn_model(directory: Path, estimator: Any, features: pd.DataFrame, ref: Any) -> Any:
    """A fitted scikit-learn estimator saved under `directory` with a signature inferred from `features`, loaded
    and vetted as the service loads a version (a classifier gets its `output=proba` predictor)."""
    from dataclasses import replace

    from service.core.loader import open_model, validate

    path = directory / "model"
    mlflow.sklearn.save_model(
        estimator,
        str(path),
        signature=infer_signature(features, estimator.predict(features)),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
    )
    loaded, probe = open_model(path, ref, "production", time.monotonic())
    return replace(loaded, output_shape=validate(loaded, probe, None))


@pytest.fixture(scope="session")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    features, target = load_diabetes(return_X_y=True, as_frame=True)
    return features, target


@pytest.fixture(scope="session")
def linear(diabetes: tuple[pd.DataFrame, pd.Series]) -> LinearRegression:
    return LinearRegression().fit(*diabetes)


@pytest.fixture(scope="session")
def ridge(diabetes: tuple[pd.DataFrame, pd.Series]) -> Ridge:
    """A second, different model: its predictions tell which version answered."""
    return Ridge(alpha=0.5).fit(*diabetes)


@pytest.fixture(scope="module")
def tracking(mlflow_server: servers.MlflowServer) -> Iterator[str]:
    """Point this module's MLflow client at the session server, with no S3 credentials (artifacts via proxy)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.delenv(var, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
        yield mlflow_server.url


class LinearPythonModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A pyfunc-only model (no sklearn flavor): a linear model's coefficients applied by hand."""

    def __init__(self, coef: list[float], intercept: float, columns: list[str], broken: bool = False) -> None:
        self.coef = np.asarray(coef)
        self.intercept = intercept
        self.columns = columns
        self.broken = broken

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        out = model_input[self.columns].to_numpy(dtype=np.float64) @ self.coef + self.intercept
        return np.full_like(out, np.nan) if self.broken else out


def save_sklearn(model: Any, path: Path, features: pd.DataFrame, **options: Any) -> Path:
    """Save `model` as the training CLI logs it (skops, signature, 3-row input example), without registering."""
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(features, model.predict(features)),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
        **options,
    )
    return path


def register_sklearn(
    name: str,
    model: Any,
    features: pd.DataFrame,
    alias: str | None = "production",
    extra_files: list[str] | None = None,
    sealed: bool = True,
) -> str:
    """Log and register `model` as the training CLI does; point `alias` at the new version; return it."""
    signature = infer_signature(features, model.predict(features))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            signature=signature,
            input_example=features.head(3),
            pip_requirements=PIP_REQUIREMENTS,
            extra_files=extra_files,
        )
    if sealed:
        seal_version(name, info.registered_model_version, signature, model.predict(features.head(1)))
    return _aliased(name, info.registered_model_version, alias)


def register_pyfunc(
    name: str, python_model: LinearPythonModel, features: pd.DataFrame, alias: str | None = "production"
) -> str:
    signature = infer_signature(features, np.zeros(len(features)))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            registered_model_name=name,
            signature=signature,
            input_example=features.head(3),
            pip_requirements=PIP_REQUIREMENTS,
        )
    seal_version(name, info.registered_model_version, signature, np.zeros(1))
    return _aliased(name, info.registered_model_version, alias)


def seal_version(name: str, version: Any, signature: Any, one_row_output: Any) -> None:
    terms = contract(signature, tuple(np.asarray(one_row_output).shape[1:]))
    seal(MlflowClient(), mlflow.get_tracking_uri(), name, str(version), terms)


def _aliased(name: str, version: Any, alias: str | None) -> str:
    if alias:
        MlflowClient().set_registered_model_alias(name, alias, str(version))
    return str(version)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what}")


@contextmanager
def serving(settings: Settings, ready_timeout: float = 60) -> Iterator[TestClient]:
    """The app over `settings`, its lifespan running, once it is ready (a model loaded).

    The environment is restored afterwards: the app sets the MLflow client's variables for its process.
    """
    with mock.patch.dict(os.environ), TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/health/ready").status_code == 200, ready_timeout, "the service is ready")
        yield client


def settings_for(registry_uri: str, model_name: str, tmp_path: Path, **overrides: Any) -> Settings:
    if overrides.get("cache_enabled"):
        overrides.setdefault("cache_signing_key", "test-signing-key-" + "k" * 32)
        # These tests are about what the cache serves: it is asked on every request, whether it pays or not
        # (tests/service/test_cache_policy.py tests when it pays).
        overrides.setdefault("cache_mode", "always")
    return Settings(
        registry_uri=registry_uri,
        model_name=model_name,
        model_dir=tmp_path / "models",
        reload_interval_s=overrides.pop("reload_interval_s", 0.5),
        **overrides,
    )


def cache_settled(client: TestClient, timeout: float = 5) -> None:
    """Wait for the background cache writes of the requests made so far (the answer does not wait for them)."""
    wait_for(lambda: client.get("/health").json()["cache"].get("pending_sets", 0) == 0, timeout, "cache writes done")


def metric(client: TestClient, name: str, /, **labels: str) -> float:
    """The sum of the samples of `name` on /metrics whose labels include `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def register(
    name: str, model: Any, features: pd.DataFrame, outputs: Any, *, input_example: bool = False, **options: Any
) -> str:
    """Log, register, seal and alias `model` as a team would (signature from its own outputs); the version."""
    signature = infer_signature(features, outputs)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            signature=signature,
            input_example=features.head(3) if input_example else None,
            pip_requirements=PIP_REQUIREMENTS,
            **options,
        )
    version = str(info.registered_model_version)
    seal_version(name, version, signature, np.asarray(outputs)[:1])
    MlflowClient().set_registered_model_alias(name, "production", version)
    return version


def mlflow_answer(name: str, version: str, frame: pd.DataFrame) -> list[Any]:
    """What `mlflow models serve -m models:/<name>/<version>` answers on /invocations for `frame`."""
    result = mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(frame)
    return list(np.asarray(result).tolist())
