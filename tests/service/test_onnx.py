"""The ONNX Runtime path: taken for a version whose ONNX export agrees with it and is faster, and only then.

Exports are made by the training CLI's own function (`training.train.export_onnx`) and shipped inside the model
as it ships them (`extra_files/model.onnx`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.models import infer_signature
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from service.core.loader import LoadedModel, open_model, validate
from service.core.onnx import RTOL, OnnxPredictor
from service.core.predictors import NativePredictor
from service.core.refs import VersionRef
from tests.support.models import save_sklearn, seal_version
from tests.support.serving import serving, settings_for
from training.train import export_onnx

TREES = ["sklearn.tree._tree.Tree"]


@pytest.fixture(scope="module")
def forest(diabetes: tuple[pd.DataFrame, pd.Series]) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=40, max_depth=6, min_samples_leaf=3, random_state=0).fit(*diabetes)


def save(model: Any, path: Path, features: pd.DataFrame, onnx_of: Any = None, example: bool = True) -> Path:
    """Save `model` with the ONNX export of `onnx_of` (default: of the model itself) as the training CLI does."""
    export = path.parent / f"{path.name}-export" / "model.onnx"
    export.parent.mkdir(parents=True)
    status, _ = export_onnx(onnx_of if onnx_of is not None else model, features.to_numpy(), export)
    assert status == "logged", status
    return save_sklearn(model, path, features, example=example, extra_files=[str(export)], skops_trusted_types=TREES)


def opened(path: Path) -> LoadedModel:
    model, probe = open_model(path, VersionRef("m", "1", None), "production", time.monotonic())
    return replace(model, output_shape=validate(model, probe, None))


def test_a_forest_with_an_export_is_served_through_onnx_runtime_with_its_numbers(
    tmp_path: Path, forest: RandomForestRegressor, diabetes: Any
) -> None:
    features = diabetes[0]
    model = opened(save(forest, tmp_path / "forest", features))
    assert model.flavor == "onnx"
    assert isinstance(model.predictor, OnnxPredictor)
    assert model.output_shape == (), "one number per row, as scikit-learn answers"
    rows = features.to_numpy()
    np.testing.assert_allclose(model.predictor.predict(rows), forest.predict(features), rtol=RTOL)
    np.testing.assert_allclose(model.predictor.predict(rows[:1]), forest.predict(features.iloc[:1]), rtol=RTOL)


def test_an_export_that_disagrees_with_the_model_is_not_used(
    tmp_path: Path, forest: RandomForestRegressor, diabetes: Any
) -> None:
    features, target = diabetes
    other = RandomForestRegressor(n_estimators=40, max_depth=3, random_state=1).fit(features, target)
    model = opened(save(forest, tmp_path / "forest", features, onnx_of=other))
    assert model.flavor == "sklearn"
    assert model.predictor.predict(features.to_numpy()).tolist() == forest.predict(features).tolist()


def test_a_linear_model_keeps_its_numpy_path_which_is_faster_than_onnx_runtime(
    tmp_path: Path, linear: LinearRegression, diabetes: Any
) -> None:
    model = opened(save(linear, tmp_path / "linear", diabetes[0]))
    assert model.flavor == "sklearn"
    assert isinstance(model.predictor, NativePredictor) and model.predictor.linear is not None


def test_the_path_is_chosen_by_the_version_not_by_a_timing(
    tmp_path: Path, forest: RandomForestRegressor, diabetes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers timing the same export differently must still take one path: an ONNX Runtime that happens
    to be slow on this worker (a busy core) is taken all the same, since it agrees."""
    path = save(forest, tmp_path / "forest", diabetes[0])
    original = OnnxPredictor.predict

    def slow(self: OnnxPredictor, rows: Any) -> Any:
        time.sleep(0.02)
        return original(self, rows)

    monkeypatch.setattr(OnnxPredictor, "predict", slow)
    assert opened(path).flavor == "onnx"


def test_without_an_input_example_an_export_reading_columns_in_another_order_is_caught(
    tmp_path: Path, diabetes: Any
) -> None:
    """Vetted on a row of zeros, an export that reads the columns in reverse order agrees with the model (every
    permutation of zeros is zeros) and served wrong numbers; rows of distinct values per column catch it."""
    features, target = diabetes
    model = Pipeline([("lr", LinearRegression())]).fit(features, target)
    columns = list(features.columns)[::-1]
    reversed_model = Pipeline([("lr", LinearRegression())]).fit(features[columns], target)
    path = save(model, tmp_path / "model", features, onnx_of=reversed_model, example=False)
    loaded = opened(path)
    assert loaded.flavor != "onnx"
    np.testing.assert_allclose(loaded.predictor.predict(features.to_numpy()), model.predict(features), rtol=1e-9)


NAME = "svc_onnx_forest"


@pytest.fixture(scope="module")
def client(
    tracking: str, forest: RandomForestRegressor, diabetes: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    features = diabetes[0]
    path = save(forest, tmp_path_factory.mktemp("onnx") / "forest", features)
    # The saved model directory, export included, uploaded as a run's model and registered from there.
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(path), artifact_path="model")
    run_id = run.info.run_id
    version = mlflow.register_model(f"runs:/{run_id}/model", NAME).version
    seal_version(NAME, version, infer_signature(features, forest.predict(features)), forest.predict(features.head(1)))
    mlflow.MlflowClient().set_registered_model_alias(NAME, "production", str(version))
    with serving(settings_for(tracking, NAME, tmp_path_factory.mktemp("onnx-serving"))) as client:
        yield client


@pytest.mark.slow
def test_the_service_answers_through_onnx_runtime_on_both_endpoints(
    client: TestClient, forest: RandomForestRegressor, diabetes: Any
) -> None:
    features = diabetes[0].head(7)
    assert client.get("/health").json()["model"]["flavor"] == "onnx"
    expected = forest.predict(features)
    records = client.post("/predict", json={"instances": features.to_dict(orient="records")})
    split = client.post("/invocations", json={"dataframe_split": features.to_dict(orient="split")})
    for response in (records, split):
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["predictions"], expected, rtol=RTOL)
