"""Request and response shapes, for the OpenAPI docs.

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

    instances: list[dict[str, float | int | bool]] | None = Field(
        default=None,
        description="Rows as objects keyed by input column name; every column once, no others.",
        examples=[[_EXAMPLE_ROW]],
    )
    inputs: list[list[float | int | bool]] | None = Field(
        default=None,
        description="Rows as lists of values in the signature's column order.",
        examples=[[list(_EXAMPLE_ROW.values())]],
    )


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str


class PredictResponse(BaseModel):
    predictions: list[Any] = Field(description="One prediction per row, in request order.")
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
