"""Shared fixtures. Infra tests get each stack run once per session through the offline harness."""

from __future__ import annotations

import os
from collections.abc import Iterator

import mlflow
import pytest

from tests.infra.harness import Recording, qualified, run_stack
from tests.support.stacks import PREVIEW_PR, STACKS

pytest_plugins = ["tests.servers"]


@pytest.fixture(scope="session")
def recordings() -> dict[str, Recording]:
    """dev, staging and prod, each run once under mocks."""
    return {stack: run_stack(stack) for stack in STACKS}


@pytest.fixture(params=STACKS)
def recording(request: pytest.FixtureRequest, recordings: dict[str, Recording]) -> Recording:
    """Each stack in turn."""
    return recordings[request.param]


@pytest.fixture(scope="session")
def preview(recordings: dict[str, Recording]) -> Recording:
    """The preview template (Pulumi.preview.yaml) for pull request 42, on the dev stack recorded above."""
    return run_stack(
        "preview", {"platform:preview.prNumber": PREVIEW_PR}, references={qualified("dev"): recordings["dev"]}
    )


@pytest.fixture(autouse=True)
def _fresh_mlflow_client_state() -> Iterator[None]:
    """MLflow's fluent API keeps a process-wide active experiment and tracking URI; a test that sets them (the
    training CLI run in-process does) must not leave the next test talking about an experiment of another server."""
    yield
    import mlflow.tracking._tracking_service.utils as tracking_utils
    import mlflow.tracking.fluent as fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    # set_experiment also exports it for subprocesses.
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    tracking_utils._tracking_uri = None
