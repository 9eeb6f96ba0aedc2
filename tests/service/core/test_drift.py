"""Input drift: PSI over the training bins logged with the model, per window, as docs/operations.md gives it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from service.core.drift import DriftMonitor, NoReference, Reference, evaluate, psi
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


def test_a_window_is_evaluated_with_the_figures_of_each_feature_alone(champion: LoadedModel, split: data.Split) -> None:
    """`evaluate` treats all features in one numpy call per statistic (the window transposed, the bins side by
    side); the figures must be exactly those of `psi()` and numpy's mean, std, min and max of each column alone,
    on windows of any length (numpy's pairwise sums change shape at 8 and 128 values, its buffers at 8192)."""
    reference = Reference.of(champion)
    training = split.x_train.to_numpy()
    rng = np.random.default_rng(5)
    for rows in (100, 129, 1000, 1001, 8193):
        window = training[rng.integers(0, len(training), rows)] * rng.normal(1.0, 0.3, (rows, training.shape[1]))
        result = evaluate(window, reference)
        for f in reference.features:
            values = window[:, f.column]
            got = result.features[f.name]
            outside = np.count_nonzero((values < f.minimum) | (values > f.maximum)) / len(values)
            expected = (psi(values, f), outside, float(values.mean()), float(values.std(ddof=1)))
            assert (got.psi, got.out_of_range_ratio, got.mean, got.std) == expected, (rows, f.name)
            assert (got.minimum, got.maximum) == (float(values.min()), float(values.max()))
    # A NaN (a string column read as a number is one) goes past every edge, as searchsorted puts it.
    window[::7, reference.features[0].column] = np.nan
    f = reference.features[0]
    values = window[:, f.column]
    got = evaluate(window, reference).features[f.name]
    assert got.psi == psi(values, f) and np.isnan(got.mean)


def test_rows_held_back_are_in_the_window_before_anything_reads_it(champion: LoadedModel, split: data.Split) -> None:
    """One-row requests are copied into the window in batches: fed one row at a time or all at once, a monitor
    reports the same windows, rows in the current window and gauges the moment it is read."""
    training = split.x_train.to_numpy()
    rows = training[np.random.default_rng(2).integers(0, len(training), 450)]
    registries = CollectorRegistry(), CollectorRegistry()
    one_by_one, at_once = (DriftMonitor(window_rows=300, threshold=0.2, registry=r) for r in registries)
    for row in rows:
        one_by_one.observe(row[None, :], champion)
    at_once.observe(rows, champion)

    def seen(monitor: DriftMonitor) -> dict[str, Any]:
        described = monitor.describe()
        assert described["last_window"] is not None
        del described["last_window"]["evaluated_at"]
        return described

    assert seen(one_by_one) == seen(at_once)
    assert seen(one_by_one)["rows_in_current_window"] == 150 and seen(one_by_one)["windows_evaluated"] == 1
    psi_of = [r.get_sample_value("serving_drift_psi", {"feature": "bmi"}) for r in registries]
    assert psi_of[0] is not None and psi_of[0] == psi_of[1]

    scraped = CollectorRegistry()
    monitor = DriftMonitor(window_rows=100, threshold=0.2, registry=scraped)
    for row in rows[:100]:
        monitor.observe(row[None, :], champion)
    assert scraped.get_sample_value("serving_drift_windows_total") == 1, "a scrape alone folds the rows held back"


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
