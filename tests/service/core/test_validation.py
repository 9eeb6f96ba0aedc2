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
        ({"instances": [ROW], "colour": 1}, InvalidRequest, 422, None, "colour", "unknown key 'colour'"),
        ({"instances": [{**ROW, "bmi": "high"}]}, InvalidRequest, 422, 0, "bmi", 'expected a number .*"high"'),
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
    assert field is None or field in raised.value.message, "the message names the field too"


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
        (
            '{"dataframe_split": {"columns": ["age", "bmi"], "data": [[1, 2]]}}',
            "application/json",
            SchemaMismatch,
            None,
            "s1",
            "missing field 's1'",
        ),
        ('{"instances": [{"age": 0.5, "bmi": NaN, "s1": 3}]}', "application/json", InvalidRequest, 0, "bmi", "nan"),
        (
            '{"dataframe_records": [{"age": 1, "bmi": "abc", "s1": 3}]}',
            "application/json",
            InvalidRequest,
            0,
            "bmi",
            "abc",
        ),
        ('{"dataframe_records": []}', "application/json", SchemaMismatch, None, "dataframe_records", "is empty"),
        (
            '{"instances": [{"age": 1}], "inputs": [[1]]}',
            "application/json",
            InvalidRequest,
            None,
            None,
            "'inputs', 'instances'",
        ),
    ],
)
def test_bad_invocations_bodies_are_named(
    raw: str, content_type: str | None, error: type[ServiceError], row: int | None, field: str | None, message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        invocations(raw, content_type)
    assert (raised.value.row, raised.value.field) == (row, field)
    assert field is None or field.rsplit(".", 1)[-1] in raised.value.message, "the message names the field too"


def test_invocations_rows_over_the_batch_limit_are_413() -> None:
    with pytest.raises(PayloadTooLarge):
        invocations(body({"dataframe_split": {"columns": ["age", "bmi", "s1"], "data": [[1, 2, 3]] * 3}}), max_rows=2)
    with pytest.raises(PayloadTooLarge):
        invocations("age,bmi,s1\n" + "1,2,3\n" * 3, "text/csv", max_rows=2)
    with pytest.raises(PayloadTooLarge, match='"dataframe_records" has 3 rows') as records:
        invocations(body({"dataframe_records": [ROW] * 3}), max_rows=2)
    assert (records.value.status, records.value.field) == (413, "dataframe_records")


# ------------------------------------------------------------------------------------------------------ hostile bodies

NESTED_ARRAYS = b"[" * 2000 + b"]" * 2000  # ~4 KB
NESTED_OBJECTS = b'{"a":' * 2000 + b"1" + b"}" * 2000


@pytest.mark.parametrize("raw", [NESTED_ARRAYS, NESTED_OBJECTS, b'{"instances": [' + NESTED_ARRAYS + b"]}"])
@pytest.mark.parametrize("parse", ["predict", "invocations"])
def test_a_nesting_bomb_is_a_400_not_a_recursion_error(raw: bytes, parse: str) -> None:
    """orjson stops at depth 1024; the standard-library fallback raised RecursionError (a 500) past its own limit."""
    with pytest.raises(MalformedBody, match="not valid JSON"):
        predict(raw) if parse == "predict" else invocations(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"instances": [{"age": 1' + b"0" * 5000 + b', "bmi": 1, "s1": 1}]}',  # over the 4300-digit limit
        b'{"instances": [{"age": "\xff", "bmi": 1, "s1": 1}]}',  # not UTF-8
    ],
)
def test_literals_the_standard_library_cannot_read_are_a_400(raw: bytes) -> None:
    with pytest.raises(MalformedBody):
        predict(raw)


def test_a_deeply_nested_value_is_named_without_serializing_it() -> None:
    """The error message once rendered the value with json.dumps, which recursed as deep as the value."""
    deep: list[object] = []
    for _ in range(800):
        deep = [deep]
    with pytest.raises(InvalidRequest, match="field 'bmi': expected a number .*got a list of 1") as raised:
        invocations(body({"dataframe_records": [{**ROW, "bmi": deep}]}))
    assert raised.value.field == "bmi"


@pytest.mark.parametrize("name", [["age"], {"a": 1}, 7, None])
def test_a_non_string_column_name_in_dataframe_split_is_refused_by_position(name: object) -> None:
    """A list or object as a column name reached a dict as key (TypeError: unhashable, a 500)."""
    payload = {"dataframe_split": {"columns": ["age", name, "s1"], "data": [[1, 2, 3]]}}
    with pytest.raises(SchemaMismatch, match="column 1 of .*column names are strings") as raised:
        invocations(body(payload))
    assert raised.value.field == "dataframe_split.columns"


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (body({"dataframe_split": {"columns": ["age", "bmi", "s1", "age"], "data": [[1, 2, 3, 4]]}}), None),
        (body({"dataframe_split": {"columns": ["age", "bmi", "s1", "x", "x"], "data": [[1, 2, 3, 4, 5]]}}), None),
    ],
)
def test_a_column_named_twice_is_refused_as_mlflow_refuses_it(raw: bytes, content_type: str | None) -> None:
    """mlflow models serve 3.17.2 answers a duplicated column with 400 INVALID_PARAMETER_VALUE (schema enforcement);
    this service used whichever copy came last."""
    with pytest.raises(SchemaMismatch, match="named twice") as raised:
        invocations(raw)
    assert raised.value.field in ("age", "x")


INTS = InputSchema((Column("n", "long"), Column("i", "integer")))


@pytest.mark.parametrize(
    ("n", "i", "field"),
    [
        (2**63, 0, "n"),  # wrapped to -2**63 in the int64 cast
        (-(2**63) - 1, 0, "n"),
        (2**53 + 1, 0, "n"),  # a float64 row holds it as 2**53: another number reached the model
        (0, 2**31, "i"),  # wrapped to -2**31 in the int32 cast
        (0, -(2**31) - 1, "i"),
        ("9007199254740993", 0, "n"),  # a numeric string, on the lenient /invocations path
        (1e300, 0, "n"),  # an integral float, accepted for an integer column on /invocations
    ],
)
def test_integers_outside_their_columns_range_get_422_naming_row_and_field(n: object, i: object, field: str) -> None:
    rows = [{"n": 1, "i": 1}, {"n": n, "i": i}]
    with pytest.raises(InvalidRequest, match=f"row 1, field '{field}': .*out of range") as raised:
        parse_invocations(body({"dataframe_records": rows}), "application/json", INTS, 10)
    assert (raised.value.status, raised.value.row, raised.value.field) == (422, 1, field)
    if isinstance(n, int) and isinstance(i, int):
        # orjson reads integers beyond int64 as floats, which the strict /predict refuses as not integers.
        with pytest.raises(InvalidRequest, match=f"field '{field}': .*(out of range|expected an integer)"):
            parse_predict(body({"instances": rows}), INTS, 10)


def test_integers_at_the_edges_of_their_range_pass_exactly() -> None:
    rows = [{"n": 2**53, "i": 2**31 - 1}, {"n": -(2**53), "i": -(2**31)}]
    matrix = parse_predict(body({"instances": rows}), INTS, 10)
    assert matrix.tolist() == [[2.0**53, 2.0**31 - 1], [-(2.0**53), -(2.0**31)]]


def test_parquet_bodies_give_the_same_rows_as_mlflow_3_reads_them() -> None:
    """mlflow/pyfunc/scoring_server/__init__.py@v3.17.2 reads application/vnd.apache.parquet with read_parquet."""
    import io

    import pandas as pd

    frame = pd.DataFrame({"s1": [3.0], "age": [0.5], "bmi": [-1.25], "extra": ["ignored"]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert invocations(buffer.getvalue(), "application/vnd.apache.parquet").tolist() == [[0.5, -1.25, 3.0]]
    with pytest.raises(MalformedBody, match="not a Parquet table"):
        invocations(b"not parquet", "application/vnd.apache.parquet")
