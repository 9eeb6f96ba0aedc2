"""Fixtures that run the real servers (Redis, SeaweedFS S3, MLflow, PostgreSQL) for the tests.

Each server is started through local/servers.py — the same code `make demo` uses — on a free loopback port,
once per test session, and stopped by PID when the session ends. Tests that need a clean registry use their
own model names rather than a fresh server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local import processes, servers


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def redis_server(servers_dir: Path) -> Iterator[servers.RedisServer]:
    """Redis 7 with a password on a free loopback port."""
    server = servers.start_redis(servers_dir, processes.free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_tls_server(servers_dir: Path) -> Iterator[servers.RedisServer]:
    """Redis over TLS only (`rediss://`), its certificate signed by a throwaway CA (`server.tls.ca_cert`)."""
    tls = servers.make_tls_files(servers_dir / "tls")
    server = servers.start_redis(servers_dir, processes.free_port(), tls=tls, name="redis-tls")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(servers_dir: Path) -> Iterator[servers.S3Server]:
    """SeaweedFS (`weed mini`) with the artifact bucket, S3 on a free loopback port."""
    server = servers.start_seaweedfs(servers_dir, processes.free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(servers_dir: Path, s3_server: servers.S3Server) -> Iterator[servers.MlflowServer]:
    """`mlflow server`: sqlite backend, artifacts proxied (`--serve-artifacts`) to SeaweedFS."""
    server = servers.start_mlflow(servers_dir, processes.free_port(), s3_server)
    yield server
    server.stop()


@pytest.fixture
def mlflow_tracking(mlflow_server: servers.MlflowServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the MLflow client of this test at the session's server; returns its URI.

    No S3 credentials are set: clients reach artifacts only through the server's proxy, as in the cloud.
    """
    for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    return mlflow_server.url
