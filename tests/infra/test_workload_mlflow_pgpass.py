"""The MLflow image's pgpass.py against a real PostgreSQL: the password file it writes is what libpq reads, and a
password rotation reaches new connections by rewriting the file, with nothing restarted.

The Secrets Manager fetch is injected (no AWS here); everything after it is the code the pods run. Sources: libpq,
"The Password File" (`hostname:port:database:username:password`, `*` matches anything, `:` and `\\` escaped with
`\\`, a file group or others may read is ignored, read at each connection attempt: `passfile` / PGPASSFILE); RDS
User Guide, "Password management with Amazon RDS and AWS Secrets Manager" (the secret's JSON `username`/`password`).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import stat
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

from infra import db_passfile
from local import processes, servers
from tests.infra.test_workload_mlflow_image import IMAGE, dockerfile_copies


def load_pgpass() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pgpass", IMAGE / "pgpass.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pgpass"] = module
    spec.loader.exec_module(module)
    return module


pgpass = load_pgpass()
# Both characters the file format escapes, and a '%' and '@' a URI would have to quote.
ROTATED = "n3w:pa\\ss%w@rd"


def test_the_image_installs_the_writer_where_the_pods_run_it() -> None:
    assert dockerfile_copies()["pgpass.py"] == db_passfile.SCRIPT


def test_a_line_matches_any_connection_and_escapes_colon_and_backslash(tmp_path: Path) -> None:
    path = tmp_path / "pgpass"
    assert pgpass.write_passfile(path, ROTATED) is True
    assert path.read_text() == "*:*:*:*:n3w\\:pa\\\\ss%w@rd\n"
    # libpq ignores a password file its group or others may read.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The same password again leaves the file alone; no temporary file is left behind.
    assert pgpass.write_passfile(path, ROTATED) is False
    assert [p.name for p in tmp_path.iterdir()] == ["pgpass"]
    with pytest.raises(pgpass.PassfileError):
        pgpass.write_passfile(path, "two\nlines")


def test_the_password_comes_from_the_rds_secrets_json() -> None:
    class Client:
        def get_secret_value(self, SecretId: str) -> dict[str, Any]:  # noqa: N803 - boto3's keyword
            assert SecretId == "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x"
            return {"SecretString": json.dumps({"username": "mlflow", "password": ROTATED})}

    assert pgpass.secrets_manager_fetch("arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x", Client())() == ROTATED
    with pytest.raises(pgpass.PassfileError):
        pgpass.password_from_secret('{"username": "mlflow"}')


def test_the_sidecar_keeps_the_last_file_when_a_fetch_fails_and_retries_sooner(tmp_path: Path) -> None:
    path, answers, sleeps = tmp_path / "pgpass", ["first", RuntimeError("throttled"), ROTATED], []

    def fetch() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    def sleep(seconds: float) -> None:
        # After the failed round the file still holds the last good password.
        assert path.read_text() == pgpass.passfile_line("first")
        sleeps.append(seconds)

    pgpass.watch(path, fetch, sleep=sleep, rounds=3)
    assert sleeps == [pgpass.REFRESH_SECONDS, pgpass.RETRY_SECONDS]
    assert path.read_text() == pgpass.passfile_line(ROTATED)


def test_main_refuses_to_run_without_its_secret_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/tmp/x")
    assert pgpass.main(["pgpass.py", "once"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(
    not (Path("/usr/lib/postgresql").exists() or shutil.which("initdb")), reason="PostgreSQL is not installed"
)
def test_a_rotated_password_reaches_new_connections_through_the_file_without_a_restart(tmp_path: Path) -> None:
    postgres = servers.start_postgres(tmp_path / "pg", processes.free_port())
    try:
        secret = {"password": postgres.password}
        fetch = lambda: secret["password"]  # noqa: E731 - what Secrets Manager would answer now
        passfile = tmp_path / "run" / "pgpass"
        passfile.parent.mkdir()
        assert pgpass.refresh(passfile, fetch) is True
        # The URI as the pods have it: a user, no password, the file (NullPool: each connect is a new connection).
        uri = (
            f"postgresql+psycopg2://{postgres.user}@{processes.HOST}:{postgres.port}/{postgres.database}"
            f"?passfile={passfile}&connect_timeout=5"
        )
        engine = sqlalchemy.create_engine(uri, poolclass=NullPool)
        assert sqlalchemy.engine.make_url(uri).password is None
        held = engine.connect()
        assert held.execute(sqlalchemy.text("SELECT current_user")).scalar_one() == postgres.user
        # RDS rotating the secret: the role's password changes at once.
        held.execute(sqlalchemy.text(f"ALTER ROLE {postgres.user} PASSWORD :pw"), {"pw": ROTATED})
        held.commit()
        old_content = passfile.read_text()
        with pytest.raises(sqlalchemy.exc.OperationalError, match="password authentication failed"):
            engine.connect().close()
        # The sidecar's next round: the same engine, the same process, a new connection succeeds.
        secret["password"] = ROTATED
        assert pgpass.refresh(passfile, fetch) is True
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar_one() == 1
        # The connection opened before the rotation stays authenticated.
        assert held.execute(sqlalchemy.text("SELECT 2")).scalar_one() == 2
        held.close()
        # The file as it was before the refresh would fail now; so would a file others may read (libpq skips it).
        new_content = passfile.read_text()
        passfile.write_text(old_content)
        with pytest.raises(sqlalchemy.exc.OperationalError, match="password authentication failed"):
            engine.connect().close()
        passfile.write_text(new_content)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        passfile.chmod(0o640)
        with pytest.raises(sqlalchemy.exc.OperationalError):
            engine.connect().close()
    finally:
        postgres.stop()
        servers.remove_state(tmp_path / "pg")
