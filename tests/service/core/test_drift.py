"""Input drift: PSI over the training bins logged with the model, per window, as docs/operations.md gives it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from service.core.drift import DriftMonitor, NoReference, Reference, psi
from service.core.loader import LoadedModel
from training import data


def documented_psi(live: np.ndarray, feature: dict[str, Any], floor: float = 1e-4) -> float:
    """The formula docs/operations.md gives, verbatim."""
    edges = np.asarray(feature["bin_edges"][1:-1])
    counts = np.bincount(np.searchsorted(edges, live, side="right"), minlength=len(feature["bin_fractions"]))
    actual = np.maximum(counts / max(len(live), 1), floor)
    expected = np.maximum(np.asarray(feature["bin_fractions"]), floor)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def test_psi_uses_exactly_the_documented_training_bins(champion: LoadedModel, split: data.Split) -> None:
    reference = Reference.of(champion)
    assert [f.name for f in reference.features] == list(data.FEATURES)
    stats = champion.feature_stats
    assert stats is not None
    rng = np.random.default_rng(3)
    for f in reference.features:
        live = split.x_test[f.name].to_numpy() + rng.normal(0, 0.01, len(split.x_test))
        assert psi(live, f) == pytest.approx(documented_psi(live, stats["features"][f.name]), rel=1e-12)


def test_shifted_inputs_raise_psi_above_the_threshold_and_unshifted_ones_stay_below(
    champion: LoadedModel, split: data.Split
) -> None:
    registry = CollectorRegistry()
    monitor = DriftMonitor(window_rows=300, threshold=0.2, registry=registry)
    training = split.x_train.to_numpy()
    rng = np.random.default_rng(11)
    unshifted = training[rng.integers(0, len(training), 300)]
    monitor.observe(unshifted[:120], champion)
    assert monitor.status() == "warming_up" and monitor.describe()["rows_in_current_window"] == 120
    monitor.observe(unshifted[120:], champion)
    calm = monitor.describe()
    assert calm["status"] == "ok" and calm["drifted"] == [] and calm["windows_evaluated"] == 1
    assert max(f["psi"] for f in calm["last_window"]["features"].values()) < 0.2

    bmi = list(data.FEATURES).index("bmi")
    shifted = training[rng.integers(0, len(training), 300)].copy()
    shifted[:, bmi] += 2 * training[:, bmi].std()
    monitor.observe(shifted, champion)
    drifted = monitor.describe()
    assert drifted["status"] == "drift" and drifted["drifted"] == ["bmi"]
    features = drifted["last_window"]["features"]
    assert features["bmi"]["psi"] > 0.2 and features["bmi"]["drifted"]
    assert features["bmi"]["out_of_range_ratio"] > 0.05
    assert features["age"]["out_of_range_ratio"] == 0.0 and features["age"]["psi"] < 0.2
    gauge = registry.get_sample_value("serving_drift_psi", {"feature": "bmi"})
    assert gauge == pytest.approx(features["bmi"]["psi"], abs=1e-6)
    assert registry.get_sample_value("serving_drift_windows_total") == 2


def test_a_model_without_statistics_has_no_reference_and_drift_says_why(challenger: LoadedModel) -> None:
    monitor = DriftMonitor(window_rows=100, threshold=0.2, registry=CollectorRegistry())
    monitor.observe(np.zeros((150, 10)), challenger)
    assert monitor.status() == "no_reference"
    assert "without feature_stats.json" in str(monitor.describe()["reference_error"])


def test_a_broken_reference_names_the_field(champion: LoadedModel) -> None:
    assert champion.feature_stats is not None
    stats = json.loads(json.dumps(champion.feature_stats))
    stats["features"]["bmi"]["bin_fractions"] = stats["features"]["bmi"]["bin_fractions"][:-1]
    with pytest.raises(NoReference, match="features.bmi: bin_fractions must have one entry per bin"):
        Reference.of(replace(champion, feature_stats=stats))
    with pytest.raises(NoReference, match="schema_version"):
        Reference.of(replace(champion, feature_stats={**stats, "schema_version": 2}))
