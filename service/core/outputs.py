"""What a pyfunc model returns, as one value per row, in the shape `mlflow models serve` renders it.

MLflow's scoring server writes predictions with `_get_jsonable_obj(raw, pandas_orient="records")`
(mlflow/utils/proto_json_utils.py@v3.17.2): a numpy array as its nested lists (a multi-output regressor's or a
probability vector's row is a list), a DataFrame as one `{"<column>": value}` record per row, and a Series as
the records of a one-column DataFrame (named after the Series, `0` when it has no name). The service renders
the same, so a record is one row's output of kind "record": its fields, names and types, are the model's
output columns, part of the contract as `output_fields`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Matrix = np.ndarray[Any, Any]
_FIELD_KINDS = {"i": "number", "u": "number", "f": "number", "b": "boolean"}


def as_rows(out: Any) -> Matrix:
    """A pyfunc output as an array with one entry per row: records (dicts) for a DataFrame or a Series."""
    import pandas as pd

    if isinstance(out, pd.Series):
        out = pd.DataFrame(out)
    if isinstance(out, pd.DataFrame):
        fields = record_fields(out)  # raises for a column the service cannot render typed
        rows = np.empty(len(out), dtype=object)
        names = [name for name, _ in fields]
        for i, values in enumerate(zip(*(out.iloc[:, j].tolist() for j in range(out.shape[1])), strict=True)):
            rows[i] = dict(zip(names, values, strict=True))
        return rows
    return np.asarray(out)


def record_fields(frame: Any) -> tuple[tuple[str, str], ...]:
    """A DataFrame output's columns as (name, kind): numbers, booleans and strings are served."""
    fields = []
    for name, dtype in frame.dtypes.items():
        kind = _FIELD_KINDS.get(dtype.kind)
        column = frame[name]
        if kind is None and dtype.kind == "O" and all(type(v) is str for v in column.tolist()):
            kind = "string"
        if kind is None:
            raise ValueError(f"output column {name!r} has dtype {dtype}: numbers, strings or booleans are served")
        fields.append((str(name), kind))
    return tuple(fields)


def fields_of(out: Matrix) -> tuple[tuple[str, str], ...]:
    """The (name, kind) fields of record outputs, read back from the first row's values."""
    first = out.ravel()[0]
    kinds = {str: "string", bool: "boolean", int: "number", float: "number"}
    return tuple((name, kinds.get(type(value), "?")) for name, value in first.items())


def first_non_finite_record(values: list[Any]) -> int | None:
    """The first row of record outputs holding an infinite or NaN number (JSON has neither)."""
    for i, record in enumerate(values):
        for value in record.values():
            if type(value) is float and not math.isfinite(value):
                return i
    return None
