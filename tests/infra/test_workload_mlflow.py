"""The MLflow workload on every stack: server, backend store, auth, bootstrap job and its IAM role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from tests.infra.harness import Recording
from tests.infra.k8s import arg_value, by_component, of_kind, one
from tests.infra.workload_support import (
    bootstrap_users_secret,
    manifests,
    mlflow_container,
    mlflow_server_secret,
    password,
    secret_data,
)

# ---------------------------------------------------------------------------------------------- MLflow


def test_mlflow_serves_proxied_s3_artifacts_with_basic_auth(recording: Recording) -> None:
    c, cfg = mlflow_container(recording), recording.config
    args = c["args"]
    assert args[0] == "server"
    assert arg_value(args, "--app-name") == "basic-auth"
    assert "--serve-artifacts" in args
    (bucket,) = [b for b in recording.find("aws:s3/bucket:Bucket") if b.name.endswith("-artifacts")]
    assert arg_value(args, "--artifacts-destination") == f"s3://{bucket.outputs['bucket']}/mlflow"
    assert arg_value(args, "--workers") == cfg["platform:mlflow.workers"]
    hosts = arg_value(args, "--allowed-hosts").split(",")
    # Without an MLflow Ingress, only the in-cluster names and port-forward's loopback: no host of any config value.
    assert hosts == [
        "mlflow.mlflow.svc.cluster.local:5000",
        "mlflow.mlflow.svc:5000",
        "mlflow.mlflow:5000",
        "localhost:*",
        "127.0.0.1:*",
    ]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "MLFLOW_BACKEND_STORE_URI" not in env and "--backend-store-uri" not in args
    assert env["MLFLOW_BACKEND_STORE_URI_FILE"] == "/var/run/secrets/mlflow/backend-store-uri"
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/var/run/secrets/mlflow/basic-auth.ini"
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY_FILE"] == "/var/run/secrets/mlflow/flask-secret-key"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]


def test_mlflow_backend_store_is_rds_over_tls_from_a_secret_file(recording: Recording) -> None:
    data = mlflow_server_secret(recording)
    uri = urlparse(data["backend-store-uri"])
    assert uri.scheme == "postgresql+psycopg2" and uri.port == 5432 and uri.path == "/mlflow"
    assert uri.hostname and uri.hostname.endswith(".rds.amazonaws.com")
    # libpq "SSL Support" (PostgreSQL docs, 31.19.1): only verify-full checks both the chain (to sslrootcert) and
    # that the certificate names the host; require would send the password to whoever answers.
    # No password: libpq reads it from the password file the pgpass sidecar keeps (test_database_secret.py).
    assert parse_qs(uri.query) == {
        "sslmode": ["verify-full"],
        "sslrootcert": ["/etc/ssl/certs/rds-global-bundle.pem"],
        "passfile": ["/var/run/pgpass/pgpass"],
    }
    assert uri.password is None and unquote(uri.username or "") == "mlflow"


def test_mlflow_auth_config_parses_to_the_backend_database_and_a_generated_admin(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.server.auth.config import read_auth_config

    data = mlflow_server_secret(recording)
    ini = tmp_path / "basic-auth.ini"
    ini.write_text(data["basic-auth.ini"])
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    config = read_auth_config()
    assert config.database_uri == data["backend-store-uri"]
    assert config.admin_username == "admin"
    assert config.admin_password == password(recording, "admin-password")
    assert config.default_permission == "READ"
    assert len(data["flask-secret-key"]) == 64


def test_mlflow_role_annotation_and_no_token(recording: Recording) -> None:
    sa = one(manifests(recording), "ServiceAccount", "mlflow", "mlflow")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert sa["automountServiceAccountToken"] is False


def test_bootstrap_job_creates_one_user_per_client_with_the_admin_credentials(recording: Recording) -> None:
    job = by_component(manifests(recording), "Job", "mlflow", "bootstrap-users")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["python", "/opt/mlflow/bootstrap_users.py"]
    assert c["image"] == mlflow_container(recording)["image"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    training = recording.stack in ("dev", "staging")
    assert set(bootstrap_users_secret(recording)) == ({"inference", "trainer"} if training else {"inference"})
    (admin,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "admin"]
    assert secret_data(recording, "mlflow", admin["secret"]["secretName"]) == {
        "username": "admin",
        "password": password(recording, "admin-password"),
    }
    # The Job talks to the running server, so Pulumi creates it after the Deployment and Service.
    job_resource = recording.one("kubernetes:batch/v1:Job", f"mlp-{recording.stack}-mlflow-bootstrap-users")
    deployment = recording.one("kubernetes:apps/v1:Deployment", f"mlp-{recording.stack}-mlflow-deployment")
    assert recording.depends_on(job_resource, deployment)


def test_mlflow_has_no_ingress_unless_configured(recording: Recording) -> None:
    assert not of_kind(manifests(recording), "Ingress", "mlflow")


# ---------------------------------------------------------------------------------- wiring to the cloud


def test_mlflow_role_is_trusted_by_its_service_account_and_limited_to_the_artifact_prefix(
    recording: Recording,
) -> None:
    role = recording.one("aws:iam/role:Role", f"mlp-{recording.stack}-mlflow-role")
    assert role.parent == recording.one("platform:index:Mlflow").urn
    issuer = recording.exports["oidcIssuerUrl"].removeprefix("https://")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:mlflow:mlflow",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    (policy,) = [p for p in recording.find("aws:iam/rolePolicy:RolePolicy") if p.parent == role.urn]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    (bucket,) = [b for b in recording.find("aws:s3/bucket:Bucket") if b.name.endswith("-artifacts")]
    key = recording.one("aws:kms/key:Key", f"mlp-{recording.stack}-artifacts-key")
    assert statements["ReadWriteArtifacts"]["Resource"] == f"{bucket.outputs['arn']}/mlflow/*"
    assert statements["ListArtifactPrefix"]["Resource"] == bucket.outputs["arn"]
    assert statements["ListArtifactPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["mlflow", "mlflow/*"]}}
    assert statements["UseArtifactKey"]["Resource"] == key.outputs["arn"]
    assert not any("*" in a for s in statements.values() for a in _actions(s))
    sa = one(manifests(recording), "ServiceAccount", "mlflow", "mlflow")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)
