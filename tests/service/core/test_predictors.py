"""The predict paths a loaded version takes: the estimator's own (native) or MLflow's pyfunc, same numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from sklearn.linear_model import LinearRegression

from service.core.loader import LoadedModel
from service.core.predictors import NativePredictor, PyfuncPredictor
from service.core.schema import Column, InputSchema
from tests.support.models import PICKLE_ALLOWED, LinearPythonModel, opened, save_pyfunc


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
