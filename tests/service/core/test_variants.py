"""The champion and challenger holder: per-version metric series end with their version."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from service.core.loader import LoadedModel
from service.core.refs import ModelRef
from service.core.split import Split, Weights
from service.core.variants import Variants


def test_a_replaced_versions_request_and_latency_series_are_dropped(challenger: LoadedModel) -> None:
    """Per-version series of versions long gone would otherwise pile up in every worker until it restarts."""
    registry = CollectorRegistry()
    split = Split(Weights(100, 0), "X", "champion")
    variants = Variants(ModelRef("m", alias="production"), None, split, None, registry)
    variants.metrics.requests.labels("champion", challenger.version, "ok").inc()
    variants.metrics.requests.labels("champion", "other", "ok").inc()
    variants.metrics.duration.labels("champion", challenger.version).observe(0.01)
    variants.forget(challenger)
    versions = {s.labels.get("version") for m in registry.collect() for s in m.samples}
    assert versions == {"other"}
