"""The Open Inference Protocol's REST endpoints (`/v2/...`), declared in FastAPI for the OpenAPI document.

Each route reads the request and calls service/v2/protocol.py over the data plane; a `ServiceError` goes to the
app's one handler, whose mapping (service/dataplane.py `error_reply`) answers `/v2` paths as `{"error": ...}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from service.dataplane import DataPlane
from service.deps import DataPlaneDep
from service.responses import OrjsonResponse, to_response
from service.v2 import protocol
from service.v2.schemas import (
    INFER_REQUEST_BODY,
    V2Error,
    V2InferResponse,
    V2Live,
    V2ModelMetadata,
    V2ModelReady,
    V2Ready,
    V2ServerMetadata,
)

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])

_NOT_READY: dict[int | str, dict[str, Any]] = {503: {"model": V2Error, "description": "No model loaded yet."}}
_MODEL_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": V2Error, "description": "Unknown model name, or a version that is not serving (named)."},
    **_NOT_READY,
}
_INFER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": V2Error, "description": "Bad tensors: datatype, shape against data, binary sizes (named)."},
    413: {"model": V2Error, "description": "Body over max_body_bytes, or more rows than max_batch_rows."},
    **_MODEL_ERRORS,
}


@router.get("", response_model=V2ServerMetadata, summary="Server metadata: name, version, extensions")
async def server_metadata() -> OrjsonResponse:
    return OrjsonResponse(protocol.server_metadata())


@router.get("/health/live", response_model=V2Live, summary="The process answers (never checks Redis or MLflow)")
async def live() -> OrjsonResponse:
    return OrjsonResponse({"live": True})


@router.get("/health/ready", response_model=V2Ready, responses=_NOT_READY, summary="A model is loaded: 200, else 503")
async def ready(plane: DataPlaneDep) -> OrjsonResponse:
    plane.model()
    return OrjsonResponse({"ready": True})


def _model_routes(
    suffix: str,
    answer: Callable[[DataPlane, str, str | None], dict[str, Any]],
    response_model: type,
    names: tuple[str, str],
    summaries: tuple[str, str],
) -> None:
    """`GET /models/{name}<suffix>` (the serving versions) and `GET /models/{name}/versions/{version}<suffix>` (one
    version), both answered by `answer`. Each is its own operation in the OpenAPI document: `version` is a path
    parameter only where the path names it, and the operation ids come from `names` as a function's name would."""

    async def serving(name: str, plane: DataPlaneDep) -> OrjsonResponse:
        return OrjsonResponse(answer(plane, name, None))

    async def versioned(name: str, version: str, plane: DataPlaneDep) -> OrjsonResponse:
        return OrjsonResponse(answer(plane, name, version))

    paths = (f"/models/{{name}}{suffix}", f"/models/{{name}}/versions/{{version}}{suffix}")
    endpoints: tuple[Callable[..., Awaitable[OrjsonResponse]], ...] = (serving, versioned)
    for path, endpoint, route_name, summary in zip(paths, endpoints, names, summaries, strict=True):
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            name=route_name,
            response_model=response_model,
            responses=_MODEL_ERRORS,
            summary=summary,
        )


_model_routes(
    "",
    protocol.model_metadata,
    V2ModelMetadata,
    ("model_metadata", "version_metadata"),
    ("Model metadata", "Metadata of a serving version"),
)
_model_routes(
    "/ready",
    protocol.model_ready,
    V2ModelReady,
    ("model_ready", "version_ready"),
    ("Model ready", "A version is serving"),
)


# The two infer routes differ only in whether the path names a version; each keeps its own operation in the
# OpenAPI document (its summary, and `version` as a path parameter only where the path has it).
_INFER_ROUTE: dict[str, Any] = {
    "response_model": V2InferResponse,
    "responses": _INFER_ERRORS,
    "openapi_extra": INFER_REQUEST_BODY,
}


@router.post(
    "/models/{name}/infer",
    summary="Predict tensors with the serving version (split between champion and challenger as /predict is)",
    **_INFER_ROUTE,
)
async def infer(name: str, request: Request, plane: DataPlaneDep) -> Response:
    return await _infer(plane, name, None, request)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Predict tensors with this version; 404 naming the serving version when it is not serving",
    **_INFER_ROUTE,
)
async def infer_version(name: str, version: str, request: Request, plane: DataPlaneDep) -> Response:
    return await _infer(plane, name, version, request)


async def _infer(plane: DataPlane, name: str, version: str | None, request: Request) -> Response:
    body = await plane.read_body(request.headers.get("content-length"), request.stream())
    return to_response(await protocol.infer(plane, name, version, body, request.headers))
