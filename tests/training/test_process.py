"""`python -m training` as a real process, as the training Job and CI run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
from onnx.reference import ReferenceEvaluator

from local.processes import free_port
from training import data

REPO = Path(__file__).resolve().parents[2]


def python_m_training(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_train_as_a_process_registers_a_version_with_an_onnx_export(model_name: str) -> None:
    done = python_m_training("train", "--model-name", model_name, "--onnx", "--json")
    assert done.returncode == 0, done.stderr

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["model_name"], result["version"], result["onnx"]) == (model_name, "1", "logged")
    # The export predicts what the scikit-learn model predicts, on rows it never saw.
    x = data.load_split(0.2, 42).x_test
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{model_name}/1", dst_path=tmp))
        onnx_pred = ReferenceEvaluator(str(local / "extra_files" / "model.onnx")).run(None, {"input": x.to_numpy()})[0]
        sk_pred = mlflow.pyfunc.load_model(str(local)).predict(x)
    assert np.allclose(np.ravel(onnx_pred), sk_pred)
    assert mlflow.get_run(result["run_id"]).data.metrics["onnx_max_abs_error"] < 1e-6


def test_unreachable_tracking_server_fails_fast_naming_the_uri() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()

    done = python_m_training("promote", "1", timeout=60, MLFLOW_TRACKING_URI=uri)

    assert done.returncode == 4
    assert f"cannot reach the MLflow tracking server at {uri}" in done.stderr
    assert time.monotonic() - started < 20
