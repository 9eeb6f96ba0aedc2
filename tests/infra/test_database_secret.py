"""MLflow's database password stays out of Pulumi's state: RDS manages it in Secrets Manager, and MLflow's pods read
it from a libpq password file that a pgpass container keeps from that secret (infra/database.py,
infra/db_passfile.py, images/mlflow/pgpass.py)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from infra import db_passfile
from infra.versions import KUBERNETES_VERSIONS
from tests.infra.harness import Recording
from tests.infra.k8s import by_component, one
from tests.infra.workload_support import manifests, mlflow_server_secret

DB = "aws:rds/instance:Instance"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


@pytest.fixture(scope="module")
def prod(recordings: dict[str, Recording]) -> Recording:
    return recordings["prod"]


def secret_arn(rec: Recording) -> str:
    arn: str = rec.one(DB).outputs["masterUserSecrets"][0]["secretArn"]
    return arn


def policy_statements(rec: Recording, role_name: str) -> dict[str, dict[str, Any]]:
    role = rec.one(ROLE, role_name)
    (policy,) = [p for p in rec.find(ROLE_POLICY) if p.parent == role.urn]
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_rds_generates_and_keeps_the_master_password_encrypted_with_the_stacks_key(prod: Recording) -> None:
    """RDS API CreateDBInstance: ManageMasterUserPassword makes RDS generate the password into Secrets Manager, and
    "Can't manage the master user password with AWS Secrets Manager if MasterUserPassword is specified";
    MasterUserSecretKmsKeyId names the key encrypting the secret (pulumi-aws 7.51.1 rds.Instance
    `manage_master_user_password`, `master_user_secret_kms_key_id`, output `master_user_secrets`)."""
    db = prod.one(DB)
    key = prod.one("aws:kms/key:Key", "mlp-prod-db-key")
    assert db.inputs["manageMasterUserPassword"] is True
    assert db.inputs["masterUserSecretKmsKeyId"] == key.outputs["arn"]
    assert "password" not in db.inputs and "passwordWo" not in db.inputs
    # The key lets Secrets Manager use it for the account's principals, as it lets RDS (infra/security.py).
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    via = statements["UseThroughItsServices"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert "secretsmanager.us-east-1.amazonaws.com" in via


def test_no_database_password_is_generated_stored_or_exported(recordings: dict[str, Recording]) -> None:
    """Nothing the program creates holds the database password: no RandomPassword for it (its `result` would sit in
    the state), no password in any database URI of a Kubernetes Secret, no export of it."""
    for rec in recordings.values():
        assert not [p.name for p in rec.find(RANDOM_PASSWORD) if "-db-" in p.name], rec.stack
        assert not rec.within("platform:index:Database").find(RANDOM_PASSWORD), rec.stack
        uris = [
            value
            for m in manifests(rec)
            if m["kind"] == "Secret"
            for value in (m.get("stringData") or {}).values()
            if "postgresql" in value
        ]
        assert uris, rec.stack
        for value in uris:
            for line in value.splitlines():
                uri = line.split("=", 1)[1].strip() if line.startswith("database_uri") else line
                assert urlparse(uri).password is None, f"{rec.stack}: a database URI holds a password"
        assert not [e for e in rec.exports if "password" in e.lower() and "database" in e.lower()], rec.stack


def test_the_server_role_reads_exactly_the_database_secret(recordings: dict[str, Recording]) -> None:
    """IAM: secretsmanager:GetSecretValue on the one secret's ARN; kms:Decrypt on its customer managed key only as
    Secrets Manager calls it (Secrets Manager User Guide, "Secret encryption and decryption": the caller of
    GetSecretValue needs kms:Decrypt on the key; AWS KMS condition key kms:ViaService)."""
    for rec in recordings.values():
        statements = policy_statements(rec, f"mlp-{rec.stack}-mlflow-role")
        key = rec.one("aws:kms/key:Key", f"mlp-{rec.stack}-db-key")
        assert statements["ReadDatabaseSecret"]["Action"] == "secretsmanager:GetSecretValue"
        assert statements["ReadDatabaseSecret"]["Resource"] == secret_arn(rec)
        assert statements["DecryptDatabaseSecret"]["Action"] == "kms:Decrypt"
        assert statements["DecryptDatabaseSecret"]["Resource"] == key.outputs["arn"]
        assert statements["DecryptDatabaseSecret"]["Condition"] == {
            "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
        }
        # Still the artifact permissions besides, and nothing else.
        assert set(statements) == {
            "ListArtifactPrefix",
            "ReadWriteArtifacts",
            "UseArtifactKey",
            "ReadDatabaseSecret",
            "DecryptDatabaseSecret",
        }


def test_the_migration_job_has_a_role_of_its_own_that_reads_only_the_secret(prod: Recording) -> None:
    """IRSA (EKS User Guide, "IAM roles for service accounts"): the role is assumed by the service account its
    trust policy names; the migration Job's account gets a role with the secret's two statements and no S3."""
    role = prod.one(ROLE, "mlp-prod-mlflow-migrate-db-role")
    issuer = prod.exports["oidcIssuerUrl"].removeprefix("https://")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Condition"]["StringEquals"][f"{issuer}:sub"] == "system:serviceaccount:mlflow:mlflow-migrate-db"
    assert set(policy_statements(prod, "mlp-prod-mlflow-migrate-db-role")) == {
        "ReadDatabaseSecret",
        "DecryptDatabaseSecret",
    }
    sa = one(manifests(prod), "ServiceAccount", "mlflow-migrate-db", "mlflow")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}


def _passfile_volume(spec: dict[str, Any]) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [v for v in spec["volumes"] if v["name"] == db_passfile.VOLUME]
    (volume,) = volumes
    return volume


def test_the_server_pods_keep_the_password_file_with_a_native_sidecar(recordings: dict[str, Recording]) -> None:
    """Kubernetes docs, "Sidecar Containers": an init container with restartPolicy Always keeps running beside the
    main containers, and the next init container starts once its startupProbe has succeeded; KEP-753
    (kubernetes/enhancements keps/sig-node/753-sidecar-containers): on by default from 1.29, GA in 1.33, refused
    before, so every Kubernetes version the stacks may run (infra/versions.py) must be 1.29 or later. libpq, "The
    Password File": `passfile` names the file, read at each connection; an in-memory emptyDir holds it."""
    assert all(tuple(int(p) for p in v.split(".")) >= (1, 29) for v in KUBERNETES_VERSIONS), KUBERNETES_VERSIONS
    for rec in recordings.values():
        spec = one(manifests(rec), "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
        sidecar, check = spec["initContainers"]
        assert sidecar["name"] == "pgpass" and check["name"] == "schema-check"
        assert sidecar["restartPolicy"] == "Always" and sidecar["command"] == ["python", db_passfile.SCRIPT, "watch"]
        assert sidecar["startupProbe"]["exec"]["command"] == ["test", "-s", db_passfile.PASSFILE]
        env = {e["name"]: e["value"] for e in sidecar["env"]}
        assert env["DATABASE_SECRET_ARN"] == secret_arn(rec) and env["PGPASSFILE"] == db_passfile.PASSFILE
        assert {"name": "pgpass", "mountPath": db_passfile.PASSFILE_DIR} in sidecar["volumeMounts"]
        assert _passfile_volume(spec)["emptyDir"]["medium"] == "Memory"
        # The readers mount it read-only: the server, and the schema check, both open database connections.
        (server,) = spec["containers"]
        for reader in (server, check):
            assert {"name": "pgpass", "mountPath": db_passfile.PASSFILE_DIR, "readOnly": True} in reader["volumeMounts"]
        uri = urlparse(mlflow_server_secret(rec)["backend-store-uri"])
        assert parse_qs(uri.query)["passfile"] == [db_passfile.PASSFILE] and uri.password is None


def test_the_migration_job_writes_the_password_file_once_before_migrating(prod: Recording) -> None:
    """Kubernetes docs, "Init Containers": each runs to completion before the app containers start; the Job's
    pgpass writer has no restartPolicy of its own, so it is a one-shot init container."""
    spec = by_component(manifests(prod), "Job", "mlflow", "migrate-db")["spec"]["template"]["spec"]
    (writer,) = spec["initContainers"]
    assert writer["command"] == ["python", db_passfile.SCRIPT, "once"] and "restartPolicy" not in writer
    assert {e["name"]: e["value"] for e in writer["env"]}["DATABASE_SECRET_ARN"] == secret_arn(prod)
    (migrate,) = spec["containers"]
    assert {"name": "pgpass", "mountPath": db_passfile.PASSFILE_DIR, "readOnly": True} in migrate["volumeMounts"]
    assert _passfile_volume(spec)["emptyDir"]["medium"] == "Memory"
    assert spec["serviceAccountName"] == "mlflow-migrate-db"
