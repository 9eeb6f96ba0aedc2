"""Champion and challenger: two aliases served side by side, the weighted A/B split, and who answers a request.

Each alias has its own holder and reloader (service/core/reload.py), so the challenger is followed, validated and
rejected exactly as the champion is, and must also keep the champion's signature and output shape.

A request is assigned a variant by its key header: sha256 of the key, first 8 bytes, modulo 10,000 buckets; the
top `challenger share x 10,000` buckets go to the challenger. The same key lands in the same variant in every
worker and pod, across restarts, and a larger challenger share keeps every key it had. Requests without the key
go to the champion (or, with `ab_unkeyed=random`, to a random bucket).

Weights come from the `ab_weights` setting unless the registered model carries the tag `serving.ab_weights`,
read every reload interval: changing the tag changes the split without a redeploy. A bad tag is reported and
ignored (the last good weights stay).

A challenger that fails to predict never fails the caller: the champion answers instead, and the failure is
counted against the challenger.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from prometheus_client import CollectorRegistry, Counter, Histogram

from service.core.errors import ModelNotReady, PredictionFailed
from service.core.model import LoadedModel, ModelRef, Registry
from service.core.predict import Prediction
from service.core.reload import ModelHolder, Reloader
from service.core.shadow import Shadow
from service.core.trust import TrustPolicy
from service.core.validation import Matrix
from service.metrics import LATENCY_BUCKETS, Metrics, drop_series

log = logging.getLogger(__name__)

Variant = Literal["champion", "challenger"]
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
BUCKETS = 10_000
WEIGHTS_TAG = "serving.ab_weights"

Unkeyed = Literal["champion", "random"]
PredictFn = Callable[[LoadedModel], Awaitable[Prediction]]


class WeightsError(ValueError):
    """A weights string that does not parse; the message names the part at fault."""


@dataclass(frozen=True)
class Weights:
    champion: float
    challenger: float

    @property
    def share(self) -> float:
        """The challenger's fraction, 0..1. Scaled by the larger weight first: with weights near the float
        maximum, `10000 * w` or `w1 + w2` would overflow to inf and the split to NaN."""
        top = max(self.champion, self.challenger)
        if not top > 0:
            return 0.0
        return (self.challenger / top) / (self.champion / top + self.challenger / top)

    @property
    def challenger_buckets(self) -> int:
        """How many of the 10,000 buckets the challenger gets."""
        return round(BUCKETS * self.share)

    def describe(self) -> dict[str, float]:
        return {CHAMPION: self.champion, CHALLENGER: self.challenger}

    def __str__(self) -> str:
        return f"champion={self.champion:g},challenger={self.challenger:g}"


ALL_CHAMPION = Weights(100.0, 0.0)


def parse_weights(text: str) -> Weights:
    """`champion=80,challenger=20` (either may be left out: 0); empty means everything to the champion."""
    text = text.strip()
    if not text:
        return ALL_CHAMPION
    found: dict[str, float] = {}
    for part in text.split(","):
        name, sep, raw = (p.strip() for p in part.partition("="))
        if not sep or name not in (CHAMPION, CHALLENGER):
            raise WeightsError(f"{part.strip()!r} is not champion=<weight> or challenger=<weight>")
        if name in found:
            raise WeightsError(f"{name} is given twice")
        try:
            weight = float(raw)
        except ValueError as e:
            raise WeightsError(f"the weight of {name} must be a number, got {raw!r}") from e
        if not math.isfinite(weight) or weight < 0:
            raise WeightsError(f"the weight of {name} must be a finite number >= 0, got {raw!r}")
        found[name] = weight
    weights = Weights(found.get(CHAMPION, 0.0), found.get(CHALLENGER, 0.0))
    if weights.champion <= 0 and weights.challenger <= 0:
        raise WeightsError("the weights add up to 0: give at least one variant a share")
    if not 0.0 <= weights.share <= 1.0:
        raise WeightsError(f"the challenger's share {weights.share!r} is not between 0 and 1")
    return weights


def bucket(key: str) -> int:
    """The key's bucket, 0..9999: stable across processes and releases (unlike Python's hash())."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign(
    key: str | None, weights: Weights, unkeyed: Unkeyed = "champion", draw: Callable[[], int] | None = None
) -> Variant:
    """The variant for a request key; `draw` picks a bucket for a request without one (`unkeyed=random`)."""
    share = weights.challenger_buckets
    if share <= 0:
        return CHAMPION
    if share >= BUCKETS:
        return CHALLENGER
    if key is None:
        if unkeyed == "champion":
            return CHAMPION
        slot = draw() if draw is not None else random.randrange(BUCKETS)  # noqa: S311 - a split, not a secret
    else:
        slot = bucket(key)
    return CHALLENGER if slot >= BUCKETS - share else CHAMPION


class Split:
    """The weights in force: the setting's, unless the registered model's tag says otherwise."""

    def __init__(self, default: Weights, key_header: str, unkeyed: Unkeyed) -> None:
        self.default = default
        self.key_header = key_header
        self.unkeyed = unkeyed
        self.weights = default
        self.source = "setting"
        self.tag_value: str | None = None
        self.error: str | None = None

    def apply_tag(self, value: str | None) -> None:
        """Follow the tag's value (None: no tag, back to the setting). A bad value keeps the weights in force."""
        if value == self.tag_value:
            return
        self.tag_value = value
        if value is None:
            self.weights, self.source, self.error = self.default, "setting", None
            log.info("A/B weights from the setting", extra={"weights": str(self.weights)})
            return
        try:
            weights = parse_weights(value)
        except WeightsError as e:
            self.error = f"tag {WEIGHTS_TAG}={value!r} ignored: {e}"
            log.warning("bad A/B weights tag; the weights in force stay", extra={"tag": value, "error": str(e)})
            return
        self.weights, self.source, self.error = weights, f"tag {WEIGHTS_TAG}", None
        log.info("A/B weights from the registry tag", extra={"weights": str(weights)})

    def describe(self) -> dict[str, Any]:
        return {
            "weights": self.weights.describe(),
            "source": self.source,
            "error": self.error,
            "key_header": self.key_header,
            "unkeyed": self.unkeyed,
        }


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
    ) -> None:
        self.champion_ref = champion
        self.challenger_ref = challenger
        self.champion = ModelHolder()
        self.challenger = ModelHolder() if challenger is not None else None
        self.split = split
        self.shadow = shadow
        self.metrics = VariantMetrics(registry)

    def start(
        self,
        tasks: TaskGroup,
        registry: Registry,
        model_dir: Path,
        interval_s: float,
        metrics: Metrics,
        *,
        policy: TrustPolicy | None = None,
        expected: dict[str, Any] | None = None,
        retire_grace_s: float = 30.0,
        retry_max_s: float = 300.0,
    ) -> anyio.Event:
        """Follow both aliases (and the weights tag, and the shadow queue) in `tasks`; returns the champion's
        first-check event."""
        common: dict[str, Any] = {
            "policy": policy,
            "expected": expected,
            "retire_grace_s": retire_grace_s,
            "retry_max_s": retry_max_s,
            "on_retire": self.forget,
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
        for metric in (self.metrics.requests, self.metrics.duration):
            drop_series(metric, {"version": model.version})

    async def follow_weights_tag(self, registry: Registry, interval_s: float) -> None:
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
            self.metrics.requests.labels(variant, model.version, outcome).inc()
            self.metrics.duration.labels(variant, model.version).observe(time.perf_counter() - started)

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
