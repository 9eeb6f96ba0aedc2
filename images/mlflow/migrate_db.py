"""Bring MLflow's two database schemas to this image's version, or check that they are there.

`migrate` (the migration Job, infra/mlflow.py) does what `mlflow db upgrade <uri>` does for the tracking and
registry schema (mlflow/db.py: create the tables on an empty database, else run Alembic to head) and what
`python -m mlflow.server.auth db upgrade --url <uri>` does for the basic-auth schema (its own Alembic history,
version table `alembic_version_auth`), in-process so the database password never appears in a process list. On
PostgreSQL it holds a session advisory lock meanwhile, so two runs (an old Job still retrying while a new one
starts) never interleave migrations.

`check` (the MLflow server pods' init container) exits 3 unless both schemas are exactly at this image's head.
A server process migrates by itself in two cases (mlflow 3.17.2): the tracking store runs every migration when
one of its tables is missing (`SqlAlchemyStore.__init__`: `_all_tables_exist` false, i.e. an empty database or
an image adding a table), and the auth store upgrades whenever its revision is not the head
(`migrate_if_needed`). Nothing turns that off, and replicas do it with no lock between pods. The check stops
a pod before its server can: only the Job migrates.

Environment: MLFLOW_BACKEND_STORE_URI or MLFLOW_BACKEND_STORE_URI_FILE (the tracking database), and
MLFLOW_AUTH_CONFIG_PATH (the basic-auth ini naming the auth database). Runs in the server image as is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from mlflow.server.auth.config import read_auth_config
from mlflow.server.auth.db import utils as auth_db
from mlflow.store.db import utils as tracking_db

# Any constant both runs agree on; "mlflow" in ASCII.
ADVISORY_LOCK_KEY = 0x6D6C666C6F77
AUTH_VERSION_TABLE = "alembic_version_auth"
SCHEMA_OUT_OF_DATE = 3


class MigrationError(RuntimeError):
    """The schemas could not be brought to, or are not at, this image's head."""


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
    path = os.environ.get("MLFLOW_BACKEND_STORE_URI_FILE", "")
    if not uri and path:
        uri = Path(path).read_text().strip()
    if not uri:
        raise MigrationError("set MLFLOW_BACKEND_STORE_URI or MLFLOW_BACKEND_STORE_URI_FILE")
    return uri


def auth_uri() -> str:
    if not os.environ.get("MLFLOW_AUTH_CONFIG_PATH"):
        raise MigrationError("set MLFLOW_AUTH_CONFIG_PATH (the basic-auth ini the server reads)")
    return str(read_auth_config().database_uri)


def tracking_revisions(engine: sqlalchemy.engine.Engine) -> tuple[str | None, str]:
    """(the database's revision, this image's head) of the tracking schema."""
    return tracking_db._get_schema_version(engine), tracking_db._get_latest_schema_revision()


def auth_revisions(engine: sqlalchemy.engine.Engine) -> tuple[str | None, str]:
    """(the database's revision, this image's head) of the basic-auth schema."""
    url = engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(auth_db._get_alembic_config(url)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn, opts={"version_table": AUTH_VERSION_TABLE}).get_current_revision()
    return current, str(head)


@contextmanager
def migration_lock(engine: sqlalchemy.engine.Engine) -> Iterator[None]:
    """A PostgreSQL session advisory lock for the duration; SQLite serialises writers by itself."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})


def migrate() -> None:
    uri = tracking_uri()
    engine = tracking_db.create_sqlalchemy_engine_with_retry(uri)
    auth_engine = sqlalchemy.create_engine(auth_uri())
    try:
        with migration_lock(engine):
            before, head = tracking_revisions(engine)
            # mlflow/db.py `upgrade`, step for step.
            if tracking_db._is_empty_database(engine):
                tracking_db._initialize_tables(engine)
            else:
                tracking_db._upgrade_db(engine)
            print(f"migrate_db: tracking schema {before or 'empty'} -> {tracking_revisions(engine)[0]} (head {head})")
            before, head = auth_revisions(auth_engine)
            auth_db.migrate(auth_engine, "head")
            print(f"migrate_db: auth schema {before or 'empty'} -> {auth_revisions(auth_engine)[0]} (head {head})")
    finally:
        auth_engine.dispose()
        engine.dispose()


def check() -> None:
    engine = sqlalchemy.create_engine(tracking_uri())
    auth_engine = sqlalchemy.create_engine(auth_uri())
    try:
        behind = [
            f"{schema} schema at {current or 'nothing'}, this image needs {head}"
            for schema, (current, head) in (
                ("tracking", tracking_revisions(engine)),
                ("auth", auth_revisions(auth_engine)),
            )
            if current != head
        ]
    finally:
        auth_engine.dispose()
        engine.dispose()
    if behind:
        raise MigrationError(
            "; ".join(behind) + ": the migration Job of this image has not completed (kubectl -n mlflow get jobs)"
        )
    print("migrate_db: tracking and auth schemas are at this image's head")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "migrate"
    if command not in ("migrate", "check"):
        print(f"usage: {argv[0]} [migrate|check]", file=sys.stderr)
        return 2
    try:
        migrate() if command == "migrate" else check()
    except MigrationError as e:
        print(f"migrate_db: {e}", file=sys.stderr)
        return SCHEMA_OUT_OF_DATE if command == "check" else 1
    except (OSError, sqlalchemy.exc.SQLAlchemyError) as e:
        # SQLAlchemy's messages name the host and user, never the password.
        print(f"migrate_db: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
