"""A new stack's service against an empty registry: alive from the start, Ready as soon as a model is promoted.

This is what lets the cluster's startup and liveness probes check /health/live while readiness (and the ALB's
health check) checks /health/ready (infra/inference.py, tests/infra/test_rehearsal_bootstrap.py): with no version
at the alias the process must stay up and keep polling, and the first promotion must make it Ready with no restart.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

from service.app import create_app
from tests.support.models import register_sklearn
from tests.support.serving import settings_for, wait_for


def test_alive_but_unready_on_an_empty_registry_then_ready_once_a_model_is_promoted(
    tracking: str, tmp_path: Path, linear: LinearRegression, diabetes: tuple[Any, Any]
) -> None:
    name = f"svc_empty_{uuid.uuid4().hex[:8]}"
    settings = settings_for(tracking, name, tmp_path, mlflow_max_retries=0, startup_load_timeout_s=5)
    with mock.patch.dict(os.environ), TestClient(create_app(settings)) as client:
        # Nothing registered under the name at all: the process answers, readiness tells the truth.
        for _ in range(3):
            assert client.get("/health/live").status_code == 200
            assert client.get("/health/ready").status_code == 503
        wait_for(lambda: client.get("/health").json()["last_error"] is not None, 10, "the empty registry is reported")

        # The seed (or an operator) promotes a first version; the running process picks it up.
        version = register_sklearn(name, linear, diabetes[0])
        wait_for(lambda: client.get("/health/ready").status_code == 200, 30, "ready after the first promotion")
        assert client.get("/health/ready").json()["version"] == version
        assert client.post("/predict", json={"inputs": [[0.0] * 10]}).status_code == 200
