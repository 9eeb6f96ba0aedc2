"""Health, metrics and version: what probes, Prometheus and operators ask."""

from __future__ import annotations

from typing import Any

import mlflow
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.deps import DataPlaneDep
from service.responses import OrjsonResponse

router = APIRouter(tags=["operations"])


@router.get("/health/live", summary="The process is up and its event loop answers (never checks Redis or MLflow)")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/health/ready",
    summary="A model is loaded: 200, else 503 (Redis plays no part)",
    responses={503: {"description": "No model loaded yet."}},
)
async def ready(plane: DataPlaneDep) -> dict[str, str]:
    model = plane.model()
    return {"status": "ready", "model": model.name, "version": model.version}


@router.get("/ping", summary="MLflow scoring server's health check: 200 once a model is loaded")
async def ping(plane: DataPlaneDep) -> Response:
    plane.model()
    return Response(content="\n", media_type="application/json")


@router.get(
    "/health",
    summary="Details: model, version, last reload, last rejected version and why, cache state, challenger, drift",
    responses={503: {"description": "Same details, while no model is loaded."}},
)
async def health(plane: DataPlaneDep) -> OrjsonResponse:
    status, details = plane.health()
    return OrjsonResponse(details, status_code=status)


@router.get("/metrics", summary="Prometheus metrics of all workers", response_class=Response)
async def metrics(plane: DataPlaneDep) -> Response:
    return Response(content=plane.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/version",
    summary="The MLflow version, as a bare string, as `mlflow models serve` answers (ScoringServerClient.get_version)",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "string"}, "example": mlflow.__version__}}}},
)
async def version() -> Response:
    # mlflow/pyfunc/scoring_server/__init__.py@v3.17.2 answers the bare VERSION with media type application/json.
    return Response(content=mlflow.__version__, media_type="application/json")


@router.get("/version/details", summary="Versions of the service, MLflow, Python and the model serving")
async def version_details(plane: DataPlaneDep) -> dict[str, Any]:
    return plane.version_details()
