"""Keep libpq's password file holding the database password RDS manages in Secrets Manager.

RDS keeps the master password in a Secrets Manager secret it creates and rotates (`manage_master_user_password`,
RDS User Guide, "Password management with Amazon RDS and AWS Secrets Manager": every 7 days by default). The
MLflow pods' database URI carries no password, only `passfile=<PASSFILE>`; libpq reads that file on every new
connection (PostgreSQL docs, libpq "The Password File"), so a pod that rewrites it keeps connecting across a
rotation without a restart, and the password never sits in Pulumi's state, a Kubernetes Secret or the pod spec.

`once`   fetch and write the file, then exit (the Jobs' init container);
`watch`  do it every REFRESH_SECONDS until stopped (the server pods' sidecar); a failed fetch keeps the last file
         and is retried after RETRY_SECONDS.

Environment: DATABASE_SECRET_ARN (the secret), PGPASSFILE (the file to write, on an in-memory emptyDir). The
credentials come from IRSA (boto3's web-identity provider reads AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Managed rotation changes the password at once ("Rotation for managed secrets typically completes within one
# minute", Secrets Manager User Guide, "Managed rotation"), and until the file has the new one a *new* connection
# fails (open ones stay authenticated). A minute bounds that window at about the rotation's own length; at
# GetSecretValue's price ($0.05 per 10,000 calls) it costs about $0.22 a month per pod.
REFRESH_SECONDS = 60
RETRY_SECONDS = 10
SECRET_ENV = "DATABASE_SECRET_ARN"
PASSFILE_ENV = "PGPASSFILE"

Fetch = Callable[[], str]


class PassfileError(RuntimeError):
    """The password could not be fetched or written."""


def escape(field: str) -> str:
    """A password-file field: `:` and `\\` escaped with `\\` (libpq, "The Password File")."""
    return field.replace("\\", "\\\\").replace(":", "\\:")


def passfile_line(password: str) -> str:
    """One entry matching every host, port, database and user: the pod connects to one database as one user."""
    if not password or "\n" in password or "\r" in password:
        # libpq reads the file line by line: a password spanning lines would match nothing.
        raise PassfileError("the password is empty or spans lines")
    return f"*:*:*:*:{escape(password)}\n"


def write_passfile(path: Path, password: str) -> bool:
    """Write the password file atomically with mode 0600; whether its content changed.

    Atomically (a temporary file in the same directory, then rename): a connection opened meanwhile reads the old
    file or the new one, never half of one. 0600: libpq ignores a password file that its group or others may read.
    """
    content = passfile_line(password)
    try:
        if path.read_text() == content:
            return False
    except FileNotFoundError:
        pass
    # mkstemp creates the file with mode 0600, owned by this (the connecting) user.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def password_from_secret(secret_string: str) -> str:
    """The password in an RDS-managed secret's value, JSON `{"username": ..., "password": ...}`."""
    try:
        value: Any = json.loads(secret_string)
        password = value["password"]
    except (ValueError, KeyError, TypeError) as e:
        raise PassfileError("the secret is not an RDS master user secret (JSON with a password)") from e
    if not isinstance(password, str):
        raise PassfileError("the secret's password is not a string")
    return password


def secrets_manager_fetch(secret_id: str, client: Any = None) -> Fetch:
    """Fetch the secret's current version (AWSCURRENT) with boto3, through the pod's IRSA role."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")

    def fetch() -> str:
        return password_from_secret(client.get_secret_value(SecretId=secret_id)["SecretString"])

    return fetch


def refresh(path: Path, fetch: Fetch) -> bool:
    """Fetch the password and write it if it changed; whether it did."""
    return write_passfile(path, fetch())


def watch(path: Path, fetch: Fetch, sleep: Callable[[float], None] = time.sleep, rounds: int | None = None) -> None:
    """refresh() every REFRESH_SECONDS (RETRY_SECONDS after a failure) for `rounds` rounds, or until killed."""
    done = 0
    while rounds is None or done < rounds:
        try:
            if refresh(path, fetch):
                print(f"pgpass: {path} now holds the current password", flush=True)
            delay = REFRESH_SECONDS
        except Exception as e:  # whatever failed, the last good file keeps serving
            # Never the secret: the exception's type and message name the call, not the value.
            print(f"pgpass: refresh failed, keeping {path}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            delay = RETRY_SECONDS
        done += 1
        if rounds is None or done < rounds:
            sleep(delay)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    secret_id, passfile = os.environ.get(SECRET_ENV, ""), os.environ.get(PASSFILE_ENV, "")
    if command not in ("once", "watch") or not secret_id or not passfile:
        print(f"usage: {SECRET_ENV}=<arn> {PASSFILE_ENV}=<path> {argv[0]} once|watch", file=sys.stderr)
        return 2
    fetch = secrets_manager_fetch(secret_id)
    if command == "watch":
        watch(Path(passfile), fetch)
        return 0
    try:
        refresh(Path(passfile), fetch)
    except Exception as e:  # reported as the init container's failure
        print(f"pgpass: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"pgpass: wrote {passfile}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
