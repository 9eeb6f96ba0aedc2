"""Well-formed JSON bodies of numbers straight into a float64 matrix, with no Python work per value.

The validating path (service/core/validation.py) looks at every value so that an error names its row and field.
For the common body (every column a number, every row complete, nothing else) that costs more than the model:
here orjson decodes the body, `operator.itemgetter` picks a record's columns in C, and numpy's own type
inference stands in for the per-value checks, as `validation.to_matrix` does for its positional rows:

- a string, a null, an object or a ragged row makes numpy infer another dtype or shape: not taken;
- a boolean would be read as 0/1: a body that may hold one (`true`/`false` anywhere in it) is not taken;
- an integer column needs integers within its type's range: only an all-integer matrix within range is taken;
- a missing or (on /predict) unknown field, too many rows, no rows: not taken;
- a number a double cannot hold (1e400) is refused by orjson itself (3.13.0, pinned; a test holds it to that), so
  what is taken is finite without a check per value.

The schema's facts this needs (names, integer columns) are computed once per schema (service/core/schema.py).

"Not taken" returns None and the caller runs the validating path, which answers the error it always did.
So this module never decides an error, and what it returns is the matrix the validating path would build
(tests/service/test_fastdecode.py compares the two on a table of bodies).
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from service.core.schema import InputSchema

Matrix = np.ndarray[Any, Any]

# MLflow's scoring formats and the integer ranges, as service/core/validation.py defines them (MLFLOW_FORMATS,
# INT_RANGES; it imports this module, so they are not imported from it; a test checks that they agree).
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
INT_RANGES = {"long": (-(2**53), 2**53), "integer": (-(2**31), 2**31 - 1)}
NUMPY_COUNT_BYTES = 8192  # from this body size on, bytes are counted by numpy (measured crossover)
COUNTED = (b'"', b"t", b"f", b"n", b"u")  # a string's quote; a letter of every word, and of no number


def predict_matrix(body: bytes, schema: InputSchema, max_rows: int) -> Matrix | None:
    """`POST /predict`: `{"inputs": [[...], ...]}` or `{"instances": [{...}, ...]}` of numbers; else None."""
    payload = _loads(body, schema)
    if type(payload) is not dict or len(payload) != 1:
        return None
    ((key, rows),) = payload.items()
    if key == "inputs":
        return _positional(rows, schema, max_rows, body, ("inputs",))
    if key == "instances":
        return _records(rows, schema, max_rows, body, strict=True)
    return None


def invocations_matrix(body: bytes, content_type: str | None, schema: InputSchema, max_rows: int) -> Matrix | None:
    """`POST /invocations` with `Content-Type: application/json`: records in any of the formats, or a
    `dataframe_split` whose columns are the signature's, in order, without an index; else None."""
    if content_type != "application/json":
        return None
    payload = _loads(body, schema)
    if type(payload) is not dict:
        return None
    present = [k for k in FORMATS if k in payload]
    if len(present) != 1:
        return None
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        if type(value) is not dict or "index" in value:
            return None
        columns = value.get("columns")
        if type(columns) is not list or tuple(columns) != schema.names:
            return None
        return _positional(value.get("data"), schema, max_rows, body, (*payload, *value, *columns))
    return _records(value, schema, max_rows, body, strict=False)


def _loads(body: bytes, schema: InputSchema) -> Any:
    if not schema.number_columns_only:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _positional(rows: Any, schema: InputSchema, max_rows: int, body: bytes, strings: tuple[str, ...]) -> Matrix | None:
    """Positional rows. `strings`: the keys and column names the body holds; when they are its only strings and
    nothing else in it is a word, a float schema's rows go by `_floats`."""
    if type(rows) is not list or not 0 < len(rows) <= max_rows:
        return None
    if not schema.integer_columns and _only_numbers(body, strings):
        return _floats(rows, len(schema.columns))
    return _matrix(rows, schema, body)


def _only_numbers(body: bytes, strings: tuple[str, ...]) -> bool:
    """Whether the body's only strings are `strings` and it holds no true, false or null: its quote characters and
    the letters t, f, n, u (no JSON number has them; every word has one) are exactly the ones `strings` hold.
    Any other string or word adds to a count. An escape can take a letter away (`\\u0074` for t) but always
    adds a u, which nothing takes away (an escaped u is itself written with one): then no, and the validating
    path answers."""
    text = "".join(strings)
    expected = [2 * len(strings) + text.count('"'), *(text.count(letter) for letter in "tfnu")]
    return _byte_counts(body, COUNTED) == expected


def _byte_counts(body: bytes, chars: tuple[bytes, ...]) -> list[int]:
    """How many times each of `chars` occurs in `body`: by `bytes.count` in a small body, by numpy over the bytes
    in a large one (one pass per character either way; numpy's costs ~2 us more per call and 3x less per byte)."""
    if len(body) < NUMPY_COUNT_BYTES:
        return [body.count(c) for c in chars]
    raw = np.frombuffer(body, dtype=np.uint8)
    return [int(np.count_nonzero(raw == ord(c))) for c in chars]


def _floats(rows: list[Any], width: int) -> Matrix | None:
    """Rows of numbers (`_only_numbers`) straight into float64 by `np.fromiter`, with no type inference: half the
    time of `np.array` on 1000 rows. Every row must have `width` values; an array in place of a number makes
    fromiter raise."""
    try:
        if set(map(len, rows)) != {width}:
            return None
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=len(rows) * width)
    except (TypeError, ValueError, OverflowError):
        return None
    return flat.reshape(len(rows), width)


def _records(rows: Any, schema: InputSchema, max_rows: int, body: bytes, *, strict: bool) -> Matrix | None:
    """Records to rows in signature order; strict: a record with a field beyond the signature is not taken."""
    if type(rows) is not list or not 0 < len(rows) <= max_rows:
        return None
    names = schema.names
    try:
        # Anything but an object in place of a record (list, string, number, null) raises TypeError; a missing
        # field KeyError.
        values = list(map(itemgetter(*names), rows))
    except (KeyError, TypeError):
        return None
    if strict and set(map(len, rows)) != {len(names)}:
        return None
    if len(names) == 1:
        values = [[v] for v in values]  # itemgetter of one name gives the value, not a 1-tuple
    return _matrix(values, schema, body)


def _matrix(rows: list[Any], schema: InputSchema, body: bytes) -> Matrix | None:
    if b"true" in body or b"false" in body:
        return None
    try:
        inferred = np.array(rows)
    except (ValueError, OverflowError):
        return None
    kind = inferred.dtype.kind
    if kind not in "fi" or inferred.shape != (len(rows), len(schema.columns)):
        return None
    int_columns = schema.integer_columns
    if kind == "f":
        # An integer column's `1.0` is refused on /predict and converted on /invocations: the validating path
        # decides. Every number is finite: orjson has no NaN or Infinity and refuses what overflows a double.
        if int_columns:
            return None
        return inferred
    for j, type_ in int_columns:
        low, high = INT_RANGES[type_]
        column = inferred[:, j]
        if column.min() < low or column.max() > high:
            return None
    matrix: Matrix = inferred.astype(np.float64)
    return matrix
