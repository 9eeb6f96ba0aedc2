"""Request and response shapes, for the OpenAPI docs (the model's own input schema is service/core/schema.py).

The routes read bodies themselves (size limit first, then orjson, then validation against the loaded model's
signature), so these models document the wire format rather than parse it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

_EXAMPLE_ROW = {"age": 0.038, "sex": 0.051, "bmi": 0.062, "bp": 0.022, "s1": -0.044,
                "s2": -0.035, "s3": -0.043, "s4": -0.003, "s5": 0.020, "s6": -0.018}  # fmt: skip


class PredictRequest(BaseModel):
    """Exactly one of `instances` and `inputs`; the columns are the model's signature (see `GET /health`)."""

    instances: list[dict[str, float | int | bool | str]] | None = Field(
        default=None,
        description="Rows as objects keyed by input column name; every column once, no others. Strings for "
        "string columns, ISO 8601 date-times without timezone for datetime columns, base64 for binary columns. "
        "For a tensor-based signature: one entry per row, the nested lists of one row of the tensor.",
        examples=[[_EXAMPLE_ROW]],
    )
    inputs: list[list[Any]] | None = Field(
        default=None,
        description="Rows as lists of values in the signature's column order; for a tensor-based signature, the "
        "batch as nested lists of the declared shape.",
        examples=[[list(_EXAMPLE_ROW.values())]],
    )
    params: dict[str, Any] | None = Field(
        default=None,
        description="Only for a model whose signature declares a params schema (`GET /health`: model.params): "
        "each value of the declared type, a list where the schema says so; a missing param takes its default.",
    )


class ModelInfo(BaseModel):
    """The version that answered and the reference it was served by: exactly one of alias, stage, version_ref."""

    name: str
    version: str
    alias: str | None = Field(default=None, description="The registry alias followed (the normal case).")
    stage: str | None = Field(default=None, description="The legacy stage followed (a models:/<name>/<Stage> URI).")
    version_ref: str | None = Field(
        default=None, description="A pinned version number, or `latest` (models:/<name>/<version>, .../latest)."
    )


class PredictResponse(BaseModel):
    predictions: list[Any] = Field(
        description="One prediction per row, in request order: a number, a string label, a boolean, a list "
        "(several outputs, or probabilities with `output=proba`) or an object (a DataFrame's row)."
    )
    classes: list[Any] | None = Field(
        default=None, description="With `output=proba`: the classes, in the order of each row's probabilities."
    )
    model: ModelInfo
    variant: Literal["champion", "challenger"] = Field(
        description="Which variant answered (also in the X-Model-Variant header): the champion, or the challenger "
        "the A/B split assigned this request's key to."
    )


class InvocationsResponse(BaseModel):
    predictions: list[Any]


class ErrorDetail(BaseModel):
    code: str = Field(description="malformed_body, invalid_request, schema_mismatch, payload_too_large, ...")
    message: str
    row: int | None = Field(default=None, description="Index of the row at fault, when one is.")
    field: str | None = Field(default=None, description="Name of the field (or key) at fault, when one is.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class MlflowErrorResponse(BaseModel):
    """MLflow's scoring server error format."""

    error_code: str
    message: str


def request_body(model: type[BaseModel], content_type: str = "application/json") -> dict[str, Any]:
    """`openapi_extra` documenting a body the route reads itself."""
    return {"requestBody": {"required": True, "content": {content_type: {"schema": model.model_json_schema()}}}}


_VALUE: dict[str, Any] = {"type": ["number", "integer", "boolean", "string", "null"]}
_RECORD: dict[str, Any] = {"type": "object", "additionalProperties": _VALUE, "example": _EXAMPLE_ROW}
_COLUMNAR: dict[str, Any] = {
    "type": "object",
    "description": "Columns: each key a column name, each value that column's values, one per row.",
    "additionalProperties": {"type": "array", "items": _VALUE},
}
_PARAMS: dict[str, Any] = {"type": "object", "description": "Inference parameters; ignored by this service."}


def _format(key: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "title": key,
        "description": description,
        "properties": {key: schema, "params": _PARAMS},
        "required": [key],
        "additionalProperties": False,
    }


# One schema per format of MLflow's scoring protocol (mlflow/pyfunc/scoring_server/__init__.py@v3.17.2,
# SUPPORTED_FORMATS), written out rather than generated: pydantic's `$defs` references would not resolve inside
# an OpenAPI document, and the generated-input test (schemathesis) explores only what is described here.
INVOCATIONS_JSON: dict[str, Any] = {
    "oneOf": [
        _format(
            "dataframe_split",
            "A pandas DataFrame in `split` orientation: column names, then rows in that order.",
            {
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}, "example": list(_EXAMPLE_ROW)},
                    "data": {"type": "array", "items": {"type": "array", "items": _VALUE}},
                    "index": {"type": "array", "items": {"type": ["integer", "string"]}},
                },
                "required": ["columns", "data"],
                "example": {"columns": list(_EXAMPLE_ROW), "data": [list(_EXAMPLE_ROW.values())]},
            },
        ),
        _format(
            "dataframe_records",
            "A pandas DataFrame in `records` orientation: one object per row, keyed by column name.",
            {"type": "array", "items": _RECORD},
        ),
        _format(
            "instances",
            "TF-serving rows: one object per row keyed by column name, or an object of columns.",
            {"oneOf": [{"type": "array", "items": _RECORD}, _COLUMNAR]},
        ),
        _format(
            "inputs",
            "TF-serving inputs: one object per row keyed by column name, or an object of columns.",
            {"oneOf": [{"type": "array", "items": _RECORD}, _COLUMNAR]},
        ),
    ]
}
