"""The fast decoder builds the matrix the validating path builds, and never changes an answer.

Every body of the table is parsed twice, with the fast decoder and with it switched off: the matrices must be
the same bytes (so `-0.0`, `1` vs `1.0` and integers beyond 2^53 come out alike) and every malformed body must
raise the same error, with the same status, message, row and field. Well-formed bodies of numbers must also
really take the fast path.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pytest

from service.core import fastdecode, validation
from service.core.errors import ServiceError
from service.core.schema import Column, InputSchema

FLOATS = InputSchema((Column("a", "double"), Column("b", "double"), Column("c", "float")))
INTS = InputSchema((Column("n", "long"), Column("k", "integer"), Column("x", "double")))
ONE = InputSchema((Column("a", "double"),))
LETTERS = InputSchema((Column("t", "double"), Column("f", "double"), Column("n", "double")))
QUOTED = InputSchema((Column('say "a"', "double"), Column("b\\", "double")))  # names with a quote, a backslash
MAX_ROWS = 1000
JSON = "application/json"

rng = random.Random(18)
BIG = [[rng.uniform(-1e6, 1e6), rng.randint(-(10**6), 10**6), rng.random()] for _ in range(1000)]

# (schema, endpoint, body) taken by the fast path.
WELL_FORMED: list[tuple[InputSchema, str, Any]] = [
    (FLOATS, "predict", {"inputs": [[1.5, -0.0, 3], [2**60, 0.1, -7]]}),
    (FLOATS, "predict", {"inputs": BIG}),
    (FLOATS, "predict", {"instances": [{"c": 3, "a": 1.5, "b": -0.0}, {"b": 2.0, "c": 1e300, "a": 0}]}),
    (FLOATS, "predict", {"instances": [dict(zip("abc", r, strict=True)) for r in BIG]}),
    (ONE, "predict", {"instances": [{"a": 1}, {"a": 2.5}]}),
    (ONE, "predict", {"inputs": [[1], [2.5]]}),
    (INTS, "predict", {"inputs": [[2**53, -(2**31), 5], [-(2**53), 2**31 - 1, 0]]}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": BIG}}),
    (LETTERS, "invocations", b'{"dataframe_split": {"columns": ["t", "f", "n"], "data": [[1e5, -2E-3, 3]]}}'),
    (QUOTED, "invocations", {"dataframe_split": {"columns": list(QUOTED.names), "data": [[1, 2.5], [-0.0, 2**64]]}}),
    (FLOATS, "invocations", {"dataframe_records": [{"a": 1, "b": 2.5, "c": 3, "extra": "ignored"}]}),
    (FLOATS, "invocations", {"instances": [{"a": 1, "b": 2.5, "c": 3}], "params": None}),
    (FLOATS, "invocations", {"inputs": [{"c": -1, "b": 2.5, "a": 3}]}),
    (INTS, "invocations", {"dataframe_records": [{"n": 1, "k": 2, "x": 3}]}),
]

# (schema, endpoint, body) the validating path answers (an error, or a conversion the fast path leaves to it).
UNUSUAL: list[tuple[InputSchema, str, Any]] = [
    (FLOATS, "predict", b'{"inputs": [[NaN, 1, 2]]}'),
    (FLOATS, "predict", b'{"inputs": [[1e400, 1, 2]]}'),
    (FLOATS, "predict", b'{"inputs": [[1, 2, 3]'),
    (FLOATS, "predict", b"\xff\xfe"),
    (FLOATS, "predict", {"inputs": [[1, None, 2]]}),
    (FLOATS, "predict", {"inputs": [[1, "2", 3]]}),
    (FLOATS, "predict", {"inputs": [[1, True, 3]]}),
    (FLOATS, "predict", {"inputs": [[1, 2, 3], [1, 2]]}),
    (FLOATS, "predict", {"inputs": [[1, 2, 3, 4]]}),
    (FLOATS, "predict", {"inputs": [[1, [2], 3]]}),
    (FLOATS, "predict", {"inputs": [[1, {"x": 2}, 3]]}),
    # A name's letter written as an escape, and a word in the data that puts the letter count back.
    (LETTERS, "invocations", b'{"dataframe_split": {"columns": ["\\u0074", "f", "n"], "data": [[true, 2, 3]]}}'),
    (LETTERS, "invocations", b'{"dataframe_split": {"columns": ["t", "\\u0066", "n"], "data": [[1, false, 3]]}}'),
    (LETTERS, "invocations", b'{"dataframe_split": {"columns": ["t", "f", "\\u006e"], "data": [[1, 2, null]]}}'),
    (LETTERS, "invocations", b'{"dataframe_split": {"columns": ["t", "f", "n"], "data": [[1, 2, null]]}}'),
    (LETTERS, "invocations", b'{"dataframe_split": {"columns": ["t", "f", "n"], "data": [[1, 2, "3"]]}}'),
    (LETTERS, "predict", b'{"inputs": [[true, 2, 3]], "\\u0074": 1}'),
    (FLOATS, "predict", {"inputs": [[1, 2, 3], [4, 5, 6, 7], [8, 9]]}),
    (FLOATS, "predict", {"inputs": ["abc"]}),
    (FLOATS, "predict", {"inputs": [[[1, 2, 3]]]}),
    (FLOATS, "predict", {"inputs": [{"a": 1, "b": 2, "c": 3}]}),
    (FLOATS, "predict", {"inputs": [1, 2, 3]}),
    (FLOATS, "predict", {"inputs": []}),
    (FLOATS, "predict", {"inputs": [[1, 2, 3]] * (MAX_ROWS + 1)}),
    (FLOATS, "predict", {"inputs": [[1, 2, 3]], "instances": []}),
    (FLOATS, "predict", {"inputs": [[1, 2, 3]], "extra": 1}),
    (FLOATS, "predict", {"rows": [[1, 2, 3]]}),
    (FLOATS, "predict", [[1, 2, 3]]),
    (FLOATS, "predict", {"inputs": [[2**70, 1, 2]]}),
    (FLOATS, "predict", {"instances": [{"a": 1, "b": 2}]}),
    (FLOATS, "predict", {"instances": [{"a": 1, "b": 2, "c": 3, "d": 4}]}),
    (FLOATS, "predict", {"instances": [[1, 2, 3]]}),
    (FLOATS, "predict", {"instances": ["abc"]}),
    (FLOATS, "predict", {"instances": [{"a": 1, "b": 2, "c": "x"}]}),
    (ONE, "predict", {"instances": [{"a": [1, 2]}]}),
    (ONE, "predict", {"inputs": [[1, 2]]}),
    (INTS, "predict", {"inputs": [[1.0, 2, 3]]}),
    (INTS, "predict", {"inputs": [[1.5, 2, 3]]}),
    (INTS, "predict", {"inputs": [[2**53 + 1, 2, 3]]}),
    (INTS, "predict", {"inputs": [[1, 2**31, 3]]}),
    (INTS, "predict", {"inputs": [[1, -(2**31) - 1, 3]]}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]], "index": [7]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["c", "b", "a"], "data": [[1, 2, 3]]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2]]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": []}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, None, 3]]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, {"x": 2}, 3]]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, [2], 3]]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3], 4]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3], [4, 5]]}}),
    (FLOATS, "invocations", {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2], [3, 4, 5, 6]]}}),
    (FLOATS, "invocations", {"dataframe_records": [{"a": 1, "b": 2}]}),
    (FLOATS, "invocations", {"dataframe_records": [{"a": "1.5", "b": 2, "c": 3}]}),
    (FLOATS, "invocations", {"dataframe_records": [{"a": True, "b": 2, "c": 3}]}),
    (FLOATS, "invocations", {"instances": [[1, 2, 3]]}),
    (FLOATS, "invocations", {"inputs": {"a": [1], "b": [2], "c": [3]}}),
    (FLOATS, "invocations", {"inputs": [{"a": 1, "b": 2, "c": 3}], "instances": []}),
    (INTS, "invocations", {"dataframe_records": [{"n": 1.0, "k": 2, "x": 3}]}),
    (INTS, "invocations", {"dataframe_records": [{"n": 2**53 + 1, "k": 2, "x": 3}]}),
]


def encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def parse(schema: InputSchema, endpoint: str, body: bytes, content_type: str | None = JSON) -> Any:
    """The matrix as (dtype, shape, bytes), or the error as (type, status, message, row, field)."""
    try:
        if endpoint == "predict":
            matrix = validation.parse_predict(body, schema, MAX_ROWS)
        else:
            matrix = validation.parse_invocations(body, content_type, schema, MAX_ROWS)
    except ServiceError as e:
        return type(e).__name__, e.status, e.message, e.row, e.field
    return str(matrix.dtype), matrix.shape, matrix.tobytes()


@pytest.fixture
def without_fast_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    def slow(*args: Any) -> Any:
        with monkeypatch.context() as m:
            m.setattr(fastdecode, "predict_matrix", lambda *a: None)
            m.setattr(fastdecode, "invocations_matrix", lambda *a: None)
            return parse(*args)

    yield slow


@pytest.mark.parametrize(("schema", "endpoint", "body"), WELL_FORMED)
def test_well_formed_numbers_take_the_fast_path_to_the_same_matrix(
    schema: InputSchema, endpoint: str, body: Any, without_fast_path: Callable[..., Any]
) -> None:
    raw = encoded(body)
    fast = (
        fastdecode.predict_matrix(raw, schema, MAX_ROWS)
        if endpoint == "predict"
        else fastdecode.invocations_matrix(raw, JSON, schema, MAX_ROWS)
    )
    assert fast is not None, "taken by the fast path"
    assert fast.dtype == np.float64
    assert parse(schema, endpoint, raw) == without_fast_path(schema, endpoint, raw)


@pytest.mark.parametrize(("schema", "endpoint", "body"), UNUSUAL)
def test_anything_unusual_gets_the_validating_paths_answer(
    schema: InputSchema, endpoint: str, body: Any, without_fast_path: Callable[..., Any]
) -> None:
    raw = encoded(body)
    assert parse(schema, endpoint, raw) == without_fast_path(schema, endpoint, raw)


@pytest.mark.parametrize("content_type", ["text/csv", "application/json; charset=latin-1", None, "application/xml"])
def test_other_content_types_are_left_to_the_validating_path(
    content_type: str | None, without_fast_path: Callable[..., Any]
) -> None:
    raw = encoded({"inputs": [{"a": 1, "b": 2, "c": 3}]})
    assert fastdecode.invocations_matrix(raw, content_type, FLOATS, MAX_ROWS) is None
    assert parse(FLOATS, "invocations", raw, content_type) == without_fast_path(
        FLOATS, "invocations", raw, content_type
    )


def test_its_copies_of_the_validating_paths_constants_agree() -> None:
    assert fastdecode.FORMATS == validation.MLFLOW_FORMATS
    assert fastdecode.INT_RANGES == validation.INT_RANGES


@pytest.mark.parametrize("literal", [b"1e400", b"-1e309", b"1" + b"0" * 309, b"1" + b"0" * 309 + b".5", b"1.8e308"])
def test_orjson_refuses_the_numbers_a_double_cannot_hold(literal: bytes) -> None:
    """The fast path returns orjson's floats without a finiteness check per value: orjson 3.13.0 (pinned in
    service/requirements.txt) has no NaN or Infinity tokens and refuses a number that overflows a double, where
    Python's json reads 1e400 as inf. An orjson that decoded it would let inf reach the model: this fails first."""
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b"[" + literal + b"]")
    assert orjson.loads(b"[1.7976931348623157e308, 1e-400]") == [1.7976931348623157e308, 0.0]
    assert fastdecode.predict_matrix(b'{"inputs": [[' + literal + b", 1, 2]]}", FLOATS, MAX_ROWS) is None


def test_bytes_are_counted_alike_in_small_and_large_bodies() -> None:
    """Small bodies are counted by bytes.count, large ones by numpy: the same counts either way."""
    bodies = (encoded({"inputs": BIG, "t\\u0074f": "null"}), b'{"inputs": [[1, true]]}', b"")
    assert [len(body) >= fastdecode.NUMPY_COUNT_BYTES for body in bodies] == [True, False, False]
    for body in bodies:
        assert fastdecode._byte_counts(body, fastdecode.COUNTED) == [body.count(c) for c in fastdecode.COUNTED]
