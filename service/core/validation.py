"""Request bodies to a matrix in the signature's column order, or an error naming the row and field.

The matrix is float64 when every column is numeric or boolean (the fast path); with a string column it is an
object matrix holding `str` in string columns, `numpy.datetime64[ns]` in datetime columns and `float` elsewhere
(the same numbers the float64 matrix holds). A string column takes JSON strings only, in every format: a number
is not silently read as a category. A datetime column takes ISO 8601 strings without a timezone (MLflow's schema
enforcement refuses timezone-aware values) within datetime64[ns]'s range (years 1677 to 2262).

Two readers share one validator:
- `parse_predict` for `POST /predict`: `{"instances": [{...}, ...]}` or `{"inputs": [[...], ...]}`, strict
  (exact field set, numbers for numeric columns, booleans for boolean ones).
- `parse_invocations` for `POST /invocations`: MLflow's scoring formats (`dataframe_split`,
  `dataframe_records`, `instances`, `inputs`, CSV), lenient exactly where `mlflow models serve` is (extra
  columns ignored, numeric strings and booleans converted).

JSON is decoded with orjson, which has no NaN/Infinity. A body that orjson rejects is read again with the
standard library, which accepts the `NaN` and `Infinity` literals (and turns `1e999` into infinity): such a body
then fails validation with a 422 that names the row and field of the non-finite value, instead of a bare
"invalid JSON". Whatever the standard library cannot read either (nesting deeper than its recursion limit, an
integer literal of thousands of digits, bytes that are not UTF-8) is a 400, never a 500.

Integer columns reach the model as float64 rows cast back to the column's type, so a value outside the type's
range would wrap (2**63 becomes -2**63) and one beyond 2**53 would lose digits: both are refused, naming the row
and field.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from datetime import datetime
from itertools import chain
from typing import Any

import numpy as np
import orjson

from service.core import fastdecode
from service.core.binary import binary_text
from service.core.errors import InvalidRequest, MalformedBody, PayloadTooLarge, SchemaMismatch, UnsupportedMediaType
from service.core.schema import NUMERIC_KINDS, Column, InputSchema

Matrix = np.ndarray[Any, Any]

MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARQUET = "application/vnd.apache.parquet"
# mlflow/pyfunc/scoring_server/__init__.py@v3.17.2 CONTENT_TYPES: CSV, JSON and (since MLflow 3) Parquet.
CONTENT_TYPES = ("application/json", "text/csv", PARQUET)
_NUMBER_TYPES = {float, int}
# Integers a float64 holds exactly; an integer column's value must also fit the column's own type.
EXACT_INT = 2**53
INT_RANGES = {"long": (-EXACT_INT, EXACT_INT), "integer": (-(2**31), 2**31 - 1)}
# What pandas' datetime64[ns] holds (pd.Timestamp.min/max, to the microsecond a Python datetime has).
DATETIME_RANGE = (np.datetime64("1677-09-21T00:12:44", "us"), np.datetime64("2262-04-11T23:47:16", "us"))


def decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        try:
            return json.loads(body)
        # ValueError covers UnicodeDecodeError and the 4300-digit limit on integer literals; RecursionError is
        # the standard library's answer to nesting deeper than its recursion limit (orjson stops at 1024).
        except (ValueError, RecursionError):
            raise MalformedBody(f"the body is not valid JSON: {e}") from e


# ------------------------------------------------------------------------------------------ /predict


def parse_predict(body: bytes, schema: InputSchema, max_rows: int) -> Matrix:
    """`{"instances": [{"<column>": value, ...}, ...]}` or `{"inputs": [[value, ...], ...]}` (signature order)."""
    if (matrix := fastdecode.predict_matrix(body, schema, max_rows)) is not None:
        return matrix  # well-formed numbers, decoded without Python work per value
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise InvalidRequest('the body must be a JSON object with "instances" or "inputs"')
    keys = [k for k in ("instances", "inputs") if k in payload]
    if len(keys) != 1:
        raise InvalidRequest('the body must have exactly one of "instances" and "inputs"', field="instances")
    key = keys[0]
    unknown = sorted(set(payload) - ({key, "params"} if schema.params else {key}))
    if unknown:
        raise InvalidRequest(f"unknown key '{unknown[0]}': the body holds only \"{key}\"", field=unknown[0])
    rows = _rows_list(payload[key], key, max_rows)
    no_bools = _no_booleans(body)
    if key == "instances":
        return to_matrix(from_records(rows, schema, key=key, lenient=False), schema, lenient=False, no_bools=no_bools)
    return to_matrix(from_positional(rows, schema, key=key), schema, lenient=False, no_bools=no_bools)


def _rows_list(rows: Any, key: str, max_rows: int) -> list[Any]:
    if not isinstance(rows, list):
        raise InvalidRequest(f'"{key}" must be a list of rows', field=key)
    if not rows:
        raise SchemaMismatch(f'"{key}" is empty: send at least one row', field=key)
    if len(rows) > max_rows:
        raise PayloadTooLarge(f'"{key}" has {len(rows)} rows; the limit is {max_rows} per request', field=key)
    return rows


# ------------------------------------------------------------------------------------- /invocations


def parse_invocations(body: bytes, content_type: str | None, schema: InputSchema, max_rows: int) -> Matrix:
    """MLflow's scoring protocol, answered as `mlflow.pyfunc.scoring_server` does."""
    if (matrix := fastdecode.invocations_matrix(body, content_type, schema, max_rows)) is not None:
        return matrix  # well-formed numbers, decoded without Python work per value
    mime = check_content_type(content_type)
    if mime in ("text/csv", PARQUET):
        key = "csv" if mime == "text/csv" else "parquet"
        wanted = set(schema.names)
        columns, data = _read_csv(body, wanted) if mime == "text/csv" else _read_parquet(body, wanted)
        data = _rows_list(data, key, max_rows)
        return to_matrix(from_columns(columns, data, schema, key=key), schema, lenient=True)
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise InvalidRequest(
            f"the input must be a JSON object with exactly one of the fields {list(MLFLOW_FORMATS)}; "
            f"received a {type(payload).__name__}"
        )
    keys = [k for k in MLFLOW_FORMATS if k in payload]
    if len(keys) != 1:
        raise InvalidRequest(
            f"the input must be a JSON object with exactly one of the fields {list(MLFLOW_FORMATS)}; "
            f"received the fields {sorted(payload)}"
        )
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict):
            raise InvalidRequest('"dataframe_split" must be an object with "columns" and "data"', field=key)
        index, rows_in = value.get("index"), value.get("data")
        if index is not None and not (
            isinstance(index, list) and isinstance(rows_in, list) and len(index) == len(rows_in)
        ):
            # pandas cannot build the frame: MLflow answers BAD_REQUEST before it looks at the columns.
            raise InvalidRequest(
                '"dataframe_split" is not a valid DataFrame: its "index" must have one entry per row of "data"',
                field=f"{key}.index",
            )
        header = value.get("columns")
        if not isinstance(header, list):
            raise SchemaMismatch(
                '"dataframe_split" has no "columns": the model takes named columns', field=f"{key}.columns"
            )
        for j, name in enumerate(header):
            if not isinstance(name, str):
                # A schema error, as MLflow's enforcement answers a numeric column name (a list or an object as a
                # name was a 500 there, and here: unhashable).
                raise SchemaMismatch(
                    f'column {j} of "dataframe_split.columns" is {_preview(name)}: column names are strings',
                    field=f"{key}.columns",
                )
        data = _rows_list(value.get("data"), f"{key}.data", max_rows)
        rows = from_columns(header, data, schema, key=f"{key}.data")
        return to_matrix(rows, schema, lenient=True, no_bools=_no_booleans(body))
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidRequest('"dataframe_records" must be a list of records', field=key)
    if isinstance(value, dict):  # columnar: {"<column>": [values...], ...}
        columns, data = _columnar(value, key)
        data = _rows_list(data, key, max_rows)
        return to_matrix(
            from_columns(columns, data, schema, key=key), schema, lenient=True, no_bools=_no_booleans(body)
        )
    rows = _rows_list(value, key, max_rows)
    if not all(isinstance(r, dict) for r in rows):
        raise SchemaMismatch(
            f'"{key}" must hold records ({{"<column>": value}}): the model takes named columns '
            f"{list(schema.names)}; positional rows are accepted by POST /predict",
            field=key,
        )
    return to_matrix(
        from_records(rows, schema, key=key, lenient=True), schema, lenient=True, no_bools=_no_booleans(body)
    )


def check_content_type(content_type: str | None) -> str:
    """The media type, after MLflow's checks (UTF-8 only, no other parameters)."""
    if not content_type:
        raise UnsupportedMediaType(f"a Content-Type header is required; supported: {list(CONTENT_TYPES)}")
    mime, *params = (part.strip() for part in content_type.split(";"))
    parameters = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in params if p)}
    if parameters.get("charset", "utf-8").lower() != "utf-8":
        raise UnsupportedMediaType("the scoring server only supports UTF-8")
    if unexpected := sorted(set(parameters) - {"charset"}):
        raise UnsupportedMediaType(f"unrecognized content type parameters: {', '.join(unexpected)}")
    if mime.lower() not in CONTENT_TYPES:
        raise UnsupportedMediaType(f"supported content types: {list(CONTENT_TYPES)}; got '{content_type}'")
    return mime.lower()


def _read_csv(body: bytes, wanted: set[str]) -> tuple[list[Any], list[Any]]:
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise MalformedBody(f"the body is not a CSV table with a header row: {e}") from e
    return _table(frame, wanted)


def _read_parquet(body: bytes, wanted: set[str]) -> tuple[list[Any], list[Any]]:
    """A Parquet file, read as `mlflow models serve` reads it (`pandas.read_parquet`)."""
    import pandas as pd

    try:
        frame = pd.read_parquet(io.BytesIO(body))
    # pyarrow raises its own ArrowException subclasses (ArrowInvalid is a ValueError, others are not).
    except Exception as e:  # noqa: BLE001 - anything the reader raises means "not a Parquet table"
        raise MalformedBody(f"the body is not a Parquet table: {e}") from e
    if not all(isinstance(name, str) for name in frame.columns):
        raise SchemaMismatch("the Parquet table's column names must be strings", field="parquet")
    return _table(frame, wanted)


def _table(frame: Any, wanted: set[str]) -> tuple[list[Any], list[Any]]:
    """The header and rows of the columns the model takes (others are ignored anyway: converting the 20,000
    extra columns of a hostile CSV one by one took seconds)."""
    keep = [j for j, name in enumerate(frame.columns) if name in wanted]
    # Column by column, so values come out as Python scalars (numpy's would fail the type checks).
    values = [frame.iloc[:, j].tolist() for j in keep]
    rows = [list(row) for row in zip(*values, strict=True)] if keep else [[] for _ in range(len(frame))]
    return [frame.columns[j] for j in keep], rows


def _columnar(value: dict[str, Any], key: str) -> tuple[list[str], list[list[Any]]]:
    columns = list(value)
    lists = [v if isinstance(v, list) else [v] for v in value.values()]
    lengths = {len(v) for v in lists}
    if len(lengths) > 1:
        raise InvalidRequest(f'the columns of "{key}" have different lengths: {sorted(lengths)}', field=key)
    return columns, [list(r) for r in zip(*lists, strict=True)]


# --------------------------------------------------------------------------------- rows to a matrix


def from_records(records: Sequence[Any], schema: InputSchema, *, key: str, lenient: bool) -> list[list[Any]]:
    """Records (objects keyed by column) to value rows in signature order; unknown keys fail unless lenient."""
    names = schema.names
    out = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidRequest(f'row {i} of "{key}" must be an object keyed by column name', row=i)
        try:
            out.append([record[name] for name in names])
        except KeyError as e:
            raise SchemaMismatch(f"row {i}: missing field '{e.args[0]}'", row=i, field=str(e.args[0])) from e
        if not lenient and len(record) != len(names):
            extra = sorted(set(record) - set(names))[0]
            raise SchemaMismatch(f"row {i}: unknown field '{extra}'; the model takes {list(names)}", row=i, field=extra)
    return out


def from_positional(rows: Sequence[Any], schema: InputSchema, *, key: str) -> list[list[Any]]:
    """Lists of values already in signature order: only their length is checked here."""
    width = len(schema.columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidRequest(
                f'row {i} of "{key}" must be a list of values in the order {list(schema.names)}', row=i
            )
        if len(row) != width:
            raise SchemaMismatch(
                f"row {i} has {len(row)} values; the model takes {width}, in the order {list(schema.names)}", row=i
            )
    return list(rows)


def from_columns(columns: Sequence[Any], data: Sequence[Any], schema: InputSchema, *, key: str) -> list[list[Any]]:
    """A header plus rows of values (dataframe_split, CSV, columnar objects); extra columns are ignored.

    A column named twice is refused, as MLflow's schema enforcement refuses it: which copy would the model get?
    """
    index = {name: j for j, name in enumerate(columns)}
    if len(index) != len(columns):
        twice = next(name for j, name in enumerate(columns) if index[name] != j)
        raise SchemaMismatch(f"column '{twice}' is named twice in \"{key}\"", field=str(twice))
    missing = [name for name in schema.names if name not in index]
    if missing:
        raise SchemaMismatch(f"missing field '{missing[0]}'", field=missing[0])
    pick = [index[name] for name in schema.names]
    width = len(columns)
    if pick == list(range(width)):
        # The header is the signature, in order (what clients send): the rows are used as they are.
        for i, row in enumerate(data):
            if type(row) is not list or len(row) != width:
                raise SchemaMismatch(f'row {i} of "{key}" must have one value per column ({width})', row=i)
        return list(data)
    out = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise SchemaMismatch(f'row {i} of "{key}" must have one value per column ({width})', row=i)
        out.append([row[j] for j in pick])
    return out


def _no_booleans(body: bytes) -> bool:
    """True when the JSON body cannot hold a boolean (no `true`/`false` anywhere): a search at memchr speed."""
    return b"true" not in body and b"false" not in body


def to_matrix(rows: list[list[Any]], schema: InputSchema, *, lenient: bool, no_bools: bool = False) -> Matrix:
    """Value rows (signature order) to float64; the first bad value raises with its row and field.

    `no_bools`: the caller knows no value is a boolean, so numpy's own type inference can stand in for a check
    of every value's type (a string, a null or a ragged row makes numpy infer another kind, and the checks
    below run); 1000 rows then convert in half the time.
    """
    if no_bools and schema.all_float:
        try:
            inferred = np.array(rows)
        except (ValueError, OverflowError):
            inferred = None
        if inferred is not None and inferred.dtype.kind in "fi" and inferred.shape == (len(rows), len(schema.columns)):
            matrix: Matrix = inferred.astype(np.float64, copy=False)
            finite = np.isfinite(matrix)
            if finite.all():
                return matrix
            i, j = (int(x) for x in np.argwhere(~finite)[0])
            raise _non_finite(i, schema.columns[j], float(matrix[i, j]))
    if schema.all_float and set(map(type, chain.from_iterable(rows))) <= _NUMBER_TYPES:
        # The common case, at numpy speed: only numbers, so the one thing left to check is finiteness.
        try:
            matrix = np.array(rows, dtype=np.float64)
        except OverflowError:
            pass  # an integer beyond float range: the loop below names it
        else:
            finite = np.isfinite(matrix)
            if finite.all():
                return matrix
            i, j = (int(x) for x in np.argwhere(~finite)[0])
            raise _non_finite(i, schema.columns[j], float(matrix[i, j]))
    matrix = np.empty((len(rows), len(schema.columns)), dtype=np.float64 if schema.numeric else object)
    for i, row in enumerate(rows):
        for j, (column, value) in enumerate(zip(schema.columns, row, strict=True)):
            matrix[i, j] = _coerce(value, column, i, lenient)
    return matrix


def _coerce(value: Any, column: Column, row: int, lenient: bool) -> Any:
    kind = column.kind
    t = type(value)
    if value is None:
        raise InvalidRequest(f"row {row}, field '{column.name}': null is not a value", row=row, field=column.name)
    if kind == "str":
        if t is str:
            return str(value)
        raise _wrong_type(row, column, value)
    if kind == "datetime":
        return _datetime(value, column, row)
    if kind == "bytes":
        return binary_text(value, column, row)
    if t is bool:
        if kind == "bool" or lenient:
            return float(value)
    elif t is int and kind == "int":
        return _in_range(value, column, row)
    elif (t is int and kind != "bool") or (t is float and kind == "float"):
        return _finite_float(value, column, row)
    elif t is float and kind == "int" and lenient and value.is_integer():
        return _in_range(int(value), column, row)
    elif t is str and lenient and kind != "bool":
        if kind == "int":
            try:  # exactly, as an integer: float() would round "9007199254740993" into range
                return _in_range(int(value), column, row)
            except ValueError:
                pass  # "1.0", "1e3": read as a number below
        number = _finite_float(value, column, row)
        if kind == "int":
            if not number.is_integer():
                raise _wrong_type(row, column, value)
            return _in_range(int(number), column, row)
        return number
    raise _wrong_type(row, column, value)


def _finite_float(value: int | float | str, column: Column, row: int) -> float:
    """A number, or (lenient) a numeric string, as a finite float64. `float()` raises OverflowError only for an
    int beyond the float range and ValueError only for a string that is no number ("1e999" reads as inf)."""
    try:
        number = float(value)
    except (OverflowError, ValueError) as e:
        fault = (
            f"{_preview(value)} is out of the float64 range"
            if isinstance(e, OverflowError)
            else f"could not convert string {value!r} to {column.type}"
        )
        raise InvalidRequest(f"row {row}, field '{column.name}': {fault}", row=row, field=column.name) from e
    if not math.isfinite(number):
        raise _non_finite(row, column, number)
    return number


def _datetime(value: Any, column: Column, row: int) -> np.datetime64:
    """An ISO 8601 string (or a datetime a CSV/Parquet reader made) as datetime64[ns]; `fromisoformat`, not
    pandas' parser, which also reads "now", "today" and "" (NaT)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _wrong_type(row, column, value) from None
    if not isinstance(value, datetime) or value != value:  # NaT compares unequal to itself
        raise _wrong_type(row, column, value)
    if value.tzinfo is not None:
        raise InvalidRequest(
            f"row {row}, field '{column.name}': {_preview(str(value))} has a timezone; the model takes "
            "timezone-naive date-times",
            row=row,
            field=column.name,
        )
    stamp = np.datetime64(value.replace(tzinfo=None), "us")
    if not DATETIME_RANGE[0] <= stamp <= DATETIME_RANGE[1]:
        raise InvalidRequest(
            f"row {row}, field '{column.name}': {_preview(str(value))} is outside datetime64[ns]'s range "
            f"({DATETIME_RANGE[0]} to {DATETIME_RANGE[1]})",
            row=row,
            field=column.name,
        )
    nanoseconds: np.datetime64 = stamp.astype("datetime64[ns]")
    return nanoseconds


def _in_range(value: int, column: Column, row: int) -> float:
    """An integer column's value as float64, if the column's type holds it and float64 holds it exactly."""
    low, high = INT_RANGES[column.type]
    if not low <= value <= high:
        raise InvalidRequest(
            f"row {row}, field '{column.name}': {_preview(value)} is out of range for {column.type} "
            f"([{low}, {high}]; beyond 2^53 a float64 row would change the value)",
            row=row,
            field=column.name,
        )
    return float(value)


def _non_finite(row: int, column: Column, value: float) -> InvalidRequest:
    return InvalidRequest(
        f"row {row}, field '{column.name}': {value} is not allowed, values must be finite", row=row, field=column.name
    )


def _wrong_type(row: int, column: Column, value: Any) -> InvalidRequest:
    expected = {
        "float": "a number",
        "int": "an integer",
        "bool": "true or false",
        "str": "a string",
        "datetime": "an ISO 8601 date-time without timezone",
    }[column.kind]
    return InvalidRequest(
        f"row {row}, field '{column.name}': expected {expected} ({column.type}), got {_preview(value)}",
        row=row,
        field=column.name,
    )


def _preview(value: Any) -> str:
    """A short rendering of a client's value for a message: containers by kind (a nesting bomb would exhaust
    the recursion of any serializer), numbers and strings cut at 40 characters."""
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object of {len(value)} keys"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"an integer of {len(str(abs(value)))} digits"
    return json.dumps(value)[:40]


def numeric_view(rows: Matrix, schema: InputSchema) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The rows as float64, string and datetime columns as NaN (what drift and other numeric consumers read)."""
    if rows.dtype != object:
        return rows
    out = np.full(rows.shape, np.nan)
    for j, column in enumerate(schema.columns):
        if column.kind in NUMERIC_KINDS:
            out[:, j] = rows[:, j].astype(np.float64)
    return out
