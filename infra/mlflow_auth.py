"""MLflow's basic-auth ini files: the server's auth config and a client's credentials file.

Both are configparser files MLflow reads (mlflow/server/auth/config.py, mlflow/utils/credentials.py), so values
are escaped here once for both. infra/mlflow.py mounts the server's; infra/training_job.py mounts a client's.
"""

from __future__ import annotations

# Every user MLflow reads from its auth database gets this on resources it did not create: clients read the
# registry; only a resource's creator (and the admin) may change it.
DEFAULT_PERMISSION = "READ"


def _ini_value(value: str) -> str:
    # MLflow reads its ini files with configparser's interpolation, to which "%" is special.
    if "\n" in value or "\r" in value:
        raise ValueError("an ini value cannot span lines")
    return value.replace("%", "%%")


def basic_auth_ini(database_uri: str, admin_username: str, admin_password: str) -> str:
    """MLflow's auth config (MLFLOW_AUTH_CONFIG_PATH): users and permissions live in the backend database."""
    return (
        "[mlflow]\n"
        f"default_permission = {DEFAULT_PERMISSION}\n"
        f"database_uri = {_ini_value(database_uri)}\n"
        f"admin_username = {_ini_value(admin_username)}\n"
        f"admin_password = {_ini_value(admin_password)}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )


def credentials_file(username: str, password: str) -> str:
    """An MLflow client credentials file (~/.mlflow/credentials): basic-auth credentials as a file, not env."""
    return (
        "[mlflow]\n"
        f"mlflow_tracking_username = {_ini_value(username)}\n"
        f"mlflow_tracking_password = {_ini_value(password)}\n"
    )
