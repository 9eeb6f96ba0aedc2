"""The pure rules under the CLI: data fingerprint and feature statistics, the gate, the rollback stack, pins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training import data
from training.config import GateConfig
from training.registry import champion_stack, gate_verdict, validate_alias
from training.tracking import LifecycleError, pinned_requirements


def test_fingerprint_is_stable_and_sensitive_to_any_value() -> None:
    split = data.load_split(0.2, 42)
    first = data.fingerprint(split.x_train, split.y_train)
    assert first == data.fingerprint(split.x_train.copy(), split.y_train.copy())
    changed = split.x_train.copy()
    changed.iloc[0, 0] += 1e-12
    assert data.fingerprint(changed, split.y_train) != first
    assert data.fingerprint(*(lambda s: (s.x_train, s.y_train))(data.load_split(0.2, 7))) != first


def test_feature_stats_bins_follow_the_documented_rule() -> None:
    x = pd.DataFrame({"cont": np.arange(100, dtype="float64"), "binary": [0.0] * 60 + [1.0] * 40})
    stats = data.feature_stats(x)
    cont, binary = stats["features"]["cont"], stats["features"]["binary"]
    assert len(cont["bin_edges"]) == 11 and cont["bin_fractions"] == pytest.approx([0.1] * 10)
    # Few distinct values give fewer bins, still summing to 1 and reproducible with bin_index.
    assert sum(binary["bin_fractions"]) == pytest.approx(1.0)
    assert binary["bin_fractions"][-1] == pytest.approx(0.4)
    assert (cont["min"], cont["max"], cont["count"]) == (0.0, 99.0, 100)
    # Values outside the training range land in the open-ended outer bins.
    assert data.bin_index(np.array([-5.0, 500.0]), cont["bin_edges"]).tolist() == [0, 9]


RMSE = GateConfig(metric="rmse", tolerance=0.05)
R2 = GateConfig(metric="r2", tolerance=0.0)


@pytest.mark.parametrize(
    ("gate", "challenger", "champion", "passed"),
    [
        (RMSE, 50.0, 50.0, True),
        (RMSE, 52.5, 50.0, True),  # exactly at the 5 % tolerance
        (RMSE, 52.6, 50.0, False),
        (RMSE, 40.0, 50.0, True),
        (R2, 0.45, 0.46, False),  # higher is better for r2
        (R2, 0.47, 0.46, True),
        (RMSE, None, 50.0, False),  # a challenger without the metric cannot be compared
        (RMSE, 50.0, None, False),
    ],
)
def test_gate_verdict(gate: GateConfig, challenger: float | None, champion: float | None, passed: bool) -> None:
    verdict = gate_verdict(gate, "2", challenger, "1", champion)
    assert verdict.passed is passed
    assert "challenger v2" in verdict.describe() and "champion v1" in verdict.describe()


def test_first_promotion_has_no_champion_to_beat() -> None:
    assert gate_verdict(RMSE, "1", 99.0, None, None).passed


@pytest.mark.parametrize(
    ("history", "stack"),
    [
        ([], []),
        ([("promote", "1", None), ("promote", "2", "1")], ["1", "2"]),
        ([("promote", "1", None), ("promote", "2", "1"), ("rollback", "1", "2")], ["1"]),
        ([("promote", "1", None), ("promote", "2", "1"), ("rollback", "1", "2"), ("promote", "3", "1")], ["1", "3"]),
        # Trimmed history, or an alias moved outside the CLI: the recorded previous champion is still known.
        ([("force", "5", "4")], ["4", "5"]),
        ([("promote", "2", "1"), ("promote", "4", "3")], ["1", "2", "3", "4"]),
    ],
)
def test_champion_stack_replays_promotions_and_rollbacks(
    history: list[tuple[str, str, str | None]], stack: list[str]
) -> None:
    entries = [{"action": a, "version": v, "previous": p} for a, v, p in history]
    assert champion_stack(entries) == stack


@pytest.mark.parametrize("alias", ["latest", "v3", "has space", ""])
def test_invalid_aliases_are_refused(alias: str) -> None:
    with pytest.raises(LifecycleError, match="is not valid"):
        validate_alias(alias)


def test_model_pins_come_from_training_requirements(tmp_path: Path) -> None:
    pins = pinned_requirements()
    assert "scikit-learn==1.9.1" in pins and all("==" in p for p in pins)
    unpinned = tmp_path / "requirements.txt"
    unpinned.write_text("scikit-learn>=1.0\nnumpy==2.4.6\n")
    with pytest.raises(LifecycleError, match="must pin .*scikit-learn"):
        pinned_requirements(unpinned)
