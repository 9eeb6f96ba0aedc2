"""The app running in-process over a registry, and what tests read from it (readiness, cache writes, metrics)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.support.prometheus import sample_sum


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what}")


@contextmanager
def serving(settings: Settings, ready_timeout: float = 60) -> Iterator[TestClient]:
    """The app over `settings`, its lifespan running, once it is ready (a model loaded).

    The environment is restored afterwards: the app sets the MLflow client's variables for its process.
    """
    with mock.patch.dict(os.environ), TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/health/ready").status_code == 200, ready_timeout, "the service is ready")
        yield client


def settings_for(registry_uri: str, model_name: str, tmp_path: Path, **overrides: Any) -> Settings:
    if overrides.get("cache_enabled"):
        overrides.setdefault("cache_signing_key", "test-signing-key-" + "k" * 32)
        # These tests are about what the cache serves: it is asked on every request, whether it pays or not
        # (tests/service/test_cache_policy.py tests when it pays).
        overrides.setdefault("cache_mode", "always")
    return Settings(
        registry_uri=registry_uri,
        model_name=model_name,
        model_dir=tmp_path / "models",
        reload_interval_s=overrides.pop("reload_interval_s", 0.5),
        **overrides,
    )


def cache_settled(client: TestClient, timeout: float = 5) -> None:
    """Wait for the background cache writes of the requests made so far (the answer does not wait for them)."""
    wait_for(lambda: client.get("/health").json()["cache"].get("pending_sets", 0) == 0, timeout, "cache writes done")


def metric(client: TestClient, name: str, /, **labels: str) -> float:
    """The sum of the samples of `name` on /metrics whose labels include `labels`."""
    return sample_sum(client.get("/metrics").text, name, labels)
