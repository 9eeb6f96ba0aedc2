"""`POST /predict` (this service's format) and `POST /invocations` (MLflow's scoring protocol)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from service.core.model import LoadedModel
from service.core.predict import Prediction, predict
from service.core.validation import PARQUET, Matrix, parse_invocations, parse_predict
from service.deps import PredictContext, PredictDep
from service.openapi import (
    INVOCATIONS_JSON,
    ErrorResponse,
    InvocationsResponse,
    MlflowErrorResponse,
    PredictRequest,
    PredictResponse,
    request_body,
)
from service.responses import OrjsonResponse

router = APIRouter(tags=["predict"])

# Bodies this large are parsed in a worker thread, like large batches are predicted there.
OFFLOAD_BODY_BYTES = 64 * 1024

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    413: {"model": ErrorResponse, "description": "Body over max_body_bytes, or more rows than max_batch_rows."},
    422: {"model": ErrorResponse, "description": "Rows do not fit the model's signature; names the row and field."},
    503: {"model": ErrorResponse, "description": "No model loaded yet."},
}


def model_headers(model: LoadedModel, variant: str) -> dict[str, str]:
    return {"X-Model-Name": model.name, "X-Model-Version": model.version, "X-Model-Variant": variant}


async def _parse(parse: Callable[..., Matrix], body: bytes, *args: Any) -> Matrix:
    if len(body) >= OFFLOAD_BODY_BYTES:
        return await anyio.to_thread.run_sync(parse, body, *args)
    return parse(body, *args)


async def _serve(ctx: PredictContext, rows: Matrix) -> tuple[str, Prediction]:
    """Predict with the chosen variant (champion, or challenger by the A/B split); rows also feed drift."""
    ctx.drift.observe(rows, ctx.choice.champion)
    settings = ctx.settings
    return await ctx.variants.serve(
        ctx.choice,
        rows,
        lambda model: predict(model, rows, ctx.cache, offload_min_rows=settings.offload_min_rows, batcher=ctx.batcher),
    )


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    openapi_extra=request_body(PredictRequest),
    summary="Predict a batch of rows with the model the alias points at",
)
async def predict_rows(ctx: PredictDep) -> OrjsonResponse:
    rows = await _parse(parse_predict, ctx.body, ctx.choice.model.schema, ctx.settings.max_batch_rows)
    variant, result = await _serve(ctx, rows)
    ctx.metrics.predictions.labels(endpoint="predict").inc(len(rows))
    model = result.model
    variants = ctx.variants
    ref = variants.challenger_ref if variant == "challenger" and variants.challenger_ref else variants.champion_ref
    info = {"name": model.name, "version": model.version, **ref.describe()}
    return OrjsonResponse(
        {"predictions": result.values, "model": info, "variant": variant}, headers=model_headers(model, variant)
    )


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
async def invocations(request: Request, ctx: PredictDep) -> OrjsonResponse:
    content_type = request.headers.get("content-type")
    rows = await _parse(parse_invocations, ctx.body, content_type, ctx.choice.model.schema, ctx.settings.max_batch_rows)
    variant, result = await _serve(ctx, rows)
    ctx.metrics.predictions.labels(endpoint="invocations").inc(len(rows))
    # MLflow's response body has only "predictions": the variant is named in the header alone.
    return OrjsonResponse({"predictions": result.values}, headers=model_headers(result.model, variant))
