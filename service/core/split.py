"""The weighted A/B split between champion and challenger: the weights, and which variant a request key gets.

A request is assigned a variant by its key header: sha256 of the key, first 8 bytes, modulo 10,000 buckets; the
top `challenger share x 10,000` buckets go to the challenger. The same key lands in the same variant in every
worker and pod, across restarts, and a larger challenger share keeps every key it had. Requests without the key
go to the champion (or, with `ab_unkeyed=random`, to a random bucket).

Weights come from the `ab_weights` setting unless the registered model carries the tag `serving.ab_weights`,
read every reload interval: changing the tag changes the split without a redeploy. A bad tag is reported and
ignored (the last good weights stay).

Pure Python: `service.settings` parses the weights setting with it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

log = logging.getLogger(__name__)

Variant = Literal["champion", "challenger"]
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
BUCKETS = 10_000
WEIGHTS_TAG = "serving.ab_weights"

Unkeyed = Literal["champion", "random"]


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
