"""The MLflow client's process set-up: timeouts, retries and credentials from mounted files."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from service.core.registry import configure_mlflow_client


def test_mlflow_client_gets_timeouts_and_credentials_from_mounted_files(tmp_path: Path) -> None:
    (tmp_path / "username").write_text("serving\n")
    (tmp_path / "password").write_text("s3cret\n")
    with mock.patch.dict(os.environ):
        configure_mlflow_client(2.5, 1, tmp_path / "username", tmp_path / "password")
        assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("serving", "s3cret")
        assert (os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"], os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) == ("3", "1")
