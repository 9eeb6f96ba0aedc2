"""Champion and challenger served side by side over a real MLflow registry and a real Redis.

Shadow traffic, the sticky A/B split and its weights tag, a broken challenger, and drift against the training
statistics logged inside the model.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression, Ridge

from local import servers
from service.core.split import WEIGHTS_TAG, Weights, assign
from tests.support.models import LinearPythonModel, register_pyfunc, register_sklearn
from tests.support.serving import metric, serving, settings_for, wait_for
from training import data

POLL_S = 0.5
LOAD_BOUND_S = 10.0


def challenger_serving(client: TestClient) -> bool:
    return bool((client.get("/health").json().get("challenger") or {}).get("serving"))


def ask(client: TestClient, rows: pd.DataFrame, key: str | None = None) -> Any:
    headers = {"X-User-Id": key} if key is not None else {}
    answer = client.post("/predict", json={"instances": rows.to_dict(orient="records")}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Model-Variant"] == answer.json()["variant"]
    return answer


class FailsOnBigBatches(LinearPythonModel):
    """Passes load validation (3 example rows) and fails on any larger batch: a bug only traffic reveals."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        if len(model_input) > 3:
            raise RuntimeError("challenger bug: batches over 3 rows")
        return super().predict(context, model_input, params)


# --------------------------------------------------------------------------------------------- shadow


def test_shadow_never_changes_the_answer_and_its_metrics_count_the_pairs(
    tracking: str,
    redis_server: servers.RedisServer,
    linear: LinearRegression,
    ridge: Ridge,
    diabetes: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = "svc_variants_shadow"
    features = diabetes[0]
    v1 = register_sklearn(name, linear, features)
    v2 = register_sklearn(name, ridge, features, alias="challenger")
    settings = settings_for(
        tracking, name, tmp_path, challenger_alias="challenger", shadow_fraction=1.0, shadow_log_sample=1.0,
        cache_enabled=True, cache_url=redis_server.url, cache_key_prefix=f"shadow-{secrets.token_hex(3)}:",
    )  # fmt: skip
    batches = [features.sample(n, random_state=seed) for seed, n in enumerate((5, 7, 3, 5, 9, 1))]
    with caplog.at_level(logging.INFO, logger="service.core.shadow"), serving(settings) as client:
        wait_for(lambda: challenger_serving(client), POLL_S + LOAD_BOUND_S, "the challenger is loaded")
        # Twice: the second time the champion's answers come from Redis, and are still what is compared.
        for rows in batches + batches:
            answer = ask(client, rows, key=f"user-{secrets.token_hex(4)}")
            body = answer.json()
            assert body["variant"] == "champion" and body["model"]["version"] == v1
            np.testing.assert_allclose(body["predictions"], linear.predict(rows), rtol=1e-12)
        pairs = 2 * sum(len(b) for b in batches)
        labels = {"champion_version": v1, "challenger_version": v2}
        wait_for(lambda: metric(client, "serving_shadow_abs_difference_count", **labels) == pairs, 10, "all pairs")
        expected = 2 * sum(float(np.abs(linear.predict(b) - ridge.predict(b)).sum()) for b in batches)
        assert metric(client, "serving_shadow_abs_difference_sum", **labels) == pytest.approx(expected, rel=1e-9)
        assert metric(client, "serving_shadow_challenger_duration_seconds_count", challenger_version=v2) == 12
        assert metric(client, "serving_shadow_challenger_errors_total") == 0
        assert metric(client, "serving_shadow_dropped_total") == 0
        assert metric(client, "serving_variant_requests_total", variant="challenger") == 0
        assert metric(client, "serving_variant_requests_total", variant="champion", version=v1, outcome="ok") == 12
        shadow = client.get("/health").json()["shadow"]
        assert shadow["fraction"] == 1.0 and shadow["queued"] == 0
    logged = [r for r in caplog.records if r.getMessage() == "shadow pair"]
    assert len(logged) == 12
    first = logged[0].__dict__
    assert (first["champion_version"], first["challenger_version"], first["rows"]) == (v1, v2, 5)
    np.testing.assert_allclose(first["challenger"], ridge.predict(batches[0]), rtol=1e-12)


# ----------------------------------------------------------------------------------------------- A/B


def test_ab_split_is_sticky_per_key_names_the_variant_and_follows_the_registry_tag(
    tracking: str, linear: LinearRegression, ridge: Ridge, diabetes: Any, tmp_path: Path
) -> None:
    name = "svc_variants_ab"
    features = diabetes[0]
    v1 = register_sklearn(name, linear, features)
    v2 = register_sklearn(name, ridge, features, alias="challenger")
    settings = settings_for(
        tracking, name, tmp_path, challenger_alias="challenger", ab_weights="champion=50,challenger=50"
    )
    rows = features.head(4)
    keys = [f"customer-{i}" for i in range(40)]
    expected = {k: assign(k, Weights(50, 50)) for k in keys}
    assert set(expected.values()) == {"champion", "challenger"}
    with serving(settings) as client:
        wait_for(lambda: challenger_serving(client), POLL_S + LOAD_BOUND_S, "the challenger is loaded")
        for key in keys + keys:
            answer = ask(client, rows, key)
            body = answer.json()
            assert body["variant"] == expected[key], f"{key} is always assigned to {expected[key]}"
            model = ridge if body["variant"] == "challenger" else linear
            assert body["model"]["version"] == (v2 if model is ridge else v1) == answer.headers["X-Model-Version"]
            np.testing.assert_allclose(body["predictions"], model.predict(rows), rtol=1e-12)
        to_challenger = 2 * sum(v == "challenger" for v in expected.values())
        assert metric(client, "serving_variant_requests_total", variant="challenger", version=v2) == to_challenger
        assert metric(client, "serving_variant_requests_total", variant="champion", version=v1) == 80 - to_challenger
        assert (
            metric(client, "serving_variant_prediction_duration_seconds_count", variant="challenger") == to_challenger
        )
        # No key: the champion (ab_unkeyed=champion), on both endpoints.
        assert ask(client, rows).json()["variant"] == "champion"
        invocations = client.post(
            "/invocations", json={"dataframe_records": rows.to_dict(orient="records")}, headers={"X-User-Id": keys[0]}
        )
        assert invocations.headers["X-Model-Variant"] == expected[keys[0]] and set(invocations.json()) == {
            "predictions"
        }

        # The weights move without a redeploy: the registered model's tag overrides the setting.
        champion_key = next(k for k, v in expected.items() if v == "champion")
        MlflowClient().set_registered_model_tag(name, WEIGHTS_TAG, "champion=0,challenger=100")
        wait_for(lambda: ask(client, rows, champion_key).json()["variant"] == "challenger", 10, "the tag applies")
        ab = client.get("/health").json()["ab"]
        assert ab["source"] == f"tag {WEIGHTS_TAG}" and ab["weights"] == {"champion": 0.0, "challenger": 100.0}
        MlflowClient().set_registered_model_tag(name, WEIGHTS_TAG, "champion=0,challenger=lots")
        wait_for(lambda: client.get("/health").json()["ab"]["error"] is not None, 10, "the bad tag is reported")
        assert ask(client, rows, champion_key).json()["variant"] == "challenger", "a bad tag keeps the weights"
        MlflowClient().delete_registered_model_tag(name, WEIGHTS_TAG)
        wait_for(lambda: ask(client, rows, champion_key).json()["variant"] == "champion", 10, "back to the setting")
        assert client.get("/health").json()["ab"]["source"] == "setting"


# -------------------------------------------------------------------------------- a broken challenger


def test_a_broken_challenger_never_affects_champion_answers(
    tracking: str, linear: LinearRegression, ridge: Ridge, diabetes: Any, tmp_path: Path
) -> None:
    name = "svc_variants_broken"
    features = diabetes[0]
    v1 = register_sklearn(name, linear, features)
    # First a challenger that cannot even load (NaN on its input example): rejected, reported, never used.
    nan_model = LinearPythonModel(ridge.coef_.tolist(), 0.0, list(features.columns), broken=True)
    bad = register_pyfunc(name, nan_model, features, alias="challenger")
    settings = settings_for(
        tracking, name, tmp_path, challenger_alias="challenger", ab_weights="champion=50,challenger=50",
        shadow_fraction=1.0, allow_pickle_models=True,
    )  # fmt: skip
    rows = features.head(5)
    keys = [f"visitor-{i}" for i in range(20)]
    with serving(settings) as client:
        wait_for(
            lambda: (client.get("/health").json()["challenger"]["last_rejection"] or {}).get("version") == bad,
            POLL_S + LOAD_BOUND_S,
            "the broken challenger is rejected",
        )
        details = client.get("/health").json()
        assert details["status"] == "ready" and details["challenger"]["serving"] is False
        assert metric(client, "serving_model_reloads_total", result="rejected", alias="challenger") == 1
        for key in keys:
            body = ask(client, rows, key).json()
            assert body["variant"] == "champion"
            np.testing.assert_allclose(body["predictions"], linear.predict(rows), rtol=1e-12)
        assigned = sum(assign(k, Weights(50, 50)) == "challenger" for k in keys)
        assert metric(client, "serving_ab_fallbacks_total", reason="not_loaded") == assigned

        # Then one that loads but fails on real traffic: in A/B and in shadow, the champion still answers.
        flaky = FailsOnBigBatches(ridge.coef_.tolist(), float(ridge.intercept_), list(features.columns))
        v3 = register_pyfunc(name, flaky, features, alias="challenger")
        wait_for(lambda: challenger_serving(client), POLL_S + LOAD_BOUND_S, f"challenger version {v3} loads")
        for key in keys:
            answer = ask(client, rows, key)
            assert answer.json()["variant"] == "champion" and answer.headers["X-Model-Version"] == v1
            np.testing.assert_allclose(answer.json()["predictions"], linear.predict(rows), rtol=1e-12)
        assert (
            metric(client, "serving_variant_requests_total", variant="challenger", version=v3, outcome="error")
            == assigned
        )
        assert metric(client, "serving_ab_fallbacks_total", reason="error") == assigned
        shadowed = len(keys) - assigned
        wait_for(
            lambda: metric(client, "serving_shadow_challenger_errors_total", challenger_version=v3) == shadowed,
            10,
            "every shadow batch failed and was counted",
        )
        assert metric(client, "serving_shadow_abs_difference_count") == 0

        # Removing the alias ends the experiment: the challenger is retired, the champion goes on.
        MlflowClient().delete_registered_model_alias(name, "challenger")
        wait_for(lambda: client.get("/health").json()["challenger"]["model"] is None, 10, "the challenger retires")
        assert metric(client, "serving_model_info", alias="challenger", version=v3) == 0
        assert ask(client, rows, keys[0]).json()["variant"] == "champion"


# --------------------------------------------------------------------------------------------- drift


def register_with_stats(name: str, model: Any, x: pd.DataFrame, tmp_path: Path) -> str:
    """Logged as the training CLI logs it: the training-set statistics inside the model (extra_files)."""
    stats_file = tmp_path / "stats" / "feature_stats.json"
    stats_file.parent.mkdir(exist_ok=True)
    stats_file.write_text(json.dumps(data.feature_stats(x)))
    return register_sklearn(name, model, x, extra_files=[str(stats_file)])


def test_shifted_inputs_raise_psi_above_the_threshold_while_unshifted_ones_stay_below(
    tracking: str, tmp_path: Path
) -> None:
    name = "svc_variants_drift"
    split = data.load_split(0.2, 42)
    version = register_with_stats(name, LinearRegression().fit(split.x_train, split.y_train), split.x_train, tmp_path)
    settings = settings_for(tracking, name, tmp_path, drift_window_rows=400, drift_threshold=0.2)
    unshifted = split.x_train.sample(400, replace=True, random_state=5)
    shifted = split.x_train.sample(400, replace=True, random_state=6)
    shifted["s5"] += 2 * split.x_train["s5"].std()
    with serving(settings) as client:
        assert client.get("/drift").json()["status"] == "warming_up"
        for part in np.array_split(np.arange(400), 4):
            ask(client, unshifted.iloc[part])
        calm = client.get("/drift").json()
        assert calm["status"] == "ok" and calm["windows_evaluated"] == 1
        assert calm["last_window"]["reference"] == {"model": name, "version": version, "rows": len(split.x_train)}
        assert all(f["psi"] < 0.2 for f in calm["last_window"]["features"].values())
        assert client.get("/health").json()["drift"] == {"status": "ok", "threshold": 0.2, "drifted": []}

        ask(client, shifted.iloc[:250])
        ask(client, shifted.iloc[250:])
        drifted = client.get("/drift").json()
        assert drifted["status"] == "drift" and drifted["drifted"] == ["s5"]
        s5 = drifted["last_window"]["features"]["s5"]
        assert s5["psi"] > 0.2 and s5["out_of_range_ratio"] > 0
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ready", "drift is a warning, not unreadiness"
        assert health.json()["drift"]["drifted"] == ["s5"]
        assert metric(client, "serving_drift_psi", feature="s5") == pytest.approx(s5["psi"], abs=1e-6)
        assert metric(client, "serving_drift_psi", feature="bmi") < 0.2
        assert metric(client, "serving_drift_out_of_range_ratio", feature="s5") == pytest.approx(
            s5["out_of_range_ratio"], abs=1e-6
        )
