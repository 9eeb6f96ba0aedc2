"""Champion and challenger: two aliases served side by side, the weighted A/B split, and who answers a request.

Each alias has its own holder and reloader (service/core/reload.py), so the challenger is followed, validated and
rejected exactly as the champion is, and must also keep the champion's signature and output shape.

The split itself (weights, buckets, the weights tag) is service/core/split.py.

A challenger that fails to predict never fails the caller: the champion answers instead, and the failure is
counted against the challenger.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from prometheus_client import CollectorRegistry, Counter, Histogram

from service.core.errors import ModelNotReady, PredictionFailed
from service.core.loader import LoadedModel
from service.core.predict import Prediction
from service.core.refs import ModelRef
from service.core.registry import ModelRegistryClient
from service.core.reload import ModelHolder, Reloader
from service.core.shadow import Shadow
from service.core.split import CHALLENGER, CHAMPION, WEIGHTS_TAG, Split, Variant, assign
from service.core.telemetry import LATENCY_BUCKETS, ReloadMetrics, Tally, drop_series
from service.core.trust import TrustPolicy
from service.core.validation import Matrix

log = logging.getLogger(__name__)

PredictFn = Callable[[LoadedModel], Awaitable[Prediction]]


class VariantMetrics:
    """Requests and prediction latency per variant and version (the A/B comparison and the champion baseline)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "serving_variant_requests",
            "Prediction requests by the variant that was asked (champion, challenger), its version and outcome "
            "(ok, error: the model failed to predict).",
            ["variant", "version", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "serving_variant_prediction_duration_seconds",
            "Time to predict a request's rows (cache included), by variant and version.",
            ["variant", "version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fallbacks = Counter(
            "serving_ab_fallbacks",
            "Requests assigned to the challenger that the champion answered, by reason (not_loaded, error).",
            ["reason"],
            registry=registry,
        )


@dataclass(frozen=True)
class Choice:
    """Who answers one request; `shadow` is the challenger that also predicts it, off the request path."""

    variant: Variant
    model: LoadedModel
    fallback: LoadedModel | None = None
    shadow: LoadedModel | None = None

    @property
    def champion(self) -> LoadedModel:
        return self.fallback or self.model


class Variants:
    """The champion's and the challenger's holders, the split between them, and the shadow queue."""

    def __init__(
        self,
        champion: ModelRef,
        challenger: ModelRef | None,
        split: Split,
        shadow: Shadow | None,
        registry: CollectorRegistry,
        tally: Tally | None = None,
    ) -> None:
        """`tally`: where the per-request series are added up (the app's, flushed by its lifespan); by default one
        of its own in `registry`, flushed whenever the registry is read."""
        self.champion_ref = champion
        self.challenger_ref = challenger
        self.champion = ModelHolder()
        self.challenger = ModelHolder() if challenger is not None else None
        self.split = split
        self.shadow = shadow
        self.tally = tally if tally is not None else Tally(registry)
        self.metrics = VariantMetrics(registry)
        # (variant, version, outcome) -> the bound request counter and duration histogram: no labels() per request.
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def start(
        self,
        tasks: TaskGroup,
        registry: ModelRegistryClient,
        model_dir: Path,
        interval_s: float,
        metrics: ReloadMetrics,
        *,
        policy: TrustPolicy | None = None,
        expected: dict[str, Any] | None = None,
        retire_grace_s: float = 30.0,
        retry_max_s: float = 300.0,
        on_load: Callable[[LoadedModel], Awaitable[None]] | None = None,
    ) -> anyio.Event:
        """Follow both aliases (and the weights tag, and the shadow queue) in `tasks`; returns the champion's
        first-check event."""
        common: dict[str, Any] = {
            "policy": policy,
            "expected": expected,
            "retire_grace_s": retire_grace_s,
            "retry_max_s": retry_max_s,
            "on_retire": self.forget,
            "on_load": on_load,
        }
        champion = Reloader(self.champion, registry, self.champion_ref, model_dir, interval_s, metrics, **common)
        tasks.start_soon(champion.run)
        if self.challenger is not None and self.challenger_ref is not None:
            challenger = Reloader(
                self.challenger,
                registry,
                self.challenger_ref,
                model_dir,
                interval_s,
                metrics,
                compatible_with=self.champion,
                retire_when_unset=True,
                **common,
            )
            tasks.start_soon(challenger.run)
            tasks.start_soon(self.follow_weights_tag, registry, interval_s)
            if self.shadow is not None:
                tasks.start_soon(self.shadow.run)
        return champion.first_check_done

    def forget(self, model: LoadedModel) -> None:
        """Drop a replaced version's per-version series (requests, latency)."""
        self.tally.flush()  # the version's last requests are written before its series go
        for metric in (self.metrics.requests, self.metrics.duration):
            drop_series(metric, {"version": model.version})
        self._series = {k: v for k, v in self._series.items() if k[1] != model.version}

    async def follow_weights_tag(self, registry: ModelRegistryClient, interval_s: float) -> None:
        """Read the registered model's weights tag every `interval_s`; unreachable registry: keep the weights."""
        name = self.champion_ref.name
        while True:
            try:
                model = await anyio.to_thread.run_sync(
                    registry.client.get_registered_model, name, abandon_on_cancel=True
                )
            except Exception as e:  # noqa: BLE001 - an outage keeps the weights in force; the reloader reports it
                log.debug("cannot read the A/B weights tag", extra={"error": repr(e)})
            else:
                self.split.apply_tag((model.tags or {}).get(WEIGHTS_TAG))
            await anyio.sleep(interval_s)

    def live_challenger(self, champion: LoadedModel) -> LoadedModel | None:
        """The challenger, if it is loaded and takes the champion's rows and gives its output shape."""
        challenger = self.challenger.current if self.challenger is not None else None
        if challenger is None:
            return None
        # Each reloader validates against the other side, but the two can load in either order at startup.
        if (
            challenger.schema != champion.schema
            or challenger.output_shape != champion.output_shape
            or challenger.output_kind != champion.output_kind
        ):
            return None
        return challenger

    def choose(self, key: str | None) -> Choice:
        """The variant for a request with this key (None: no key header)."""
        champion = self.champion.current
        if champion is None:
            raise ModelNotReady("no model is loaded yet; GET /health tells why")
        if self.challenger is None:
            return Choice(CHAMPION, champion)
        challenger = self.live_challenger(champion)
        if assign(key, self.split.weights, self.split.unkeyed) == CHALLENGER:
            if challenger is not None:
                return Choice(CHALLENGER, challenger, fallback=champion)
            self.metrics.fallbacks.labels(reason="not_loaded").inc()
        shadow = self.shadow
        if challenger is not None and shadow is not None and random.random() < shadow.fraction:  # noqa: S311
            return Choice(CHAMPION, champion, shadow=challenger)
        return Choice(CHAMPION, champion)

    async def serve(self, choice: Choice, rows: Matrix, predict: PredictFn) -> tuple[Variant, Prediction]:
        """Predict `rows` with the chosen variant (`predict(model)` returns a `Prediction`); the champion answers
        when the challenger fails. Returns the variant that answered and its prediction."""
        try:
            result = await self._timed(choice.variant, choice.model, predict)
        except PredictionFailed as e:
            if choice.fallback is None:
                raise
            self.metrics.fallbacks.labels(reason="error").inc()
            log.warning(
                "the challenger failed; the champion answers",
                extra={"version": choice.model.version, "error": e.message},
            )
            return CHAMPION, await self._timed(CHAMPION, choice.fallback, predict)
        if choice.shadow is not None and self.shadow is not None:
            self.shadow.submit(rows, choice.model, result.values, choice.shadow)
        return choice.variant, result

    async def _timed(self, variant: Variant, model: LoadedModel, predict: PredictFn) -> Prediction:
        started = time.perf_counter()
        outcome = "error"
        try:
            # predict() already refuses non-finite numbers for every variant (NonFiniteOutput, a PredictionFailed,
            # so a challenger's falls back to the champion); labels are the model's own business.
            result = await predict(model)
            outcome = "ok"
            return result
        finally:
            key = (variant, model.version, outcome)
            series = self._series.get(key)
            if series is None:
                metrics = self.metrics
                series = self._series[key] = (
                    metrics.requests.labels(variant, model.version, outcome),
                    metrics.duration.labels(variant, model.version),
                )
            self.tally.inc(series[0])
            self.tally.observe(series[1], time.perf_counter() - started)

    def describe(self) -> dict[str, Any]:
        """For /health: the challenger's state (like the champion's), the split and the shadow queue."""
        if self.challenger is None or self.challenger_ref is None:
            return {"challenger": None}
        champion = self.champion.current
        live = self.live_challenger(champion) if champion is not None else None
        return {
            "challenger": {
                "model_ref": self.challenger_ref.uri,
                "serving": live is not None,
                **self.challenger.describe(),
            },
            "ab": self.split.describe(),
            "shadow": self.shadow.describe() if self.shadow is not None else {"fraction": 0.0},
        }
