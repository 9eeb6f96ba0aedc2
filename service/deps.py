"""What routes get from the app, as `Annotated[..., Depends(...)]` aliases (tests override the functions).

All `async def`: FastAPI would run plain functions in the thread pool, a thread hop per dependency.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from service.core.batching import MicroBatcher
from service.core.cache import PredictionCache
from service.core.errors import ModelNotReady, PayloadTooLarge
from service.core.model import LoadedModel
from service.core.reload import ModelHolder
from service.metrics import Metrics
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_metrics(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


async def get_holder(request: Request) -> ModelHolder:
    return cast(ModelHolder, request.app.state.holder)


async def get_cache(request: Request) -> PredictionCache | None:
    return cast(PredictionCache | None, request.app.state.cache)


async def get_batcher(request: Request) -> MicroBatcher[LoadedModel] | None:
    return cast(MicroBatcher[LoadedModel] | None, request.app.state.batcher)


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
CacheDep = Annotated[PredictionCache | None, Depends(get_cache)]
BatcherDep = Annotated[MicroBatcher[LoadedModel] | None, Depends(get_batcher)]


async def get_model(holder: HolderDep) -> LoadedModel:
    """The version serving now, read once so the whole request uses it even if a reload swaps it meanwhile."""
    model = holder.current
    if model is None:
        raise ModelNotReady("no model is loaded yet; GET /health tells why")
    return model


ModelDep = Annotated[LoadedModel, Depends(get_model)]


async def read_body(request: Request, settings: SettingsDep) -> bytes:
    """The body, refused with 413 once it exceeds max_body_bytes: by its Content-Length, or while streaming."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body has {declared} bytes; the limit is {limit}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


BodyDep = Annotated[bytes, Depends(read_body)]
