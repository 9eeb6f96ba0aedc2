"""`POST /predict` (this service's format) and `POST /invocations` (MLflow's scoring protocol).

Declared here for the OpenAPI document (and served here when the fast lane is off); service/fastlane.py answers
them in front of FastAPI with the same data plane calls.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from service.core.validation import PARQUET
from service.deps import DataPlaneDep
from service.openapi import (
    INVOCATIONS_JSON,
    ErrorResponse,
    InvocationsResponse,
    MlflowErrorResponse,
    PredictRequest,
    PredictResponse,
    request_body,
)
from service.responses import to_response

router = APIRouter(tags=["predict"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    413: {"model": ErrorResponse, "description": "Body over max_body_bytes, or more rows than max_batch_rows."},
    422: {"model": ErrorResponse, "description": "Rows do not fit the model's signature; names the row and field."},
    503: {"model": ErrorResponse, "description": "No model loaded yet."},
}


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    openapi_extra=request_body(PredictRequest),
    summary="Predict a batch of rows with the model the alias points at",
)
async def predict_rows(
    request: Request,
    plane: DataPlaneDep,
    output: Annotated[
        str,
        Query(description="`predict` (the default) or `proba`: a scikit-learn classifier's class probabilities"),
    ] = "predict",
) -> Response:
    # Checked by the data plane (400 naming `output`), not by FastAPI: the fast lane answers the same.
    body = await plane.read_body(request.headers.get("content-length"), request.stream())
    reply = await plane.predict(body, request.headers.get("content-type"), request.headers, "predict", output)
    return to_response(reply)


@router.post(
    "/invocations",
    response_model=InvocationsResponse,
    responses={
        400: {"model": MlflowErrorResponse, "description": "Bad input, in MLflow's error format."},
        413: {"model": MlflowErrorResponse, "description": "Body over max_body_bytes, or too many rows."},
        415: {"description": "Unsupported content type (text/plain, as MLflow answers)."},
        503: {"model": MlflowErrorResponse, "description": "No model loaded yet."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "MLflow's scoring protocol: a JSON object with exactly one of dataframe_split, "
            "dataframe_records, instances, inputs; a CSV table with a header row; or a Parquet file.",
            "content": {
                "application/json": {"schema": INVOCATIONS_JSON},
                "text/csv": {"schema": {"type": "string"}},
                PARQUET: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    summary="MLflow scoring protocol, answered as `mlflow models serve` does",
)
async def invocations(request: Request, plane: DataPlaneDep) -> Response:
    body = await plane.read_body(request.headers.get("content-length"), request.stream())
    reply = await plane.predict(body, request.headers.get("content-type"), request.headers, "invocations")
    return to_response(reply)
