"""A request body to what the model is given: its rows, and its params when its signature declares any.

The column parsers (service/core/validation.py) and the tensor parsers (service/core/tensors.py) do the work;
this picks one by the schema. A model without params, tensors or binary columns costs the fast path two
attribute reads: its body is decoded once, by the column parser.
"""

from __future__ import annotations

from typing import Any

from service.core.binary import decode_binary
from service.core.params import read_params
from service.core.schema import InputSchema
from service.core.tensors import parse_tensor_invocations, parse_tensor_predict
from service.core.validation import Matrix, check_content_type, decode_json, parse_invocations, parse_predict

Parsed = tuple[Matrix, dict[str, Any] | None]


def read_predict(body: bytes, schema: InputSchema, max_rows: int) -> Parsed:
    """`POST /predict`: rows (base64 for binary columns) and, for a model with a params schema, `params`."""
    if schema.tensor is not None:
        return parse_tensor_predict(body, schema, max_rows)
    rows = parse_predict(body, schema, max_rows)
    if not schema.params and not schema.binary:
        return rows, None
    payload = decode_json(body)  # a second decode, for pyfunc models only: the first one left no params
    if schema.binary:
        rows = decode_binary(rows, schema, "base64")
    return rows, read_params(payload.get("params"), schema, strict=True)


def read_invocations(body: bytes, content_type: str | None, schema: InputSchema, max_rows: int) -> Parsed:
    """`POST /invocations`, as `mlflow models serve` reads it (service/core/binary.py for binary columns,
    service/core/params.py for params: those the schema does not declare are ignored, as MLflow ignores them)."""
    if schema.tensor is not None:
        return parse_tensor_invocations(body, content_type, schema, max_rows)
    rows = parse_invocations(body, content_type, schema, max_rows)
    if not schema.params and not schema.binary:
        return rows, None
    mime = check_content_type(content_type)
    if mime != "application/json":
        # CSV and Parquet carry no params; a CSV's text is the bytes, Parquet's bytes are kept as they are.
        return decode_binary(rows, schema, "utf-8"), None
    payload = decode_json(body)
    if schema.binary:
        dataframe = "dataframe_split" in payload or "dataframe_records" in payload
        rows = decode_binary(rows, schema, "lenient-base64" if dataframe else "utf-8")
    return rows, read_params(payload.get("params"), schema, strict=False)
