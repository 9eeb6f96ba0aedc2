"""Loading a version: what it is validated on before it serves, and what gets it rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from service.core.loader import LoadedModel, ModelRejected
from tests.support.models import PICKLE_ALLOWED, LinearPythonModel, opened, save_pyfunc, save_sklearn


def test_a_model_that_outputs_nan_is_rejected(tmp_path: Path, linear: LinearRegression, diabetes: Any) -> None:
    broken = LinearPythonModel(linear.coef_.tolist(), 0.0, list(diabetes[0].columns), broken=True)
    with pytest.raises(ModelRejected, match="non-finite"):
        opened(save_pyfunc(broken, tmp_path / "broken", diabetes[0]), version="2", policy=PICKLE_ALLOWED)


def test_a_new_signature_is_rejected_while_another_serves(
    tmp_path: Path, sklearn_model: LoadedModel, diabetes: Any
) -> None:
    fewer = diabetes[0].drop(columns=["s6"])
    narrow = save_sklearn(LinearRegression().fit(fewer, diabetes[1]), tmp_path / "narrow", fewer)
    assert opened(narrow).schema.names[-1] == "s5", "alone, it is a fine model"
    with pytest.raises(ModelRejected, match="signature incompatible with serving version 1: input columns changed"):
        opened(narrow, version="2", serving=sklearn_model)


def test_an_output_shape_change_is_rejected(tmp_path: Path, sklearn_model: LoadedModel, diabetes: Any) -> None:
    features, target = diabetes
    two_outputs = LinearRegression().fit(features, np.column_stack([target, target * 2]))
    path = save_sklearn(two_outputs, tmp_path / "two", features)
    assert opened(path).output_shape == (2,)
    with pytest.raises(ModelRejected, match=r"output shape per row \(2,\) differs"):
        opened(path, version="2", serving=sklearn_model)


def test_a_model_without_input_example_is_validated_on_rows_of_distinct_values(
    tmp_path: Path, linear: LinearRegression, diabetes: Any
) -> None:
    model = opened(save_sklearn(linear, tmp_path / "noexample", diabetes[0], example=False))
    assert model.flavor == "sklearn"
