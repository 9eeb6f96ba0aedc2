"""Health, metrics and version: what probes, Prometheus and operators ask."""

from __future__ import annotations

import platform
from typing import Any

import mlflow
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service import __version__
from service.deps import CacheDep, DriftDep, HolderDep, MetricsDep, ModelDep, SettingsDep, VariantsDep
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
async def ready(model: ModelDep) -> dict[str, str]:
    return {"status": "ready", "model": model.name, "version": model.version}


@router.get("/ping", summary="MLflow scoring server's health check: 200 once a model is loaded")
async def ping(model: ModelDep) -> Response:
    return Response(content="\n", media_type="application/json")


@router.get(
    "/health",
    summary="Details: model, version, last reload, last rejected version and why, cache state, challenger, drift",
    responses={503: {"description": "Same details, while no model is loaded."}},
)
async def health(
    holder: HolderDep, cache: CacheDep, settings: SettingsDep, variants: VariantsDep, drift: DriftDep
) -> OrjsonResponse:
    # Only the champion decides readiness: a missing challenger or drift is a warning, not a reason to stop.
    served = holder.describe()
    if served["model"] is not None:
        # A stage URI's stage is reported as a stage, not as an alias.
        served["model"] = {k: v for k, v in served["model"].items() if k != "alias"} | variants.champion_ref.describe()
    details: dict[str, Any] = {
        "status": "ready" if holder.current else "not_ready",
        **served,
        "model_ref": settings.model_ref().uri,
        "reload_interval_s": settings.reload_interval_s,
        "cache": cache.describe() if cache else {"enabled": False},
        **variants.describe(),
        "drift": drift.summary(),
    }
    return OrjsonResponse(details, status_code=200 if holder.current else 503)


@router.get("/metrics", summary="Prometheus metrics of all workers", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)


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
async def version_details(holder: HolderDep, variants: VariantsDep) -> dict[str, Any]:
    model = holder.current
    return {
        "service": __version__,
        "mlflow": mlflow.__version__,
        "python": platform.python_version(),
        "model": {"name": model.name, "version": model.version, **variants.champion_ref.describe()} if model else None,
    }
