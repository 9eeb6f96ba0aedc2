"""What routes get from the app, as `Annotated[..., Depends(...)]` aliases (tests override the functions).

All `async def`: FastAPI would run plain functions in the thread pool, a thread hop per dependency. The
prediction routes take everything through one dependency, `PredictDep`: FastAPI's bookkeeping costs ~15 µs per
dependency per request, which for a one-row prediction was more than the model (README, Performance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from service.core.batching import MicroBatcher
from service.core.cache import PredictionCache
from service.core.drift import DriftMonitor
from service.core.errors import ModelNotReady, PayloadTooLarge
from service.core.loader import LoadedModel
from service.core.reload import ModelHolder
from service.core.variants import Choice, Variants
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


async def get_variants(request: Request) -> Variants:
    return cast(Variants, request.app.state.variants)


async def get_drift(request: Request) -> DriftMonitor:
    return cast(DriftMonitor, request.app.state.drift)


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
CacheDep = Annotated[PredictionCache | None, Depends(get_cache)]
VariantsDep = Annotated[Variants, Depends(get_variants)]
DriftDep = Annotated[DriftMonitor, Depends(get_drift)]


async def get_model(holder: HolderDep) -> LoadedModel:
    """The version serving now, read once so the whole request uses it even if a reload swaps it meanwhile."""
    return current_model(holder)


def current_model(holder: ModelHolder) -> LoadedModel:
    model = holder.current
    if model is None:
        raise ModelNotReady("no model is loaded yet; GET /health tells why")
    return model


ModelDep = Annotated[LoadedModel, Depends(get_model)]


async def get_choice(request: Request, variants: VariantsDep) -> Choice:
    """Which variant answers this request: by its key header (the A/B split), read once like the model."""
    return variants.choose(request.headers.get(variants.split.key_header))


ChoiceDep = Annotated[Choice, Depends(get_choice)]


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


@dataclass(frozen=True)
class PredictContext:
    """What a prediction route needs: the body, the variant chosen for it (read once, so the whole request uses
    one model version even if a reload swaps it meanwhile), and the app's parts."""

    body: bytes
    choice: Choice
    variants: Variants
    drift: DriftMonitor
    settings: Settings
    metrics: Metrics
    cache: PredictionCache | None
    batcher: MicroBatcher[LoadedModel] | None


async def get_predict_context(request: Request) -> PredictContext:
    """The body first (413 before anything else), then the variant (503 while no champion is loaded)."""
    state = request.app.state
    settings = cast(Settings, state.settings)
    body = await read_body(request, settings)
    variants = cast(Variants, state.variants)
    choice = variants.choose(request.headers.get(variants.split.key_header))
    return PredictContext(body, choice, variants, state.drift, settings, state.metrics, state.cache, state.batcher)


PredictDep = Annotated[PredictContext, Depends(get_predict_context)]
