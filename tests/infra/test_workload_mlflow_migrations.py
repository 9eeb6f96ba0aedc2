"""MLflow's schema migrations run for real, as the stack records them: the migration Job, then the servers.

Left to itself every `mlflow server` process migrates an empty database, and one whose schema lacks a table of
its image, with no lock between pods; the auth store upgrades whenever it is behind (mlflow 3.17.2
`mlflow/store/tracking/sqlalchemy_store.py` `SqlAlchemyStore.__init__`, `mlflow/store/db/utils.py`
`_initialize_tables`/`_verify_schema`, `mlflow/server/auth/db/utils.py` `migrate_if_needed`). The stack instead
runs images/mlflow/migrate_db.py `migrate` in a Job and `check` in the server pods' init container
(infra/mlflow_schema.py). These tests run the recorded commands against SQLite and against PostgreSQL (the
backend the cloud uses), then start two servers at once on the migrated database and show neither migrates.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from infra import mlflow_schema
from local import processes, servers
from tests.infra.harness import Recording
from tests.infra.k8s import by_component, one
from tests.infra.test_workload_mlflow_image import (
    IMAGE,
    VENV_BIN,
    dockerfile_copies,
    server_secrets,
    start_recorded_server,
)

# What MLflow logs when a server process migrates (mlflow/store/db/utils.py, Alembic's runtime.migration).
MIGRATION_LOG_LINES = ("Creating initial MLflow database tables", "Updating database tables", "Running upgrade")


@pytest.fixture(scope="module")
def dev(recordings: dict[str, Recording]) -> Recording:
    return recordings["dev"]


def schema_tool(dev: Recording, which: str, secrets: Path) -> subprocess.CompletedProcess[str]:
    """Run the recorded migration Job's container (`migrate`) or the server pods' init container (`check`)."""
    manifests = dev.kubernetes_manifests()
    if which == "migrate":
        spec = by_component(manifests, "Job", "mlflow", "migrate-db")["spec"]["template"]["spec"]
        (container,) = spec["containers"]
    else:
        spec = one(manifests, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
        (container,) = [c for c in spec["initContainers"] if c["name"] == "schema-check"]
    assert container["command"] == ["python", dockerfile_copies()["migrate_db.py"], which]
    env = {e["name"]: e["value"].replace("/var/run/secrets/mlflow", str(secrets)) for e in container["env"]}
    env |= {"HOME": str(secrets.parent), "TMPDIR": str(secrets.parent), "PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(IMAGE / "migrate_db.py"), which], env=env, capture_output=True, text=True, timeout=300
    )


def assert_at_head(uri: str) -> None:
    from mlflow.store.db.utils import _get_latest_schema_revision, _get_schema_version

    engine = sqlalchemy.create_engine(uri)
    try:
        assert _get_schema_version(engine) == _get_latest_schema_revision()
        with engine.connect() as conn:
            auth = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version_auth")).scalar_one()
        assert auth is not None
    finally:
        engine.dispose()


def two_servers_at_once(dev: Recording, tmp: Path, uri: str) -> None:
    """Start two recorded servers on `uri` together; both serve, neither migrates, the admin logs in on each."""
    started = [start_recorded_server(dev, tmp / f"server-{i}", uri, uri) for i in (1, 2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            running = list(pool.map(lambda s: s.wait_healthy(), started))
        for server in running:
            log = server.log.read_text()
            assert not [line for line in MIGRATION_LOG_LINES if line in log], log[-3000:]
            me = httpx.get(f"{server.url}/api/2.0/mlflow/users/current", auth=server.admin, timeout=10)
            assert me.status_code == 200 and me.json()["user"]["is_admin"], me.text
    finally:
        for s in started:
            s.stop()


@pytest.mark.slow
def test_left_to_itself_a_server_migrates_an_empty_database(dev: Recording, tmp_path: Path) -> None:
    """What the init container's check prevents (and proof that the log lines looked for below are real)."""
    started = start_recorded_server(dev, tmp_path / "alone")
    try:
        server = started.wait_healthy()
        assert "Creating initial MLflow database tables" in server.log.read_text()
    finally:
        started.stop()


@pytest.mark.slow
def test_servers_refuse_an_unmigrated_database_until_the_job_has_run(dev: Recording, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    secrets, _ = server_secrets(dev, tmp_path / "secrets", uri, uri)

    refused = schema_tool(dev, "check", secrets)
    assert refused.returncode == 3, refused.stderr
    assert "tracking schema at nothing" in refused.stderr and "auth schema at nothing" in refused.stderr
    assert "the migration Job of this image has not completed" in refused.stderr

    migrated = schema_tool(dev, "migrate", secrets)
    assert migrated.returncode == 0, migrated.stderr
    assert "tracking schema empty ->" in migrated.stdout and "auth schema empty ->" in migrated.stdout
    assert_at_head(uri)
    # A second run (the Job retried, or re-created for the same image) is a no-op.
    again = schema_tool(dev, "migrate", secrets)
    assert again.returncode == 0, again.stderr

    passed = schema_tool(dev, "check", secrets)
    assert passed.returncode == 0, passed.stderr
    two_servers_at_once(dev, tmp_path, uri)


@pytest.mark.slow
@pytest.mark.skipif(
    not (Path("/usr/lib/postgresql").exists() or shutil.which("initdb")), reason="PostgreSQL is not installed"
)
def test_on_postgresql_two_jobs_at_once_serialise_and_two_servers_then_start_together(
    dev: Recording, tmp_path: Path
) -> None:
    postgres = servers.start_postgres(tmp_path / "pg", processes.free_port())
    try:
        uri = postgres.sqlalchemy_uri
        secrets = [server_secrets(dev, tmp_path / f"secrets-{i}", uri, uri)[0] for i in (1, 2)]
        # An old Job still retrying while the new one starts: the advisory lock makes them take turns.
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda s: schema_tool(dev, "migrate", s), secrets))
        for run in runs:
            assert run.returncode == 0, run.stderr
        # Exactly one of them found the database empty.
        assert sum("tracking schema empty ->" in run.stdout for run in runs) == 1, [r.stdout for r in runs]
        assert_at_head(uri)
        assert schema_tool(dev, "check", secrets[0]).returncode == 0
        two_servers_at_once(dev, tmp_path, uri)
    finally:
        postgres.stop()
        servers.remove_state(tmp_path / "pg")


def test_the_job_holds_a_postgresql_advisory_lock_and_the_name_follows_image_and_database() -> None:
    source = (IMAGE / "migrate_db.py").read_text()
    assert "pg_advisory_lock" in source and "pg_advisory_unlock" in source
    a = mlflow_schema.job_name("repo/mlflow:3.17.2-1", "db.example", 5432, "mlflow")
    assert a == mlflow_schema.job_name("repo/mlflow:3.17.2-1", "db.example", 5432, "mlflow")
    assert a != mlflow_schema.job_name("repo/mlflow:3.17.2-2", "db.example", 5432, "mlflow")
    assert a != mlflow_schema.job_name("repo/mlflow:3.17.2-1", "db2.example", 5432, "mlflow")
    assert len(a) <= 63 and a.startswith("mlflow-migrate-")
