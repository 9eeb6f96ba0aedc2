"""The shortcuts of the hot path give exactly what the long way gives, errors included.

- Linear models predict with their own numpy product instead of sklearn's predict.
- A dataframe_split header that is the signature, in order, keeps its rows as they are.
- Bodies without a JSON boolean let numpy's type inference stand in for a per-value type check.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import Lasso, LinearRegression, Ridge

from service.core.errors import InvalidRequest, SchemaMismatch, ServiceError
from service.core.predictors import NativePredictor
from service.core.schema import InputSchema
from service.core.validation import parse_invocations, parse_predict
from training.train import signature

SCHEMA = InputSchema.from_signature(signature())
NAMES = list(SCHEMA.names)


@pytest.mark.parametrize("estimator", [LinearRegression(), Ridge(alpha=0.5), Lasso(alpha=0.01)])
def test_linear_models_predict_bit_for_bit_what_sklearn_predicts(estimator: Any, diabetes: Any) -> None:
    features, target = diabetes
    estimator.fit(features, target)
    predictor = NativePredictor(estimator, SCHEMA)
    rows = features.to_numpy()
    expected = estimator.predict(features)
    if isinstance(estimator, Lasso):
        assert predictor.linear is None, "Lasso has a _decision_function of its own: sklearn's predict is kept"
    else:
        assert predictor.linear is not None
    assert predictor.predict(rows).tolist() == expected.tolist()
    assert predictor.predict(rows[:1]).tolist() == expected[:1].tolist()


def test_a_multi_output_linear_model_keeps_its_output_shape(diabetes: Any) -> None:
    features, target = diabetes
    two = np.column_stack([target, -target])
    estimator = LinearRegression().fit(features, two)
    out = NativePredictor(estimator, SCHEMA).predict(features.to_numpy())
    assert out.shape == (len(features), 2)
    np.testing.assert_array_equal(out, estimator.predict(features))


def split(columns: list[str], data: list[Any]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": data}}).encode()


def test_a_header_in_signature_order_and_one_in_another_order_give_the_same_matrix(diabetes: Any) -> None:
    frame = diabetes[0].head(50)
    in_order = parse_invocations(split(NAMES, frame.to_numpy().tolist()), "application/json", SCHEMA, 1000)
    shuffled = NAMES[::-1]
    other = parse_invocations(split(shuffled, frame[shuffled].to_numpy().tolist()), "application/json", SCHEMA, 1000)
    np.testing.assert_array_equal(in_order, frame.to_numpy())
    np.testing.assert_array_equal(other, in_order)


ROW = [0.01 * i for i in range(10)]


def bad(row: int, column: int, value: Any, rows: int = 3) -> list[list[Any]]:
    data = [list(ROW) for _ in range(rows)]
    data[row][column] = value
    return data


@pytest.mark.parametrize(
    ("data", "error", "row", "field"),
    [
        (bad(2, 4, None), InvalidRequest, 2, "s1"),
        (bad(1, 0, [1.0]), InvalidRequest, 1, "age"),
        (bad(0, 9, {"x": 1}), InvalidRequest, 0, "s6"),
        ([*bad(0, 0, 0.5), ROW[:9]], SchemaMismatch, 3, None),  # ragged: the row check names it
    ],
)
def test_values_numpy_cannot_take_as_numbers_fail_with_their_row_and_field(
    data: list[Any], error: type[ServiceError], row: int, field: str | None
) -> None:
    for body, parse in (
        (split(NAMES, data), lambda b: parse_invocations(b, "application/json", SCHEMA, 1000)),
        (json.dumps({"inputs": data}).encode(), lambda b: parse_predict(b, SCHEMA, 1000)),
    ):
        with pytest.raises(error) as caught:
            parse(body)
        assert (caught.value.row, caught.value.field) == (row, field), caught.value.message


def test_numeric_strings_are_converted_on_invocations_and_refused_on_predict() -> None:
    data = bad(1, 2, "0.5")
    matrix = parse_invocations(split(NAMES, data), "application/json", SCHEMA, 1000)
    assert matrix[1, 2] == 0.5
    with pytest.raises(InvalidRequest) as caught:
        parse_predict(json.dumps({"inputs": data}).encode(), SCHEMA, 1000)
    assert (caught.value.row, caught.value.field) == (1, "bmi")


def test_booleans_still_get_their_own_check() -> None:
    data = bad(0, 1, True)
    assert parse_invocations(split(NAMES, data), "application/json", SCHEMA, 1000)[0, 1] == 1.0  # MLflow's leniency
    with pytest.raises(InvalidRequest) as caught:
        parse_predict(json.dumps({"inputs": data}).encode(), SCHEMA, 1000)
    assert (caught.value.row, caught.value.field) == (0, "sex")


def test_integers_become_floats_and_non_finite_values_are_named() -> None:
    ints = [[i + j for j in range(10)] for i in range(4)]
    matrix = parse_predict(json.dumps({"inputs": ints}).encode(), SCHEMA, 1000)
    assert matrix.dtype == np.float64 and matrix.tolist() == [[float(v) for v in r] for r in ints]
    body = split(NAMES, bad(2, 3, 0.0)).replace(b"0.0", b"Infinity", 1)
    with pytest.raises(InvalidRequest) as caught:
        parse_invocations(body, "application/json", SCHEMA, 1000)
    assert caught.value.field is not None and "finite" in caught.value.message
