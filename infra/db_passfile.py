"""How MLflow's pods reach their database: the endpoint, the password-less URI, and the password, managed by RDS in
Secrets Manager and kept by the pods in a libpq password file.

RDS generates and rotates the master password itself (`manage_master_user_password`, infra/database.py), so it is
in no Pulumi state, Kubernetes Secret or export. The pods' database URI names only `passfile=PASSFILE`; a small
program of the MLflow image (images/mlflow/pgpass.py) fetches the secret through the pod's IRSA role and writes
that file to an in-memory emptyDir: in the server pods a native sidecar that refreshes it (so a rotation needs no
restart: libpq reads the file at every new connection), in the migration Job a one-shot init container.

The EKS pod identity webhook gives init containers the IRSA token and variables too
(aws/amazon-eks-pod-identity-webhook pkg/handler/testdata/rawPodWithInitContainer.pod.yaml).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from infra import kube

SCRIPT = "/opt/mlflow/pgpass.py"
VOLUME = "pgpass"
PASSFILE_DIR = "/var/run/pgpass"
PASSFILE = f"{PASSFILE_DIR}/pgpass"
# One line of a few dozen bytes; the emptyDir is tmpfs, so the password never touches the node's disk.
VOLUME_SIZE = "1Mi"
STARTUP_PERIOD_SECONDS = 2
# IRSA's token exchange plus GetSecretValue, retried every 10 s (pgpass.py RETRY_SECONDS): two minutes.
STARTUP_FAILURES = 60
# The RDS CA certificates of every region (AWS RDS User Guide, "Using SSL/TLS to encrypt a connection to a DB
# instance": global-bundle.pem), baked into the image (images/mlflow/Dockerfile).
RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"


@dataclass(frozen=True)
class DatabaseSecret:
    """The secret RDS keeps the master user's credentials in, and the KMS key that encrypts it."""

    arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


def read_statements(secret_arn: str, kms_key_arn: str, region: str) -> list[dict[str, Any]]:
    """IAM statements that read exactly this secret: GetSecretValue on its ARN, and Decrypt on its key only as
    Secrets Manager does it for the caller (Secrets Manager User Guide, "Permissions to the KMS key": the caller
    needs kms:Decrypt on a customer managed key; `kms:ViaService` keeps the key unusable directly)."""
    return [
        {
            "Sid": "ReadDatabaseSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arn,
        },
        {
            "Sid": "DecryptDatabaseSecret",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        },
    ]


def read_policy(secret: DatabaseSecret, region: str) -> pulumi.Output[str]:
    """A policy document holding only read_statements."""
    return pulumi.Output.all(secret.arn, secret.kms_key_arn).apply(
        lambda v: json.dumps(
            {"Version": "2012-10-17", "Statement": read_statements(str(v[0]), str(v[1]), region)}, indent=2
        )
    )


def volume() -> k8s.core.v1.VolumeArgsDict:
    return {"name": VOLUME, "empty_dir": {"medium": "Memory", "size_limit": VOLUME_SIZE}}


def mount() -> k8s.core.v1.VolumeMountArgsDict:
    """The readers' mount: libpq only reads the file."""
    return {"name": VOLUME, "mount_path": PASSFILE_DIR, "read_only": True}


def writer(
    image: pulumi.Input[str], secret: DatabaseSecret, region: str, *, sidecar: bool
) -> k8s.core.v1.ContainerArgsDict:
    """The container that writes PASSFILE: a native sidecar (init container with `restartPolicy: Always`,
    Kubernetes >= 1.29, GA in 1.33) that keeps it current and is started, by its startup probe, only once the file
    exists, so the containers after it find it; or a one-shot init container."""
    container: k8s.core.v1.ContainerArgsDict = {
        "name": VOLUME,
        "image": image,
        "image_pull_policy": "IfNotPresent",
        "command": ["python", SCRIPT, "watch" if sidecar else "once"],
        "env": [
            {"name": "DATABASE_SECRET_ARN", "value": secret.arn},
            {"name": "PGPASSFILE", "value": PASSFILE},
            *kube.aws_env(region),
            *kube.tmp_env(),
        ],
        # Python and boto3 idle between two GetSecretValue calls a minute apart.
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
        },
        "security_context": kube.container_security_context(),
        "volume_mounts": [kube.tmp_mount(), {"name": VOLUME, "mount_path": PASSFILE_DIR}],
    }
    if sidecar:
        started: k8s.core.v1.ProbeArgsDict = {
            "exec_": {"command": ["test", "-s", PASSFILE]},
            "period_seconds": STARTUP_PERIOD_SECONDS,
            "failure_threshold": STARTUP_FAILURES,
            "timeout_seconds": 1,
            "success_threshold": 1,
        }
        container["restart_policy"] = "Always"
        container["startup_probe"] = started
    return container


@dataclass(frozen=True)
class DatabaseEndpoint:
    """The PostgreSQL backend store; its password is in `secret` (RDS-managed), never here."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    name: str
    username: str
    secret: DatabaseSecret
    # The RDS instance, snapshotted before each schema migration (infra/mlflow_schema.py); None: not ours to snapshot.
    instance_identifier: pulumi.Input[str] | None = None


def database_uri(db: DatabaseEndpoint) -> pulumi.Output[str]:
    """SQLAlchemy URI of the backend store over TLS that verifies the server (the server enforces `rds.force_ssl`).

    `sslmode=verify-full` checks the certificate chains to RDS_CA_BUNDLE and names the endpoint (libpq, "SSL
    Support": `require` encrypts but accepts any certificate, so a spoofed endpoint would get the password).
    No password: libpq reads it from `passfile` at each new connection (libpq "The Password File"), which the
    pod's pgpass container keeps current from the RDS-managed secret (infra/db_passfile.py). SQLAlchemy's psycopg2
    dialect hands the query's other parameters to libpq as connection parameters.
    The driver is named: the image installs psycopg2, and SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql://.
    """
    return pulumi.Output.all(db.host, db.port).apply(
        lambda v: (
            f"postgresql+psycopg2://{quote(db.username, safe='')}@{v[0]}:{int(v[1])}/{quote(db.name, safe='')}"
            f"?sslmode=verify-full&sslrootcert={RDS_CA_BUNDLE}&passfile={PASSFILE}"
        )
    )
