"""Champion/challenger, shadow and drift cores without any server: the split, its settings, the shadow queue, PSI."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from sklearn.linear_model import LinearRegression, Ridge

from service.core.drift import DriftMonitor, NoReference, Reference, psi
from service.core.loader import LoadedModel, open_model, validate
from service.core.refs import ModelRef, VersionRef
from service.core.shadow import Shadow, ShadowJob
from service.core.split import BUCKETS, Split, Weights, WeightsError, assign, bucket, parse_weights
from service.core.variants import Variants
from service.settings import Settings
from tests.support.models import PIP_REQUIREMENTS
from training import data

# ----------------------------------------------------------------------------------------- the A/B split


def test_an_80_20_split_of_10000_keys_lands_within_2_percent_and_is_sticky() -> None:
    weights = parse_weights("champion=80,challenger=20")
    keys = [f"user-{i}" for i in range(10_000)]
    first = [assign(k, weights) for k in keys]
    share = first.count("challenger") / len(keys)
    assert 0.18 <= share <= 0.22, share
    assert [assign(k, weights) for k in keys] == first, "the same key always gets the same variant"


def test_the_bucket_is_sha256_based_so_every_process_and_release_agrees() -> None:
    """Python's hash() is salted per process; pods must agree, so these values are part of the contract."""
    assert (bucket("user-42"), bucket("alice"), bucket("")) == (5129, 207, 1652)
    assert all(0 <= bucket(f"k{i}") < BUCKETS for i in range(1000))


def test_a_bigger_challenger_share_keeps_every_key_it_had() -> None:
    keys = [f"user-{i}" for i in range(5000)]
    at_10 = {k for k in keys if assign(k, Weights(90, 10)) == "challenger"}
    at_30 = {k for k in keys if assign(k, Weights(70, 30)) == "challenger"}
    assert at_10 < at_30, "raising the share only moves champion keys over"


def test_unkeyed_requests_go_to_the_champion_unless_drawn_at_random() -> None:
    weights = Weights(50, 50)
    assert {assign(None, weights) for _ in range(200)} == {"champion"}
    rng = random.Random(7)
    drawn = [assign(None, weights, "random", lambda: rng.randrange(BUCKETS)) for _ in range(4000)]
    assert 0.45 <= drawn.count("challenger") / len(drawn) <= 0.55


def test_all_or_nothing_weights() -> None:
    assert {assign(f"k{i}", parse_weights("")) for i in range(500)} == {"champion"}
    assert {assign(f"k{i}", parse_weights("challenger=1")) for i in range(500)} == {"challenger"}
    assert {assign(f"k{i}", parse_weights("champion=1,challenger=0")) for i in range(500)} == {"champion"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("champion=80,challanger=20", "'challanger=20' is not champion=<weight>"),
        ("champion=80;challenger=20", "must be a number, got '80;challenger=20'"),
        ("champion=80,champion=20", "champion is given twice"),
        ("champion=eighty", "the weight of champion must be a number"),
        ("champion=-1,challenger=2", "finite number >= 0"),
        ("champion=nan", "finite number >= 0"),
        ("champion=0,challenger=0", "add up to 0"),
    ],
)
def test_bad_weights_are_refused_naming_the_part_at_fault(text: str, message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        parse_weights(text)


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("champion=100,challenger=1e305", 1.0),
        ("champion=1e308,challenger=1e308", 0.5),
        ("champion=5e-324,challenger=5e-324", 0.5),
        ("champion=1e308,challenger=1", 0.0),
    ],
)
def test_weights_near_the_float_limits_split_by_their_ratio_and_never_fail_a_request(text: str, share: float) -> None:
    """`10000 * w` and `w1 + w2` overflow to inf near 1.8e308 (IEEE 754 binary64): the share must not."""
    weights = parse_weights(text)
    assert weights.share == pytest.approx(share)
    assert {assign(f"visitor-{i}", weights) for i in range(50)} <= {"champion", "challenger"}
    split = Split(Weights(80, 20), "X-User-Id", "champion")
    split.apply_tag(text)
    assert split.weights == weights and split.error is None


def test_a_registry_tag_overrides_the_setting_and_a_bad_one_keeps_the_weights_in_force() -> None:
    split = Split(Weights(80, 20), "X-User-Id", "champion")
    split.apply_tag("champion=50,challenger=50")
    assert (split.weights, split.source, split.error) == (Weights(50, 50), "tag serving.ab_weights", None)
    split.apply_tag("champion=50,challenger=fifty")
    assert split.weights == Weights(50, 50)
    assert split.error is not None and "serving.ab_weights" in split.error and "must be a number" in split.error
    split.apply_tag(None)
    assert (split.weights, split.source, split.error) == (Weights(80, 20), "setting", None)


# ------------------------------------------------------------------------------------------- settings


def test_variant_settings_are_validated_naming_the_setting() -> None:
    base: dict[str, Any] = {"registry_uri": "http://m"}
    with pytest.raises(ValidationError, match="SERVING_AB_WEIGHTS: the weight of challenger must be a number"):
        Settings(**base, challenger_alias="challenger", ab_weights="champion=80,challenger=x")
    with pytest.raises(ValidationError, match="SERVING_SHADOW_FRACTION is above 0: set SERVING_CHALLENGER_ALIAS"):
        Settings(**base, shadow_fraction=0.1)
    with pytest.raises(ValidationError, match="SERVING_AB_WEIGHTS gives the challenger a share"):
        Settings(**base, ab_weights="champion=80,challenger=20")
    with pytest.raises(ValidationError, match="must differ from the champion's alias"):
        Settings(**base, challenger_alias="production")
    with pytest.raises(ValidationError, match="SERVING_CHALLENGER_ALIAS 'a b' is not an alias"):
        Settings(**base, challenger_alias="a b")
    with pytest.raises(ValidationError, match="shadow_fraction"):
        Settings(**base, challenger_alias="challenger", shadow_fraction=1.5)
    with pytest.raises(ValidationError, match="SERVING_DRIFT_WINDOW_ROWS must be 0"):
        Settings(**base, drift_window_rows=50)
    ok = Settings(**base, challenger_alias="challenger", ab_weights="champion=80,challenger=20", shadow_fraction=0.1)
    assert ok.challenger_ref() is not None and ok.challenger_ref().uri == "models:/linear_regression@challenger"  # type: ignore[union-attr]
    assert ok.weights() == Weights(80, 20)


# ------------------------------------------------------------------------------------ models on disk


def save(model: Any, path: Path, features: pd.DataFrame, stats: dict[str, Any] | None) -> Path:
    extra = []
    if stats is not None:
        stats_file = path.parent / "stats" / "feature_stats.json"  # the name it keeps inside the model
        stats_file.parent.mkdir()
        stats_file.write_text(json.dumps(stats))
        extra = [str(stats_file)]
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(features, model.predict(features)),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
        extra_files=extra or None,
    )
    return path


def opened(path: Path, version: str) -> LoadedModel:
    model, probe = open_model(path, VersionRef("m", version, None), "production", time.monotonic())
    return replace(model, output_shape=validate(model, probe, None))


@pytest.fixture(scope="module")
def split() -> data.Split:
    return data.load_split(0.2, 42)


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory, split: data.Split) -> LoadedModel:
    """Trained like the training CLI trains, with its training-set statistics logged inside."""
    model = LinearRegression().fit(split.x_train, split.y_train)
    path = save(model, tmp_path_factory.mktemp("champion") / "model", split.x_train, data.feature_stats(split.x_train))
    return opened(path, "1")


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory, split: data.Split) -> LoadedModel:
    model = Ridge(alpha=0.5).fit(split.x_train, split.y_train)
    return opened(save(model, tmp_path_factory.mktemp("challenger") / "model", split.x_train, None), "2")


# --------------------------------------------------------------------------------------------- shadow


def test_a_full_shadow_queue_drops_and_counts_without_waiting(
    champion: LoadedModel, challenger: LoadedModel, split: data.Split
) -> None:
    registry = CollectorRegistry()
    shadow = Shadow(fraction=1.0, queue_size=3, log_sample=0.0, registry=registry)
    rows = split.x_test.to_numpy()[:4]
    answer = champion.predictor.predict(rows).tolist()
    started = time.perf_counter()
    accepted = [shadow.submit(rows, champion, answer, challenger) for _ in range(5)]
    assert time.perf_counter() - started < 0.05, "submitting never waits for the challenger"
    assert accepted == [True, True, True, False, False]
    assert registry.get_sample_value("serving_shadow_dropped_total") == 2
    assert shadow.describe()["queued"] == 3


def test_the_shadow_consumer_compares_each_row_pair(
    champion: LoadedModel, challenger: LoadedModel, split: data.Split
) -> None:
    registry = CollectorRegistry()
    shadow = Shadow(fraction=1.0, queue_size=8, log_sample=0.0, registry=registry)
    rows = split.x_test.to_numpy()[:10]
    answer = champion.predictor.predict(rows).tolist()
    expected = np.abs(np.asarray(answer) - challenger.predictor.predict(rows))

    async def run() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(shadow.run)
            shadow.submit(rows, champion, answer, challenger)
            shadow.submit(rows[:3], champion, answer[:3], challenger)
            with anyio.fail_after(10):
                while (
                    registry.get_sample_value(
                        "serving_shadow_challenger_duration_seconds_count", {"challenger_version": "2"}
                    )
                    != 2
                ):
                    await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()

    anyio.run(run)
    labels = {"champion_version": "1", "challenger_version": "2"}
    assert registry.get_sample_value("serving_shadow_abs_difference_count", labels) == 13
    total = registry.get_sample_value("serving_shadow_abs_difference_sum", labels)
    assert total == pytest.approx(expected.sum() + expected[:3].sum(), rel=1e-9)
    assert not registry.get_sample_value("serving_shadow_challenger_errors_total", {"challenger_version": "2"})


def test_a_challenger_answer_of_the_wrong_length_is_an_error_not_a_pair(
    champion: LoadedModel, challenger: LoadedModel, split: data.Split
) -> None:
    registry = CollectorRegistry()
    shadow = Shadow(fraction=1.0, queue_size=8, log_sample=0.0, registry=registry)
    rows = split.x_test.to_numpy()[:4]
    shadow.compare(ShadowJob(rows, champion, [1.0, 2.0], challenger, None))
    assert registry.get_sample_value("serving_shadow_challenger_errors_total", {"challenger_version": "2"}) == 1
    assert (
        registry.get_sample_value(
            "serving_shadow_abs_difference_count", {"champion_version": "1", "challenger_version": "2"}
        )
        is None
    )


# ---------------------------------------------------------------------------------------------- drift


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
