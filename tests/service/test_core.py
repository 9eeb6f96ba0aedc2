"""The serving core without any server: breaker, cache keys, model references, settings, load and validation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import Schema, TensorSpec
from pydantic import ValidationError
from sklearn.linear_model import LinearRegression

from service.app import _worker_model_dir
from service.core.cache import CircuitBreaker, row_keys
from service.core.loader import LoadedModel, ModelRejected, open_model, validate
from service.core.predictors import NativePredictor, PyfuncPredictor
from service.core.probe import distinct_rows
from service.core.refs import ModelRef, VersionRef
from service.core.registry import configure_mlflow_client
from service.core.schema import Column, InputSchema, UnsupportedSignature
from service.core.trust import TrustPolicy
from service.settings import Settings
from tests.support.models import PIP_REQUIREMENTS, LinearPythonModel

# ------------------------------------------------------------------------------------ circuit breaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_the_threshold_then_lets_one_trial_through_after_the_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=clock)
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state == "half_open"
    assert breaker.allow(), "one trial call after the cool-down"
    assert not breaker.allow(), "only one trial at a time"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow(), "a failed trial opens it for another cool-down"
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


# ------------------------------------------------------------------------------------------ cache keys


def test_cache_keys_depend_on_the_normalised_row_model_identity_and_prefix() -> None:
    rows = np.array([[1.0, -0.0, 2.5], [1.0, 0.0, 2.5], [1.0, 0.0, 2.6]])
    keys = row_keys("pr-7:", "lr:3:uuid-a:sklearn", rows)
    assert keys[0] == keys[1], "-0.0 and 0.0 are the same input"
    assert keys[0] != keys[2]
    assert keys[0].startswith("pr-7:pred:lr:3:uuid-a:sklearn:")
    assert row_keys("pr-7:", "lr:4:uuid-b:sklearn", rows)[0] != keys[0], "a new version never reads the old one's"
    assert row_keys("pr-7:", "other:3:uuid-c:sklearn", rows)[0] != keys[0]
    assert row_keys("", "lr:3:uuid-a:sklearn", rows)[0] != keys[0]


# --------------------------------------------------------------------------------------- model refs


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/linear_regression@production", ModelRef("linear_regression", alias="production")),
        ("models:/linear_regression/Production", ModelRef("linear_regression", stage="Production")),
        ("models:/linear_regression/staging", ModelRef("linear_regression", stage="Staging")),
        ("models:/linear_regression/12", ModelRef("linear_regression", version="12")),
        # What `mlflow models serve -m` also takes (mlflow/store/artifact/utils/models.py@v3.17.2): latest, any case.
        ("models:/linear_regression/latest", ModelRef("linear_regression")),
        ("models:/linear_regression/LATEST", ModelRef("linear_regression")),
        ("models:/linear_regression/PRODUCTION", ModelRef("linear_regression", stage="Production")),
    ],
)
def test_model_uris_parse_to_alias_stage_or_version(uri: str, expected: ModelRef) -> None:
    ref = ModelRef.parse(uri)
    assert ref == expected
    assert ModelRef.parse(ref.uri) == ref


def test_a_reference_reports_its_kind() -> None:
    """A stage is reported as a stage, not as an alias (issue 16, item 24)."""
    assert ModelRef.parse("models:/m@production").describe() == {"alias": "production"}
    assert ModelRef.parse("models:/m/production").describe() == {"stage": "Production"}
    assert ModelRef.parse("models:/m/3").describe() == {"version_ref": "3"}
    assert ModelRef.parse("models:/m/latest").describe() == {"version_ref": "latest"}


@pytest.mark.parametrize("uri", ["runs:/abc/model", "models:/", "models:/name/Prod", "models:/a/b/c"])
def test_bad_model_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="models:/|neither a version"):
        ModelRef.parse(uri)


# ------------------------------------------------------------------------------------------- settings


def test_settings_come_from_serving_env_with_mlflow_tracking_uri_as_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://fallback:5000")
    monkeypatch.setenv("SERVING_CACHE_KEY_PREFIX", "pr-12:")
    monkeypatch.setenv("SERVING_MAX_BATCH_ROWS", "50")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.registry_uri == "http://fallback:5000"
    assert (settings.cache_key_prefix, settings.max_batch_rows) == ("pr-12:", 50)
    assert settings.model_ref() == ModelRef("linear_regression", alias="production")
    assert str(settings.model_dir).startswith("/tmp"), "writable with a read-only root filesystem"
    monkeypatch.setenv("SERVING_REGISTRY_URI", "http://mlflow:5000")
    assert Settings().registry_uri == "http://mlflow:5000"  # type: ignore[call-arg]


def test_settings_errors_name_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ValidationError, match="SERVING_REGISTRY_URI"):
        Settings()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="SERVING_CACHE_URL or SERVING_CACHE_URL_FILE"):
        Settings(registry_uri="http://m", cache_enabled=True)
    with pytest.raises(ValidationError, match="model_uri"):
        Settings(registry_uri="http://m", model_uri="runs:/abc/model")
    with pytest.raises(ValidationError, match="max_batch_rows"):
        Settings(registry_uri="http://m", max_batch_rows=0)


def test_secrets_can_come_from_mounted_files(tmp_path: Path) -> None:
    url_file = tmp_path / "redis-url"
    url_file.write_text("rediss://:token@cache:6379/0\n")
    key_file = tmp_path / "cache-signing-key"
    key_file.write_text("k" * 40 + "\n")
    settings = Settings(
        registry_uri="http://m", cache_enabled=True, cache_url_file=url_file, cache_signing_key_file=key_file
    )
    assert settings.resolved_cache_url() == "rediss://:token@cache:6379/0"
    assert settings.resolved_cache_signing_key() == b"k" * 40
    assert "token" not in repr(Settings(registry_uri="http://m", cache_url="redis://:token@h:1/0"))


def test_every_setting_is_documented() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []


def test_importing_the_app_parses_no_settings() -> None:
    """Gunicorn imports `service.app` before the factory runs: an import must not need the environment."""
    code = "import service.app, service.settings; print('imported')"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


# ------------------------------------------------------------------------------------------- schemas


def test_named_columns_of_every_scalar_type_and_one_fixed_shape_tensor_are_served() -> None:
    """Tensors and binary columns are served since issue 17; what stays refused is named (several tensors, a
    variable inner dimension whose rows could share a cache key, a string tensor)."""
    tensor = InputSchema.from_signature(ModelSignature(inputs=Schema([TensorSpec(np.dtype("float64"), (-1, 3))])))
    assert tensor.describe() == [{"name": "", "type": "tensor float64 [-1, 3]"}] and not tensor.numeric
    for spec, match in (
        ([TensorSpec(np.dtype("float64"), (-1, 3), "a"), TensorSpec(np.dtype("float64"), (-1, 3), "b")], "2 tensors"),
        ([TensorSpec(np.dtype("float64"), (-1, -1))], "fixed sizes after it"),
        ([TensorSpec(np.dtype("str"), (-1, 2))], "dtype <U0"),
    ):
        with pytest.raises(UnsupportedSignature, match=match):
            InputSchema.from_signature(ModelSignature(inputs=Schema(spec)))
    strings = InputSchema.from_signature(infer_signature(pd.DataFrame({"name": ["a"], "x": [1.0]})))
    assert strings.describe() == [{"name": "name", "type": "string"}, {"name": "x", "type": "double"}]
    assert not strings.numeric
    when = InputSchema.from_signature(infer_signature(pd.DataFrame({"when": pd.to_datetime(["2026-01-01"])})))
    assert when.describe() == [{"name": "when", "type": "datetime"}] and not when.numeric
    raw = InputSchema.from_signature(infer_signature(pd.DataFrame({"raw": [b"\x00"], "x": [1.0]})))
    assert raw.binary and not raw.numeric
    with pytest.raises(UnsupportedSignature, match="without an input signature"):
        InputSchema.from_signature(None)


def test_schema_incompatibility_says_what_changed() -> None:
    old = InputSchema((Column("a", "double"), Column("b", "double")))
    assert old.incompatibility(old) is None
    renamed = InputSchema((Column("a", "double"), Column("c", "double")))
    assert "input columns changed from ['a', 'b'] to ['a', 'c']" in str(renamed.incompatibility(old))
    retyped = InputSchema((Column("a", "double"), Column("b", "long")))
    assert "b: double -> long" in str(retyped.incompatibility(old))


# -------------------------------------------------------------------------------- load and validate


def save(model: Any, path: Path, features: pd.DataFrame, example: bool = True) -> Path:
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(features, model.predict(features)),
        input_example=features.head(3) if example else None,
        pip_requirements=PIP_REQUIREMENTS,
    )
    return path


def save_pyfunc(python_model: LinearPythonModel, path: Path, features: pd.DataFrame) -> Path:
    mlflow.pyfunc.save_model(
        str(path),
        python_model=python_model,
        signature=infer_signature(features, np.zeros(len(features))),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
    )
    return path


PICKLE_ALLOWED = TrustPolicy(allow_pickle=True)


def opened(
    path: Path, version: str = "1", serving: LoadedModel | None = None, policy: TrustPolicy | None = None
) -> LoadedModel:
    model, probe = open_model(path, VersionRef("m", version, None), "production", time.monotonic(), policy)
    return replace(model, output_shape=validate(model, probe, serving))


@pytest.fixture(scope="module")
def sklearn_dir(tmp_path_factory: pytest.TempPathFactory, linear: LinearRegression, diabetes: Any) -> Path:
    return save(linear, tmp_path_factory.mktemp("sk") / "model", diabetes[0])


@pytest.fixture(scope="module")
def sklearn_model(sklearn_dir: Path) -> LoadedModel:
    return opened(sklearn_dir)


def test_sklearn_models_take_the_native_path_with_the_estimators_own_numbers(
    sklearn_model: LoadedModel, linear: LinearRegression, diabetes: Any
) -> None:
    features = diabetes[0]
    assert sklearn_model.flavor == "sklearn"
    assert isinstance(sklearn_model.predictor, NativePredictor)
    assert sklearn_model.schema.names == tuple(features.columns)
    assert sklearn_model.output_shape == ()
    native = sklearn_model.predictor.predict(features.to_numpy())
    assert native.tolist() == linear.predict(features).tolist()


def test_native_and_pyfunc_paths_give_the_same_numbers(
    sklearn_model: LoadedModel, sklearn_dir: Path, diabetes: Any, linear: LinearRegression, tmp_path: Path
) -> None:
    rows = diabetes[0].to_numpy()
    native = sklearn_model.predictor.predict(rows)
    through_pyfunc = PyfuncPredictor(mlflow.pyfunc.load_model(str(sklearn_dir)), sklearn_model.schema).predict(rows)
    # pyfunc's schema enforcement rebuilds the DataFrame with another memory layout, so BLAS sums in another
    # order: equal up to the last bits, not bit for bit.
    np.testing.assert_allclose(through_pyfunc, native, rtol=1e-12, atol=0)
    # A pyfunc-only model (no sklearn flavor) computing the same function goes through pyfunc, same numbers.
    handmade = LinearPythonModel(linear.coef_.tolist(), float(linear.intercept_), list(diabetes[0].columns))
    pyfunc_model = opened(save_pyfunc(handmade, tmp_path / "pyfunc", diabetes[0]), policy=PICKLE_ALLOWED)
    assert pyfunc_model.flavor == "pyfunc"
    np.testing.assert_allclose(pyfunc_model.predictor.predict(rows), native, rtol=1e-12)


def test_native_path_follows_the_estimators_column_order(diabetes: Any) -> None:
    features, target = diabetes
    reversed_columns = list(features.columns)[::-1]
    estimator = LinearRegression().fit(features[reversed_columns], target)
    predictor = NativePredictor(estimator, InputSchema(tuple(Column(c, "double") for c in features.columns)))
    expected = estimator.predict(features[reversed_columns])
    np.testing.assert_allclose(predictor.predict(features.to_numpy()), expected, rtol=1e-12, atol=0)


def test_a_model_that_outputs_nan_is_rejected(tmp_path: Path, linear: LinearRegression, diabetes: Any) -> None:
    broken = LinearPythonModel(linear.coef_.tolist(), 0.0, list(diabetes[0].columns), broken=True)
    with pytest.raises(ModelRejected, match="non-finite"):
        opened(save_pyfunc(broken, tmp_path / "broken", diabetes[0]), version="2", policy=PICKLE_ALLOWED)


def test_a_new_signature_is_rejected_while_another_serves(
    tmp_path: Path, sklearn_model: LoadedModel, diabetes: Any
) -> None:
    fewer = diabetes[0].drop(columns=["s6"])
    narrow = save(LinearRegression().fit(fewer, diabetes[1]), tmp_path / "narrow", fewer)
    assert opened(narrow).schema.names[-1] == "s5", "alone, it is a fine model"
    with pytest.raises(ModelRejected, match="signature incompatible with serving version 1: input columns changed"):
        opened(narrow, version="2", serving=sklearn_model)


def test_an_output_shape_change_is_rejected(tmp_path: Path, sklearn_model: LoadedModel, diabetes: Any) -> None:
    features, target = diabetes
    two_outputs = LinearRegression().fit(features, np.column_stack([target, target * 2]))
    path = save(two_outputs, tmp_path / "two", features)
    assert opened(path).output_shape == (2,)
    with pytest.raises(ModelRejected, match=r"output shape per row \(2,\) differs"):
        opened(path, version="2", serving=sklearn_model)


def test_a_model_without_input_example_is_validated_on_rows_of_distinct_values(
    tmp_path: Path, linear: LinearRegression, diabetes: Any
) -> None:
    model = opened(save(linear, tmp_path / "noexample", diabetes[0], example=False))
    assert model.flavor == "sklearn"


def test_probe_rows_hold_a_different_value_in_every_column_within_the_training_spread() -> None:
    """A row of zeros gives the same output for every order of the columns; these rows do not."""
    schema = InputSchema((Column("a", "double"), Column("b", "double"), Column("n", "long"), Column("f", "boolean")))
    stats = {"features": {"a": {"mean": 10.0, "std": 2.0}, "b": {"mean": 10.0, "std": 2.0}}}
    rows = distinct_rows(schema, stats)
    assert rows.shape == (2, 4)
    for row in rows:
        assert len(set(row[:3])) == 3, row
    assert 8.0 <= rows[:, :2].min() and rows[:, :2].max() <= 12.0, "within one std of the training mean"
    assert set(rows[:, 3]) <= {0.0, 1.0} and rows[0, 3] != rows[1, 3]
    assert float(rows[0, 2]).is_integer()
    assert not np.array_equal(rows[0], rows[1])
    assert len(set(distinct_rows(schema, None)[0][:3])) == 3


# -------------------------------------------------------------------------------- process set-up


def test_mlflow_client_gets_timeouts_and_credentials_from_mounted_files(tmp_path: Path) -> None:
    (tmp_path / "username").write_text("serving\n")
    (tmp_path / "password").write_text("s3cret\n")
    with mock.patch.dict(os.environ):
        configure_mlflow_client(2.5, 1, tmp_path / "username", tmp_path / "password")
        assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("serving", "s3cret")
        assert (os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"], os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) == ("3", "1")


def test_each_app_downloads_into_its_own_directory_and_removes_dead_workers_ones(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"worker-{dead.pid}-0a1b2c3d"
    sibling = tmp_path / f"worker-{os.getpid()}-deadbeef"
    for directory in (stale, sibling):
        (directory / "model-v1").mkdir(parents=True)
    own = _worker_model_dir(tmp_path)
    assert own.is_dir() and own.name.startswith(f"worker-{os.getpid()}-") and own != sibling
    assert not stale.exists(), "left by a worker that is gone"
    assert sibling.exists(), "another app in a live process keeps its downloads"
