"""Scenario 3: the registry lost and back. The MLflow server killed under load: no request fails and readiness
stays 200; when it returns, reload polling resumes (a version promoted after the restart is served). A service
started while MLflow is down stays not ready (503) and becomes ready once MLflow is back, without a restart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression, Ridge

from local import processes, servers
from tests.reliability.load import Load, describe
from tests.support.figures import Figures
from tests.support.gunicorn import gunicorn, kill, tracking
from tests.support.models import register_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

NAME = "rel_registry_lr"


def test_registry_killed_under_load_then_back_loses_nothing_and_polling_resumes(
    s3_server: servers.S3Server,
    linear: LinearRegression,
    features: pd.DataFrame,
    target: pd.Series,
    rows: list[dict[str, float]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    state, port = tmp_path / "mlflow", processes.free_port()
    mlflow = servers.start_mlflow(state, port, s3_server)
    try:
        with tracking(mlflow.url):
            register_sklearn(NAME, linear, features)
        with gunicorn(tmp_path / "serving", mlflow.url, NAME) as serving, Load(serving.url, rows, clients=8) as load:
            serving.wait_workers(2)
            load.run_for(2)

            kill(mlflow.process)
            killed_at = load.now()
            # Several polls fail meanwhile (one per second per worker); the loaded version keeps serving.
            assert load.wait_for(lambda: serving.get("/health").json()["last_error"] is not None, 20)
            ready_while_down = [serving.get("/health/ready").status_code for _ in range(10)]
            load.run_for(2)

            # A service that starts now has nothing to load: it answers, but not ready.
            cold = {"SERVING_STARTUP_LOAD_TIMEOUT_S": "1"}
            with gunicorn(
                tmp_path / "cold", mlflow.url, NAME, workers=1, ready_path="/health/live", settings=cold
            ) as c:
                cold_while_down = [c.get("/health/ready").status_code, c.post("/predict", json={"instances": rows[:1]})]
                # Its first check (MLflow's client retries included) may still be running: wait for its verdict.
                assert load.wait_for(lambda: c.get("/health").json()["last_error"] is not None, 30)
                cold_reason = c.get("/health").json()["last_error"]

                mlflow = servers.start_mlflow(state, port, s3_server)
                back_at = load.now()
                assert load.wait_for(c.ready, 60), f"not ready after MLflow came back:\n{c.log_tail()}"
                cold_ready_after = load.now() - back_at
                cold_answer = c.post("/predict", json={"instances": rows[:1]}).status_code

            with tracking(mlflow.url):
                version = register_sklearn(NAME, Ridge(alpha=0.5).fit(features, target), features, alias=None)
                MlflowClient().set_registered_model_alias(NAME, "production", version)
            promoted_at = load.now()
            assert load.wait_for(lambda: {o.version for o in load.outcomes[-40:]} == {version}, 60)
            switched_after = load.now() - promoted_at
            load.run_for(1)
    finally:
        mlflow.stop()

    summary = load.summary()
    figures.record(
        "3_registry_lost",
        **summary,
        registry_down_s=round(back_at - killed_at, 1),
        cold_start_ready_after_s=round(cold_ready_after, 2),
        promotion_served_after_s=round(switched_after, 2),
    )
    assert not load.failures(), describe(load.failures())
    assert ready_while_down == [200] * 10
    assert cold_while_down[0] == 503 and cold_while_down[1].status_code == 503, cold_while_down[1].text
    assert cold_while_down[1].json()["error"]["code"] == "model_not_ready"
    assert "cannot resolve" in cold_reason["message"], cold_reason
    assert cold_answer == 200
