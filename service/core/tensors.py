"""Request bodies for a tensor-based signature: a batch as a numpy array of the declared dtype and shape.

MLflow's TF-serving formats (mlflow/utils/proto_json_utils.py@v3.17.2 `parse_tf_serving_input`): `inputs` holds
the batch as nested lists (or, for a named tensor, `{"<name>": nested lists}`); `instances` holds it as a list
of rows (or, for a named tensor, a list of `{"<name>": row}`). MLflow then casts with
`numpy.array(data, dtype=spec.type)` and checks the shape (mlflow/models/utils.py `_enforce_tensor_spec`).

`/invocations` is as lenient as that cast where it is safe: numeric strings, booleans for numbers, integral
floats for integers. It refuses what the cast would silently change (1.5 truncated to an integer, a value out
of the dtype's range wrapped or made infinite) and answers a 4xx naming the index (`inputs[3][1]`) of the first
bad value. `/predict` takes numbers for numeric dtypes and booleans for bool, nothing else. The `dataframe_*`
formats, CSV and Parquet are refused for a tensor: a DataFrame has no shape beyond two dimensions.

Integers must lie within +-2^53 (as integer columns must): a batch's rows are hashed as float64 for the cache,
where larger integers would share keys.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from service.core.errors import InvalidRequest, SchemaMismatch
from service.core.params import read_params
from service.core.schema import InputSchema, Tensor
from service.core.validation import EXACT_INT, MLFLOW_FORMATS, _rows_list, check_content_type, decode_json

Matrix = np.ndarray[Any, Any]
Parsed = tuple[Matrix, dict[str, Any] | None]
FORMATS = ("inputs", "instances")


def parse_tensor_predict(body: bytes, schema: InputSchema, max_rows: int) -> Parsed:
    """`{"inputs": [...]}` or `{"instances": [...]}`, plus `params` when the model declares them; strict."""
    tensor = _tensor(schema)
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise InvalidRequest('the body must be a JSON object with "inputs" or "instances"')
    keys = [k for k in FORMATS if k in payload]
    if len(keys) != 1:
        raise InvalidRequest('the body must have exactly one of "inputs" and "instances"', field="inputs")
    allowed = {keys[0], "params"} if schema.params else {keys[0]}
    if unknown := sorted(set(payload) - allowed):
        raise InvalidRequest(f"unknown key '{unknown[0]}': the body holds \"{keys[0]}\"", field=unknown[0])
    no_bools = b"true" not in body and b"false" not in body
    rows = to_tensor(payload[keys[0]], tensor, keys[0], max_rows, lenient=False, no_bools=no_bools)
    return rows, read_params(payload.get("params"), schema, strict=True)


def parse_tensor_invocations(body: bytes, content_type: str | None, schema: InputSchema, max_rows: int) -> Parsed:
    """MLflow's scoring protocol for a tensor-based signature: `inputs` or `instances` in JSON."""
    tensor = _tensor(schema)
    mime = check_content_type(content_type)
    if mime != "application/json":
        raise SchemaMismatch(
            f'the model takes a tensor of shape {list(tensor.shape)}: send JSON with "inputs" or "instances"',
            field="inputs",
        )
    payload = decode_json(body)
    keys = [k for k in MLFLOW_FORMATS if k in payload] if isinstance(payload, dict) else []
    if len(keys) != 1:
        what = f"the fields {sorted(payload)}" if isinstance(payload, dict) else f"a {type(payload).__name__}"
        raise InvalidRequest(
            f"the input must be a JSON object with exactly one of the fields {list(MLFLOW_FORMATS)}; received {what}"
        )
    key = keys[0]
    if key not in FORMATS:
        raise SchemaMismatch(
            f'"{key}" is a DataFrame; the model takes a tensor of shape {list(tensor.shape)}: send "inputs" or '
            '"instances"',
            field=key,
        )
    if unknown := sorted(set(payload) - {key, "params"}):
        # MLflow's parse_tf_serving_input takes exactly one key besides params ("signature_name" included).
        raise InvalidRequest(
            f'"{unknown[0]}" is not supported: the body holds "{key}" and, optionally, "params"', field=unknown[0]
        )
    rows = to_tensor(payload[key], tensor, key, max_rows, lenient=True)
    return rows, read_params(payload.get("params"), schema, strict=False)


def _tensor(schema: InputSchema) -> Tensor:
    if schema.tensor is None:
        raise TypeError("a column-based schema has no tensor")
    return schema.tensor


def to_tensor(value: Any, tensor: Tensor, key: str, max_rows: int, *, lenient: bool, no_bools: bool = False) -> Matrix:
    """The batch under `key` as an array of the tensor's dtype and shape; the first bad value raises with its
    index. numpy's own inference goes first (one C call): only a batch it cannot read exactly is walked."""
    value = _rows_list(_unwrap(value, tensor, key), key, max_rows)  # the column formats' own row checks
    dtype = np.dtype(tensor.dtype)
    if no_bools or lenient or dtype.kind == "b":
        fast = _fast(value, tensor, dtype)
        if fast is not None:
            return fast
    out = np.empty((len(value), *tensor.shape[1:]), dtype=dtype)
    _walk(value, tensor.shape[1:], dtype, key, out, (), lenient=lenient)
    return out


def _unwrap(value: Any, tensor: Tensor, key: str) -> Any:
    """A named tensor's batch from `{"<name>": batch}` (inputs) or `[{"<name>": row}, ...]` (instances)."""
    if isinstance(value, dict):
        if tensor.name is None or tensor.name not in value:
            want = f'"{tensor.name}"' if tensor.name else "no names (an unnamed tensor)"
            raise SchemaMismatch(f'"{key}" names {sorted(value)[:5]}; the model\'s tensor takes {want}', field=key)
        return value[tensor.name]
    if key == "instances" and isinstance(value, list) and value and isinstance(value[0], dict):
        name = tensor.name
        rows = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or name is None or name not in item:
                raise SchemaMismatch(f'row {i} of "instances": missing tensor "{name}"', row=i, field=f"{key}[{i}]")
            rows.append(item[name])
        return rows
    return value


def _fast(value: list[Any], tensor: Tensor, dtype: np.dtype[Any]) -> Matrix | None:
    try:
        inferred = np.array(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None
    if inferred.shape != (len(value), *tensor.shape[1:]):
        return None
    kind = inferred.dtype.kind
    if dtype.kind == "b":
        return inferred if kind == "b" else None
    if kind == "i" and (inferred.size == 0 or np.abs(inferred).max() <= EXACT_INT):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if inferred.size and (inferred.min() < info.min or inferred.max() > info.max):
                return None
        return inferred.astype(dtype)
    if kind == "f" and dtype.kind == "f":
        with np.errstate(over="ignore"):
            out = inferred.astype(dtype)
        return out if np.isfinite(out).all() else None
    return None


def _walk(
    value: Any,
    dims: tuple[int, ...],
    dtype: np.dtype[Any],
    path: str,
    out: Matrix,
    at: tuple[int, ...],
    *,
    lenient: bool,
) -> None:
    """Check `value` against the remaining `dims`, writing its leaves into `out[at]`; raise at the first bad one.
    Recursion is bounded by the signature's rank, not by the client's nesting."""
    if len(at) == 0 or dims:
        want = len(out) if not at else dims[0]
        if not isinstance(value, list) or len(value) != want:
            got = f"a list of {len(value)}" if isinstance(value, list) else "a value"
            raise SchemaMismatch(
                f"{path}: expected a list of {want}, got {got} (the tensor's shape is {[-1, *out.shape[1:]]})",
                row=at[0] if at else None,
                field=path,
            )
        rest = dims if not at else dims[1:]
        for i, item in enumerate(value):
            _walk(item, rest, dtype, f"{path}[{i}]", out, (*at, i), lenient=lenient)
        return
    out[at] = _leaf(value, dtype, path, at[0], lenient)


def _leaf(value: Any, dtype: np.dtype[Any], path: str, row: int, lenient: bool) -> Any:
    t = type(value)
    kind = dtype.kind
    if kind == "b":
        if t is bool:
            return value
        raise _wrong(path, row, value, "true or false", dtype)
    if t is bool and lenient:
        return int(value)
    if t is str and lenient:
        try:
            value = int(value) if kind in "iu" else float(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                raise _wrong(path, row, value, "a number", dtype) from None
        t = type(value)
    if t is float and kind in "iu" and lenient and math.isfinite(value) and value.is_integer():
        value, t = int(value), int
    if t is int and kind in "iu":
        info = np.iinfo(dtype)
        low, high = max(info.min, -EXACT_INT), min(info.max, EXACT_INT)
        if low <= value <= high:
            return value
        raise InvalidRequest(
            f"{path}: {_short(value)} is out of range for {dtype} ([{low}, {high}])", row=row, field=path
        )
    if t in (int, float) and kind == "f":
        try:
            with np.errstate(over="ignore"):
                number = dtype.type(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        raise InvalidRequest(f"{path}: {_short(value)} is not a finite {dtype}", row=row, field=path)
    raise _wrong(path, row, value, "an integer" if kind in "iu" else "a number", dtype)


def _wrong(path: str, row: int, value: Any, expected: str, dtype: np.dtype[Any]) -> InvalidRequest:
    return InvalidRequest(f"{path}: expected {expected} ({dtype}), got {_short(value)}", row=row, field=path)


def _short(value: Any) -> str:
    if isinstance(value, list | dict):
        return f"a {type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
