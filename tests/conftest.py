"""Shared fixtures. Infra tests get each stack run once per session through the offline harness."""

from __future__ import annotations

import pytest

from tests.infra.harness import Recording, run_stack

pytest_plugins = ["tests.servers"]

STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="session")
def recordings() -> dict[str, Recording]:
    """dev, staging and prod, each run once under mocks."""
    return {stack: run_stack(stack) for stack in STACKS}


@pytest.fixture(params=STACKS)
def recording(request: pytest.FixtureRequest, recordings: dict[str, Recording]) -> Recording:
    """Each stack in turn."""
    return recordings[request.param]
