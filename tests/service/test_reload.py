"""Following the registry: promotion, rollback and a broken version, each while requests keep being answered."""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression, Ridge

from local import servers
from tests.support.models import LinearPythonModel, register_pyfunc, register_sklearn
from tests.support.serving import cache_settled, metric, serving, settings_for, wait_for

POLL_S = 0.5
# A new version serves within one poll plus its download, load and validation (well under a second here,
# but this machine is shared): the bound is generous, the poll interval is what the test sets.
LOAD_BOUND_S = 8.0


def serving_version(client: TestClient) -> str:
    """Asked with a row of zeros, which the tests' own rows never are (so it leaves their cache entries alone)."""
    return client.post("/predict", json={"inputs": [[0.0] * 10]}).headers["X-Model-Version"]


def predictions(client: TestClient, rows: pd.DataFrame) -> list[float]:
    answer = client.post("/predict", json={"instances": rows.to_dict(orient="records")})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["predictions"])


def test_a_moved_alias_serves_the_new_version_within_the_poll_interval_and_back_on_rollback(
    tracking: str,
    redis_server: servers.RedisServer,
    linear: LinearRegression,
    ridge: Ridge,
    diabetes: Any,
    tmp_path: Path,
) -> None:
    name = "svc_reload_promote"
    features = diabetes[0]
    v1 = register_sklearn(name, linear, features)
    rows = features.sample(6, random_state=int(time.time()))
    settings = settings_for(
        tracking, name, tmp_path, reload_interval_s=POLL_S, cache_enabled=True, cache_url=redis_server.url,
        cache_key_prefix=f"reload-{secrets.token_hex(3)}:",
    )  # fmt: skip
    with serving(settings) as client:
        first = predictions(client, rows)
        np.testing.assert_allclose(first, linear.predict(rows), rtol=1e-12)
        cache_settled(client)
        hits = metric(client, "serving_cache_hits_total")
        assert predictions(client, rows) == first
        assert metric(client, "serving_cache_hits_total") - hits == 6

        moved = time.monotonic()
        v2 = register_sklearn(name, ridge, features)
        wait_for(lambda: serving_version(client) == v2, POLL_S + LOAD_BOUND_S, f"version {v2} serves")
        assert time.monotonic() - moved < POLL_S + LOAD_BOUND_S
        misses = metric(client, "serving_cache_misses_total")
        promoted = predictions(client, rows)
        cache_settled(client)
        assert metric(client, "serving_cache_misses_total") - misses == 6, "no answer of version 1 is reused"
        np.testing.assert_allclose(promoted, ridge.predict(rows), rtol=1e-12)
        assert not np.allclose(promoted, first)
        details = client.get("/health").json()
        assert details["model"]["version"] == v2 and details["last_rejection"] is None
        assert metric(client, "serving_model_info", version=v1) == 0
        assert metric(client, "serving_model_info", version=v2) == 1

        MlflowClient().set_registered_model_alias(name, "production", v1)
        wait_for(lambda: serving_version(client) == v1, POLL_S + LOAD_BOUND_S, "the rollback serves")
        hits = metric(client, "serving_cache_hits_total")
        assert predictions(client, rows) == first
        assert metric(client, "serving_cache_hits_total") - hits == 6, "version 1's answers are still cached"
        assert metric(client, "serving_model_reloads_total", result="loaded") == 3
    downloads = list((tmp_path / "models").glob("worker-*/*"))
    assert downloads == [], "every version's download directory is removed once it stops serving"


def test_a_broken_version_is_rejected_reported_and_the_old_one_keeps_serving(
    tracking: str, linear: LinearRegression, ridge: Ridge, diabetes: Any, tmp_path: Path
) -> None:
    name = "svc_reload_broken"
    features = diabetes[0]
    v1 = register_sklearn(name, linear, features)
    rows = features.head(4)
    settings = settings_for(tracking, name, tmp_path, reload_interval_s=POLL_S, allow_pickle_models=True)
    with serving(settings) as client:
        before = predictions(client, rows)
        nan_model = LinearPythonModel(linear.coef_.tolist(), 0.0, list(features.columns), broken=True)
        v2 = register_pyfunc(name, nan_model, features)
        wait_for(
            lambda: (client.get("/health").json()["last_rejection"] or {}).get("version") == v2,
            POLL_S + LOAD_BOUND_S,
            f"version {v2} is rejected",
        )
        details = client.get("/health").json()
        assert details["status"] == "ready" and details["model"]["version"] == v1
        assert "non-finite" in details["last_rejection"]["reason"]
        assert predictions(client, rows) == before
        assert serving_version(client) == v1
        time.sleep(3 * POLL_S)
        assert metric(client, "serving_model_reloads_total", result="rejected") == 1, (
            "a rejected version is not retried"
        )

        narrower = features.drop(columns=["s6"])
        v3 = register_sklearn(name, LinearRegression().fit(narrower, diabetes[1]), narrower)
        wait_for(
            lambda: client.get("/health").json()["last_rejection"]["version"] == v3,
            POLL_S + LOAD_BOUND_S,
            f"version {v3} is rejected",
        )
        reason = client.get("/health").json()["last_rejection"]["reason"]
        assert "breaks the registered model's contract" in reason
        assert serving_version(client) == v1

        v4 = register_sklearn(name, ridge, features)
        wait_for(lambda: serving_version(client) == v4, POLL_S + LOAD_BOUND_S, "a good version after bad ones")
        np.testing.assert_allclose(predictions(client, rows), ridge.predict(rows), rtol=1e-12)
        assert metric(client, "serving_model_reloads_total", result="rejected") == 2


def test_a_legacy_stage_uri_still_serves_with_a_deprecation_warning_and_is_reported_as_a_stage(
    tracking: str, linear: LinearRegression, diabetes: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`mlflow models serve -m models:/<name>/Production` serves a stage; it was reported as `"alias": "Production"`."""
    name = "svc_reload_stage"
    version = register_sklearn(name, linear, diabetes[0], alias=None)
    with pytest.warns(FutureWarning, match="stages"):
        MlflowClient().transition_model_version_stage(name, version, "Production")
    settings = settings_for(tracking, name, tmp_path, model_uri=f"models:/{name}/Production")
    with caplog.at_level(logging.WARNING, logger="service.app"), serving(settings) as client:
        model = client.get("/health").json()["model"]
        assert (model["version"], model["stage"]) == (version, "Production") and "alias" not in model
        answer = client.post("/predict", json={"inputs": [[0.0] * 10]}).json()["model"]
        assert answer == {"name": name, "version": version, "stage": "Production"}
        assert client.get("/version/details").json()["model"]["stage"] == "Production"
    assert any("stage URIs are deprecated" in r.getMessage() for r in caplog.records)


def test_a_latest_uri_serves_the_highest_version_as_mlflow_models_serve_does(
    tracking: str, linear: LinearRegression, ridge: Ridge, diabetes: Any, tmp_path: Path
) -> None:
    """`models:/<name>/latest` (mlflow/store/artifact/utils/models.py@v3.17.2 `_parse_model_uri`) was refused at
    startup as neither a version nor a stage."""
    name = f"svc_reload_latest_{secrets.token_hex(3)}"
    register_sklearn(name, linear, diabetes[0], alias=None)
    settings = settings_for(tracking, name, tmp_path, model_uri=f"models:/{name}/latest")
    with serving(settings) as client:
        second = register_sklearn(name, ridge, diabetes[0], alias=None)
        wait_for(lambda: serving_version(client) == second, POLL_S + LOAD_BOUND_S, "the newest version serves")
        answer = client.post("/predict", json={"inputs": [[0.0] * 10]}).json()["model"]
        assert answer == {"name": name, "version": second, "version_ref": "latest"}
