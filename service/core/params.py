"""`params` in a request body, checked against the signature's params schema before the model sees them.

MLflow's pyfunc enforces the params schema itself (mlflow/models/utils.py@v3.17.2 `_enforce_params_schema` and
`_enforce_param_datatype`): an int is read as a long, float or double, a long as a float or double, anything
`numpy.datetime64` reads as a datetime; a param absent from the body takes its default. The service applies
the same conversions and answers 400 naming the param (`field: params.<name>`) for a value of the wrong type
or shape, where MLflow answers 400 without the field. It is stricter in three places, each a value MLflow would
hand the model unchecked or not at all: null (MLflow passes None), a non-finite number, and, on `POST /predict`
only, a param the schema does not declare (MLflow, and `/invocations` with it, ignores it with a warning).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from service.core.errors import InvalidParam
from service.core.schema import InputSchema, Param

# Integer ranges of MLflow's long and integer types.
_INT_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
# A list param longer than this is refused: the request's params are the model's options, not its data.
MAX_LIST = 1000


def read_params(value: Any, schema: InputSchema, *, strict: bool) -> dict[str, Any] | None:
    """The body's `params` (the value under that key, None when absent) validated against `schema.params`;
    None when there is nothing to pass. `strict` refuses params the schema does not declare."""
    if value is None or not schema.params:
        if value is not None and strict:
            raise InvalidParam('"params": the model declares no params', field="params")
        return None
    if not isinstance(value, dict):
        raise InvalidParam(f'"params" must be an object of name: value, got {type(value).__name__}', field="params")
    declared = {p.name: p for p in schema.params}
    out: dict[str, Any] = {}
    for name, given in value.items():
        param = declared.get(name)
        if param is None:
            if strict:
                raise InvalidParam(
                    f"unknown param '{name}': the model declares {sorted(declared)}", field=f"params.{name}"
                )
            continue
        out[name] = _checked(param, given)
    return out


def _checked(param: Param, value: Any) -> Any:
    if param.shape is None:
        return _scalar(param, value)
    if not isinstance(value, list):
        raise _wrong(param, value, "a list")
    if len(value) > MAX_LIST:
        raise InvalidParam(
            f"param '{param.name}' holds {len(value)} values; the limit is {MAX_LIST}", field=f"params.{param.name}"
        )
    return [_scalar(param, v) for v in value]


def _scalar(param: Param, value: Any) -> Any:
    t = type(value)
    kind = param.type
    if kind == "string" and t is str:
        return value
    if kind == "boolean" and t is bool:
        return value
    if kind in _INT_RANGES and t is int:
        low, high = _INT_RANGES[kind]
        if low <= value <= high:
            return value
        raise InvalidParam(
            f"param '{param.name}': {value} is out of range for {kind} ([{low}, {high}])", field=f"params.{param.name}"
        )
    if kind in ("double", "float") and t in (int, float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        raise InvalidParam(f"param '{param.name}': values must be finite numbers", field=f"params.{param.name}")
    if kind == "datetime" and t is str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value  # pyfunc reads it with numpy.datetime64, as MLflow's scoring server hands it on
    raise _wrong(param, value, {"datetime": "an ISO 8601 date-time string"}.get(kind, f"a {kind}"))


def _wrong(param: Param, value: Any, expected: str) -> InvalidParam:
    got = "null" if value is None else type(value).__name__
    return InvalidParam(
        f"param '{param.name}': expected {expected} ({param.type}{'' if param.shape is None else ' list'}), got {got}",
        field=f"params.{param.name}",
    )
