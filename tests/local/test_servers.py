"""The local servers start on loopback, do their job for real, and leave nothing behind when stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import httpx
import mlflow
import pytest
import redis

from local import processes, prometheus, servers


def listening_on(port: int) -> bool:
    return processes.port_in_use(port)


def test_redis_requires_its_password(redis_server: servers.RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    assert client.set("k", "v") and client.get("k") == b"v"
    anonymous = redis.Redis(host=processes.HOST, port=redis_server.port, socket_timeout=2)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.get("k")


def test_redis_over_tls_verifies_the_ca(redis_tls_server: servers.RedisServer) -> None:
    assert redis_tls_server.url.startswith("rediss://")
    assert redis_tls_server.tls is not None
    client = redis.Redis.from_url(redis_tls_server.url, ssl_ca_certs=str(redis_tls_server.tls.ca_cert))
    assert client.ping()
    plaintext = redis.Redis(host=processes.HOST, port=redis_tls_server.port, password=redis_tls_server.password)
    with pytest.raises(redis.exceptions.ConnectionError):
        plaintext.ping()


def test_s3_store_requires_credentials(s3_server: servers.S3Server) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name="us-east-1",
    )
    s3.put_object(Bucket=s3_server.bucket, Key="probe.txt", Body=b"hello")
    assert s3.get_object(Bucket=s3_server.bucket, Key="probe.txt")["Body"].read() == b"hello"
    stranger = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id="nobody",
        aws_secret_access_key="wrong-secret",
        region_name="us-east-1",
    )
    with pytest.raises(Exception, match="(AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|403)"):
        stranger.get_object(Bucket=s3_server.bucket, Key="probe.txt")


def test_mlflow_proxies_artifacts_to_s3(mlflow_tracking: str, s3_server: servers.S3Server, tmp_path: Path) -> None:
    """A client with no S3 credentials logs an artifact; it lands in the bucket through the server."""
    mlflow.set_experiment("servers-smoke")
    artifact = tmp_path / "note.txt"
    artifact.write_text("proxied")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(artifact))
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1",
                      aws_access_key_id=s3_server.access_key, aws_secret_access_key=s3_server.secret_key)  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_server.bucket).get("Contents", [])]
    assert any(k.endswith(f"{run.info.run_id}/artifacts/note.txt") for k in keys), keys
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="note.txt", dst_path=str(tmp_path)
    )
    assert Path(local).read_text() == "proxied"


def test_mlflows_metrics_listener_counts_the_servers_requests_and_serves_nothing_else(
    mlflow_server: servers.MlflowServer, tmp_path: Path
) -> None:
    """`make demo`'s Prometheus scrapes MLflow through the cluster's metrics listener (images/mlflow/
    metrics_listener.py), started beside the local server on a free port; it sums the `--expose-prometheus`
    directory (prometheus_client docs/content/multiprocess/_index.md) and stops with nothing left behind."""
    from prometheus_client.parser import text_string_to_metric_families

    def requests_total(text: str) -> float:
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "mlflow_http_request_total"
        )

    listener = prometheus.start_mlflow_metrics_listener(tmp_path, processes.free_port(), mlflow_server)
    try:
        before = requests_total(httpx.get(listener.metrics_url, timeout=10).text)
        for _ in range(4):
            assert httpx.get(f"{mlflow_server.url}/api/2.0/mlflow/experiments/search?max_results=1").status_code == 200
        assert requests_total(httpx.get(listener.metrics_url, timeout=10).text) - before >= 4
        assert httpx.get(listener.metrics_url.removesuffix("/metrics") + "/health", timeout=10).status_code == 404
    finally:
        listener.stop()
    assert not listening_on(listener.port) and not processes.pid_alive(listener.process.pid)


def test_stopping_leaves_no_process_or_port(tmp_path: Path) -> None:
    port = processes.free_port()
    server = servers.start_redis(tmp_path, port)
    pid = server.process.pid
    assert listening_on(port) and (tmp_path / "redis.pid").read_text() == str(pid)
    server.stop()
    assert not listening_on(port)
    assert not processes.pid_alive(pid)
    assert not (tmp_path / "redis.pid").exists()


def test_a_taken_port_is_reported_clearly(redis_server: servers.RedisServer, tmp_path: Path) -> None:
    with pytest.raises(processes.StartError, match=rf"port {redis_server.port} for Redis is already taken.*REDIS_PORT"):
        servers.start_redis(tmp_path, redis_server.port)


def test_a_server_that_dies_reports_its_log(tmp_path: Path) -> None:
    proc = processes.spawn("doomed", ["sh", "-c", "echo cannot-start-here >&2; exit 3"], tmp_path)
    with pytest.raises(processes.StartError, match="cannot-start-here"):
        processes.wait_until(proc, lambda: False, 10, "a process that exits")


def test_postgres_backend_store(tmp_path: Path) -> None:
    pg = servers.start_postgres(tmp_path, processes.free_port())
    try:
        out = subprocess.run(
            ["psql", pg.uri, "-tAc", "select current_database(), current_setting('listen_addresses')"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == f"mlflow|{processes.HOST}"
    finally:
        pg.stop()
    assert not listening_on(pg.port)
    cluster = (tmp_path / "postgres").resolve()
    servers.remove_state(tmp_path)
    assert not cluster.exists() and not tmp_path.exists()
