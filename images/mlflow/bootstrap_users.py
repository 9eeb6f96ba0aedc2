"""Make MLflow basic-auth users exist with the passwords found in a directory, one file per user.

Runs as a Kubernetes Job beside the tracking server (infra/mlflow.py), through MLflow's auth REST API:
for each file in MLFLOW_USERS_DIR it creates the user named after the file with the password it holds, or, when
the user exists, sets that password (so a rotated password converges when the Job runs again). It keeps the
users non-admin: with the server's `default_permission = READ` they read every experiment and registered model
and can change only what they themselves create. It then logs in as each user to prove the password works.

Environment: MLFLOW_TRACKING_URI (the server), MLFLOW_ADMIN_DIR (files `username`, `password`),
MLFLOW_USERS_DIR. Standard library only, so it runs in the server image as is.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

API = "/api/2.0/mlflow/users"
TIMEOUT_S = 10.0


class BootstrapError(RuntimeError):
    """The users could not be made to match the directory."""


class Client:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.auth = f"Basic {token}"

    def call(
        self, method: str, path: str, *, query: dict[str, str] | None = None, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": self.auth})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as e:
            return e.code, _json(e.read())


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return {"message": raw.decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


def wait_until_healthy(base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: str = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=TIMEOUT_S) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(2)
    raise BootstrapError(f"MLflow at {base_url} not healthy after {timeout_s:.0f}s: {last}")


def ensure_user(admin: Client, username: str, password: str) -> str:
    """Create `username` or set its password; make sure it is not an admin. Returns what was done."""
    status, body = admin.call("GET", f"{API}/get", query={"username": username})
    if status == 404:
        status, body = admin.call("POST", f"{API}/create", body={"username": username, "password": password})
        if status != 200:
            raise BootstrapError(f"creating user {username!r} failed: HTTP {status} {body}")
        return "created"
    if status != 200:
        raise BootstrapError(f"looking up user {username!r} failed: HTTP {status} {body}")
    status, body = admin.call("PATCH", f"{API}/update-password", body={"username": username, "password": password})
    if status != 200:
        raise BootstrapError(f"setting the password of {username!r} failed: HTTP {status} {body}")
    return "updated"


def ensure_not_admin(admin: Client, username: str) -> None:
    status, body = admin.call("GET", f"{API}/get", query={"username": username})
    if status != 200:
        raise BootstrapError(f"looking up user {username!r} failed: HTTP {status} {body}")
    if body.get("user", {}).get("is_admin"):
        status, body = admin.call("PATCH", f"{API}/update-admin", body={"username": username, "is_admin": False})
        if status != 200:
            raise BootstrapError(f"revoking admin from {username!r} failed: HTTP {status} {body}")


def verify_login(base_url: str, username: str, password: str) -> None:
    status, body = Client(base_url, username, password).call("GET", f"{API}/current")
    if status != 200 or body.get("user", {}).get("username") != username:
        raise BootstrapError(f"user {username!r} cannot log in with its password: HTTP {status} {body}")


def read_users(users_dir: Path) -> dict[str, str]:
    """username -> password, from the regular files in `users_dir` (Kubernetes adds dot-entries; skipped)."""
    users = {}
    for path in sorted(users_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        password = path.read_text().strip()
        if not password:
            raise BootstrapError(f"{path} is empty")
        users[path.name] = password
    if not users:
        raise BootstrapError(f"no user files in {users_dir}")
    return users


def main() -> int:
    try:
        base_url = os.environ["MLFLOW_TRACKING_URI"]
        admin_dir = Path(os.environ["MLFLOW_ADMIN_DIR"])
        users_dir = Path(os.environ["MLFLOW_USERS_DIR"])
    except KeyError as e:
        print(f"bootstrap_users: environment variable {e.args[0]} is not set", file=sys.stderr)
        return 2
    try:
        admin_username = (admin_dir / "username").read_text().strip()
        admin = Client(base_url, admin_username, (admin_dir / "password").read_text().strip())
        users = read_users(users_dir)
        if admin_username in users:
            raise BootstrapError(f"{users_dir}/{admin_username} names the admin; the admin is managed by MLflow")
        wait_until_healthy(base_url, float(os.environ.get("MLFLOW_BOOTSTRAP_TIMEOUT_S", "300")))
        for username, password in users.items():
            done = ensure_user(admin, username, password)
            ensure_not_admin(admin, username)
            verify_login(base_url, username, password)
            print(f"bootstrap_users: {username}: {done}")
    except (BootstrapError, OSError) as e:
        print(f"bootstrap_users: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
