"""Request bodies become float64 rows in signature order, or an error that names the row and field at fault."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.core.errors import (
    InvalidRequest,
    MalformedBody,
    PayloadTooLarge,
    SchemaMismatch,
    ServiceError,
    UnsupportedMediaType,
)
from service.core.schema import Column, InputSchema
from service.core.validation import parse_invocations, parse_predict

SCHEMA = InputSchema((Column("age", "double"), Column("bmi", "double"), Column("s1", "double")))
MIXED = InputSchema((Column("x", "double"), Column("n", "long"), Column("flag", "boolean")))
ROW = {"age": 0.5, "bmi": -1.25, "s1": 3}


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def predict(obj: object, schema: InputSchema = SCHEMA, max_rows: int = 100) -> np.ndarray:
    raw = obj if isinstance(obj, bytes) else body(obj)
    return parse_predict(raw, schema, max_rows)


def test_instances_become_rows_in_signature_order_whatever_the_key_order() -> None:
    shuffled = {"s1": 3, "age": 0.5, "bmi": -1.25}
    matrix = predict({"instances": [ROW, shuffled]})
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[0.5, -1.25, 3.0], [0.5, -1.25, 3.0]]


def test_inputs_are_positional_rows_in_signature_order() -> None:
    assert predict({"inputs": [[1, 2.5, -3]]}).tolist() == [[1.0, 2.5, -3.0]]


def test_integer_and_boolean_columns_are_checked_per_type() -> None:
    assert predict({"instances": [{"x": 1.5, "n": 7, "flag": True}]}, MIXED).tolist() == [[1.5, 7.0, 1.0]]
    with pytest.raises(InvalidRequest, match="expected an integer") as bad_int:
        predict({"instances": [{"x": 1.5, "n": 7.5, "flag": True}]}, MIXED)
    assert bad_int.value.field == "n"
    with pytest.raises(InvalidRequest, match="expected true or false") as bad_bool:
        predict({"instances": [{"x": 1.5, "n": 7, "flag": 1}]}, MIXED)
    assert bad_bool.value.field == "flag"


@pytest.mark.parametrize(
    ("payload", "error", "status", "row", "field", "message"),
    [
        ({"instances": [ROW, {"age": 1, "bmi": 2}]}, SchemaMismatch, 422, 1, "s1", "row 1: missing field 's1'"),
        ({"instances": [{**ROW, "zzz": 1}]}, SchemaMismatch, 422, 0, "zzz", "unknown field 'zzz'"),
        ({"instances": [ROW, {**ROW, "bmi": "0.5"}]}, InvalidRequest, 422, 1, "bmi", "expected a number"),
        ({"instances": [{**ROW, "bmi": True}]}, InvalidRequest, 422, 0, "bmi", "expected a number"),
        ({"instances": [{**ROW, "bmi": None}]}, InvalidRequest, 422, 0, "bmi", "null is not a value"),
        ({"instances": [{**ROW, "bmi": [1]}]}, InvalidRequest, 422, 0, "bmi", "expected a number"),
        ({"instances": [{**ROW, "s1": 10**400}]}, InvalidRequest, 422, 0, "s1", "out of the float64 range"),
        ({"instances": [ROW, ROW, [1, 2, 3]]}, InvalidRequest, 422, 2, None, "must be an object"),
        ({"inputs": [[1, 2, 3], [1, 2]]}, SchemaMismatch, 422, 1, None, "row 1 has 2 values; the model takes 3"),
        ({"inputs": [[1, 2, 3], {"age": 1}]}, InvalidRequest, 422, 1, None, "must be a list of values"),
        ({"instances": []}, SchemaMismatch, 422, None, "instances", "is empty"),
        ({"inputs": []}, SchemaMismatch, 422, None, "inputs", "is empty"),
        ({"instances": {"age": [1]}}, InvalidRequest, 422, None, "instances", "must be a list of rows"),
        ({"rows": [ROW]}, InvalidRequest, 422, None, "instances", 'exactly one of "instances" and "inputs"'),
        ({"instances": [ROW], "inputs": [[1, 2, 3]]}, InvalidRequest, 422, None, "instances", "exactly one"),
        ({"instances": [ROW], "params": {}}, InvalidRequest, 422, None, "params", "unknown key 'params'"),
        ([ROW], InvalidRequest, 422, None, None, "must be a JSON object"),
        ({"instances": [ROW] * 101}, PayloadTooLarge, 413, None, "instances", "101 rows; the limit is 100"),
    ],
)
def test_bad_predict_bodies_name_the_row_and_field(
    payload: object, error: type[ServiceError], status: int, row: int | None, field: str | None, message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        predict(payload)
    assert (raised.value.status, raised.value.row, raised.value.field) == (status, row, field)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"instances": [{"age": 0.5, "bmi": NaN, "s1": 3}]}', "nan"),
        (b'{"instances": [{"age": 0.5, "bmi": Infinity, "s1": 3}]}', "inf"),
        (b'{"instances": [{"age": 0.5, "bmi": -Infinity, "s1": 3}]}', "-inf"),
        (b'{"instances": [{"age": 0.5, "bmi": 1e999, "s1": 3}]}', "inf"),
        (b'{"inputs": [[0.5, 1.0, 2.0], [0.5, NaN, 2.0]]}', "nan"),
    ],
)
def test_nan_and_infinity_literals_get_422_naming_the_value_not_a_json_error(raw: bytes, value: str) -> None:
    """JSON has no NaN; orjson refuses it, the standard library reads it: either way the caller learns where."""
    with pytest.raises(InvalidRequest, match=f"field 'bmi': {value} is not allowed") as raised:
        predict(raw)
    assert raised.value.status == 422 and raised.value.field == "bmi"
    assert raised.value.row == (1 if b"inputs" in raw else 0)


def test_a_body_that_is_not_json_is_400() -> None:
    with pytest.raises(MalformedBody, match="not valid JSON") as raised:
        predict(b'{"instances": [')
    assert raised.value.status == 400


# ------------------------------------------------------------------------------------- /invocations


def invocations(raw: bytes | str, content_type: str | None = "application/json", max_rows: int = 100) -> np.ndarray:
    data = raw.encode() if isinstance(raw, str) else raw
    return parse_invocations(data, content_type, SCHEMA, max_rows)


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["s1", "bmi", "age", "extra"], "data": [[3, -1.25, 0.5, "ignored"]]}},
        {"dataframe_records": [{**ROW, "extra": "ignored"}]},
        {"instances": [ROW]},
        {"inputs": [ROW]},
        {"inputs": {"age": [0.5], "bmi": [-1.25], "s1": [3]}},
        {"instances": [{**ROW, "bmi": "-1.25"}], "params": {"ignored": 1}},
    ],
)
def test_every_mlflow_json_format_gives_the_same_rows(payload: object) -> None:
    assert invocations(body(payload)).tolist() == [[0.5, -1.25, 3.0]]


def test_csv_with_a_header_gives_the_same_rows() -> None:
    assert invocations("s1,age,bmi\n3,0.5,-1.25\n", "text/csv").tolist() == [[0.5, -1.25, 3.0]]
    assert invocations("age,bmi,s1\n0.5,-1.25,3\n", "text/csv; charset=utf-8").tolist() == [[0.5, -1.25, 3.0]]


@pytest.mark.parametrize(
    ("raw", "content_type", "error", "row", "field", "message"),
    [
        ("age,bmi\n1,2\n", "text/csv", SchemaMismatch, None, "s1", "missing field 's1'"),
        ("age,bmi,s1\n1,,3\n", "text/csv", InvalidRequest, 0, "bmi", "nan is not allowed"),
        ("age,bmi,s1\n1,abc,3\n", "text/csv", InvalidRequest, 0, "bmi", "could not convert string 'abc'"),
        ("", "text/csv", MalformedBody, None, None, "not a CSV table"),
        ('{"dataframe_records": {"age": 1}}', "application/json", InvalidRequest, None, "dataframe_records", "list"),
        (
            '{"dataframe_split": {"data": [[1, 2, 3]]}}',
            "application/json",
            SchemaMismatch,
            None,
            "dataframe_split.columns",
            "columns",
        ),
        ('{"inputs": [[0.5, -1.25, 3]]}', "application/json", SchemaMismatch, None, "inputs", "positional rows"),
        ('{"instances": []}', "application/json", SchemaMismatch, None, "instances", "is empty"),
        ('{"foo": 1}', "application/json", InvalidRequest, None, None, "exactly one of the fields"),
        ("[1, 2]", "application/json", InvalidRequest, None, None, "received a list"),
        ("{nope", "application/json", MalformedBody, None, None, "not valid JSON"),
        ("{}", "application/xml", UnsupportedMediaType, None, None, "supported content types"),
        ("{}", "application/json; charset=latin-1", UnsupportedMediaType, None, None, "only supports UTF-8"),
        ("{}", "application/json; foo=bar", UnsupportedMediaType, None, None, "unrecognized .* foo"),
        ("{}", None, UnsupportedMediaType, None, None, "Content-Type header is required"),
    ],
)
def test_bad_invocations_bodies_are_named(
    raw: str, content_type: str | None, error: type[ServiceError], row: int | None, field: str | None, message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        invocations(raw, content_type)
    assert (raised.value.row, raised.value.field) == (row, field)


def test_invocations_rows_over_the_batch_limit_are_413() -> None:
    with pytest.raises(PayloadTooLarge):
        invocations(body({"dataframe_split": {"columns": ["age", "bmi", "s1"], "data": [[1, 2, 3]] * 3}}), max_rows=2)
    with pytest.raises(PayloadTooLarge):
        invocations("age,bmi,s1\n" + "1,2,3\n" * 3, "text/csv", max_rows=2)
