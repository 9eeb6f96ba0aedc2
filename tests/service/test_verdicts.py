"""One verdict per model version, and what happens to a version once it is replaced.

The reloader runs here over a stand-in registry that serves saved model directories (the real MLflow registry
is exercised in test_reload.py): each test can make a download fail, point the alias anywhere, and record a
contract on the registered model.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import anyio
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression, Ridge

from service.app import create_app
from service.core.refs import ModelRef, VersionRef, contract
from service.core.reload import ModelHolder, Reloader
from service.core.schema import InputSchema
from service.core.trust import DIGEST_TAG, directory_digest
from service.metrics import Metrics
from tests.support.models import register_sklearn, save_sklearn
from tests.support.serving import metric, settings_for, wait_for


class StubRegistry:
    """`models` maps a version number to a saved model directory; `target` is where the alias points."""

    def __init__(self, models: dict[str, Path], recorded: dict[str, Any] | None = None) -> None:
        self.models = models
        self.target = "1"
        self.recorded = recorded
        self.downloads: list[str] = []
        self.download_error: Exception | None = None
        self.generation = "a"  # a registered model deleted and created again numbers its versions from 1 again

    def resolve(self, ref: ModelRef) -> VersionRef:
        tags = {DIGEST_TAG: directory_digest(self.models[self.target])}
        return VersionRef(ref.name, self.target, "run", tags=tags, source=f"models:/m-{self.generation}{self.target}")

    def contract(self, name: str) -> dict[str, Any] | None:
        return self.recorded

    def download(self, version: VersionRef, dst: Path) -> Path:
        self.downloads.append(version.version)
        if self.download_error is not None:
            raise self.download_error
        shutil.copytree(self.models[version.version], dst)
        return dst


@pytest.fixture(scope="module")
def models(
    tmp_path_factory: pytest.TempPathFactory, linear: LinearRegression, ridge: Ridge, diabetes: Any
) -> dict[str, Path]:
    features, target = diabetes
    root = tmp_path_factory.mktemp("verdict-models")
    fewer = features.drop(columns=["s6"])
    return {
        "1": save_sklearn(linear, root / "v1", features),
        "2": save_sklearn(ridge, root / "v2", features),
        "3": save_sklearn(LinearRegression().fit(fewer, target), root / "v3", fewer),
    }


def reloader(registry: StubRegistry, tmp_path: Path, **options: Any) -> tuple[Reloader, Metrics]:
    metrics = Metrics()
    model_dir = tmp_path / "models"
    model_dir.mkdir(exist_ok=True)
    ref = ModelRef("m", alias="production")
    return Reloader(ModelHolder(), registry, ref, model_dir, 0.05, metrics, **options), metrics  # type: ignore[arg-type]


def full_contract(features: pd.DataFrame) -> dict[str, Any]:
    schema = InputSchema.from_signature(infer_signature(features))
    return contract(schema, ())


def test_a_worker_that_serves_nothing_yet_still_rejects_a_version_that_breaks_the_recorded_contract(
    models: dict[str, Path], diabetes: Any, tmp_path: Path
) -> None:
    """Every worker judges a version against the registered model's contract, not against what it happens to
    serve: a pod starting while the alias points at version 3 rejects it as the running pods did."""
    registry = StubRegistry(models, recorded=full_contract(diabetes[0]))
    registry.target = "3"
    fresh, _ = reloader(registry, tmp_path)
    anyio.run(fresh.check)
    assert fresh.holder.current is None
    assert fresh.holder.last_rejection is not None and "breaks the registered model's contract" in (
        fresh.holder.last_rejection.reason
    )
    registry.target = "1"
    anyio.run(fresh.check)
    assert fresh.holder.current is not None and fresh.holder.current.version == "1"


def test_a_recreated_models_version_1_is_a_new_version_not_the_one_served_or_rejected(
    models: dict[str, Path], diabetes: Any, tmp_path: Path
) -> None:
    """MLflow numbers a new version max(existing) + 1 (mlflow/store/model_registry/sqlalchemy_store.py@v3.17.2,
    `create_model_version`), so after delete and re-create, "version 1" names another model."""
    registry = StubRegistry(models)
    worker, _ = reloader(registry, tmp_path)
    anyio.run(worker.check)
    first = worker.holder.current
    assert first is not None
    registry.generation, registry.models = "b", {**models, "1": models["2"]}
    anyio.run(worker.check)
    assert worker.holder.current is not None and worker.holder.current is not first
    assert worker.holder.current.uid != first.uid


def test_the_contract_set_in_the_settings_wins(models: dict[str, Path], diabetes: Any, tmp_path: Path) -> None:
    registry = StubRegistry(models, recorded=None)
    fewer = diabetes[0].drop(columns=["s6"])
    worker, _ = reloader(registry, tmp_path, expected=full_contract(fewer))
    anyio.run(worker.check)
    assert worker.holder.current is None and worker.holder.last_rejection is not None
    registry.target = "3"
    anyio.run(worker.check)
    assert worker.holder.current is not None and worker.holder.current.version == "3"


def test_a_version_that_failed_to_load_is_retried_with_backoff_not_rejected(
    models: dict[str, Path], tmp_path: Path
) -> None:
    registry = StubRegistry(models)
    registry.download_error = OSError("connection reset by peer")
    worker, metrics = reloader(registry, tmp_path, retry_max_s=10.0)
    anyio.run(worker.check)
    anyio.run(worker.check)  # within the backoff: not tried again
    assert registry.downloads == ["1"]
    assert worker.holder.rejected == {}, "a failure to load is not a verdict on the version"
    failure = worker.holder.describe()["last_error"]
    assert "connection reset by peer" in failure["message"]
    assert failure["retry_in_s"] == pytest.approx(0.05)
    time.sleep(0.06)
    anyio.run(worker.check)
    assert registry.downloads == ["1", "1"]
    assert worker.holder.describe()["last_error"]["retry_in_s"] == pytest.approx(0.1), "the wait doubles"
    registry.download_error = None
    time.sleep(0.11)
    anyio.run(worker.check)
    assert worker.holder.current is not None and worker.holder.last_failure is None


def test_a_replaced_versions_files_outlive_the_swap_by_the_grace_period_and_its_series_go(
    models: dict[str, Path], tmp_path: Path
) -> None:
    registry = StubRegistry(models)
    worker, metrics = reloader(registry, tmp_path, retire_grace_s=0.3)
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            while worker.holder.current is None:
                await anyio.sleep(0.01)
            old = worker.holder.current
            registry.target = "2"
            while worker.holder.current is old:
                await anyio.sleep(0.01)
            seen["right_after"] = old.directory.exists()
            seen["series"] = [s.labels["version"] for m in metrics.model_info.collect() for s in m.samples]
            await anyio.sleep(0.6)
            seen["later"] = old.directory.exists()
            tasks.cancel_scope.cancel()

    anyio.run(main)
    assert seen == {"right_after": True, "series": ["2"], "later": False}


# ------------------------------------------------------------------------------- the real registry


@pytest.fixture
def fleet_model(tracking: str, linear: LinearRegression, diabetes: Any) -> Iterator[str]:
    name = f"svc_verdict_{time.monotonic_ns()}"
    features, target = diabetes
    register_sklearn(name, linear, features)  # version 1 records the registered model's contract
    fewer = features.drop(columns=["s6"])
    register_sklearn(name, LinearRegression().fit(fewer, target), fewer)  # version 2 breaks it: alias moved
    yield name


def test_a_pod_that_starts_on_a_rejected_version_rejects_it_like_the_others(
    tracking: str, fleet_model: str, tmp_path: Path
) -> None:
    """Before, a worker with nothing loaded had nothing to compare with and served version 2 (200 on new pods,
    422 on old ones for the same request)."""
    settings = settings_for(tracking, fleet_model, tmp_path)
    with mock.patch.dict(os.environ), TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/health").json()["last_rejection"] is not None, 30, "version 2 is judged")
        details = client.get("/health").json()
        assert details["status"] == "not_ready"
        assert details["last_rejection"]["version"] == "2"
        assert "contract" in details["last_rejection"]["reason"]
        assert metric(client, "serving_model_reloads_total", result="rejected") == 1
    assert MlflowClient().get_registered_model(fleet_model).tags["serving.contract"].startswith('{"inputs"')
