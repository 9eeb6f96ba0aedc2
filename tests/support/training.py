"""The training CLI run in-process, and copies of its logged models registered under a test's own name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import mlflow
import pytest
from click.testing import Result
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from local.servers import MlflowServer
from training.cli import app
from training.seal import seal

WORSE_CONFIG = """\
model_name: unused
estimator:
  class: DummyRegressor
  params: {strategy: mean}
"""


def run_cli(args: Sequence[str], expect: int = 0) -> Result:
    """Invoke `python -m training ...` in-process; fail with its output if the exit code is not `expect`."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == expect, (
        f"exit {result.exit_code} != {expect} for {list(args)}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\nexception: {result.exception!r}"
    )
    return result


def last_line(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Trained:
    """A model version trained by the CLI: its registered name/version, run and logged-model URI."""

    name: str
    version: str
    run_id: str
    source: str
    metrics: dict[str, float]
    data_fingerprint: str


def train_cli(args: Sequence[str]) -> Trained:
    result = run_cli(["train", "--json", *args])
    payload = json.loads(last_line(result))
    mv = MlflowClient().get_model_version(payload["model_name"], payload["version"])
    return Trained(
        name=payload["model_name"],
        version=payload["version"],
        run_id=payload["run_id"],
        source=mv.source,
        metrics=payload["metrics"],
        data_fingerprint=payload["data_fingerprint"],
    )


def point_at(mp: pytest.MonkeyPatch, server: MlflowServer) -> None:
    """Module fixtures' client talks to `server`, reaching artifacts only through its proxy, as in the cloud."""
    for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        mp.delenv(var, raising=False)
    mp.setenv("MLFLOW_TRACKING_URI", server.url)


def register(name: str, *models: Trained, sealed: bool = True) -> list[str]:
    """Register copies of already-logged models under `name` (fast: no training); returns their versions.

    Sealed as `train` seals what it registers (digest and contract tags), so the inference service loads them.
    """
    versions = [str(mlflow.register_model(m.source, name).version) for m in models]
    if sealed:
        for version in versions:
            seal(MlflowClient(), mlflow.get_tracking_uri(), name, version)
    return versions
