"""MLflow's database schemas: migrated once per image and database by a Job, checked by every server pod.

Left to itself, every `mlflow server` process migrates (mlflow 3.17.2): the tracking store runs all migrations
when one of its tables is missing (`mlflow/store/tracking/sqlalchemy_store.py` `__init__`: `_all_tables_exist`,
then `mlflow/store/db/utils.py` `_initialize_tables`), which is the case on an empty database and on an image
adding a table, and otherwise refuses to start on an out-of-date schema (`_verify_schema`); the basic-auth store
upgrades whenever it is behind (`mlflow/server/auth/db/utils.py` `migrate_if_needed`). There is no option to turn
this off, and the only lock is a file lock inside one pod. So replicas race on a fresh database, and an image bump
either migrates from a serving surge pod or crash-loops the rollout.

Here the Job (images/mlflow/migrate_db.py `migrate`, under a PostgreSQL advisory lock) does it, named after the
image and the database so that each new pair runs it once, and the Deployment depends on it; the server pods'
init container (`check`) refuses to start on a schema that is not at its image's head, so no server ever reaches
the code paths above.

Before the Job, an RDS snapshot of the database of the same image and database pair (`aws.rds.Snapshot`, created,
and waited for until available, by `pulumi up` itself): Alembic's downgrades are not a way back from a migration
that went wrong (mlflow 3.17.2 has no downgrade command, and many revisions' `downgrade()` is empty), a restore
is (docs/operations.md, "Upgrading MLflow").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra import db_passfile, kube

APP = "mlflow"
SERVICE_ACCOUNT = f"{APP}-migrate-db"
LABELS = kube.pod_labels(APP, "migrate-db")
SCRIPT = "/opt/mlflow/migrate_db.py"
# A migration of a large database may take minutes (mlflow/store/db_migrations/README.md). Pulumi's await outlasts
# the Job's own deadline, so a stuck migration is reported as the Job's DeadlineExceeded rather than a bare timeout.
DEADLINE_SECONDS = 900
AWAIT = "20m"
# CreateDBSnapshot of a large database may take a while; the provider waits for `available`.
SNAPSHOT_AWAIT = "60m"


@dataclass(frozen=True)
class MigrationArgs:
    namespace: str
    image: pulumi.Input[str]
    # host, port and database name of the backend store (no password: it is in the Secret).
    database: tuple[pulumi.Input[str], pulumi.Input[int], str]
    # The MLflow server's Secret (backend-store-uri, basic-auth.ini) and where the server mounts it.
    server_secret: pulumi.Input[str]
    secrets_dir: str
    # The init container that writes the password file the URIs name (infra/db_passfile.py), and the IRSA role
    # it reads the database's secret with.
    passfile_writer: k8s.core.v1.ContainerArgsDict
    role_arn: pulumi.Input[str]
    # The RDS instance behind `database`, snapshotted before each migration; None: a database not managed here.
    instance_identifier: pulumi.Input[str] | None = None
    tags: dict[str, str] | None = None


def _digest(image: str, host: str, port: int, database: str) -> str:
    return hashlib.sha256(f"{image}\n{host}:{port}/{database}".encode()).hexdigest()[:10]


def job_name(image: str, host: str, port: int, database: str) -> str:
    """A new image or a new database is a new Job, which Pulumi creates (so runs) before the Deployment rolls; the
    same image on the same database is the same completed Job, and `up` leaves it alone."""
    return f"{APP}-migrate-{_digest(image, host, port, database)}"


def snapshot_identifier(instance: str, image: str, host: str, port: int, database: str) -> str:
    """The snapshot taken before the migration of the same pair: a new pair is a new identifier, so a new snapshot
    (DBSnapshotIdentifier is immutable: the resource is replaced), and an `up` with neither changed takes none."""
    return f"{instance}-pre-migrate-{_digest(image, host, port, database)}"


def pre_migration_snapshot(resource_name: str, args: MigrationArgs, parent: pulumi.Resource | None) -> aws.rds.Snapshot:
    """A manual snapshot of the instance, available before the migration Job exists.

    On a replacement Pulumi creates the new snapshot first and deletes the previous one at the end of the `up`
    (create-before-delete): the stack keeps the snapshot taken before its latest migration, and a destroy deletes
    it with the database (whose final snapshot then covers it, outside dev).
    """
    assert args.instance_identifier is not None
    db_name = args.database[2]
    identifier = pulumi.Output.all(args.instance_identifier, args.image, args.database[0], args.database[1]).apply(
        lambda v: snapshot_identifier(str(v[0]), str(v[1]), str(v[2]), int(v[3]), db_name)
    )
    return aws.rds.Snapshot(
        resource_name,
        db_instance_identifier=args.instance_identifier,
        db_snapshot_identifier=identifier,
        tags={**(args.tags or {}), "Name": resource_name, "Purpose": "before MLflow schema migration"},
        opts=pulumi.ResourceOptions(
            parent=parent, custom_timeouts=pulumi.CustomTimeouts(create=SNAPSHOT_AWAIT, delete=SNAPSHOT_AWAIT)
        ),
    )


def tool(container: str, image: pulumi.Input[str], command: str, secrets_dir: str) -> k8s.core.v1.ContainerArgsDict:
    """migrate_db.py `migrate` or `check`, reading both database URIs from the server's own Secret and the
    password from the pod's password file."""
    return {
        "name": container,
        "image": image,
        "image_pull_policy": "IfNotPresent",
        "command": ["python", SCRIPT, command],
        "env": [
            {"name": "MLFLOW_BACKEND_STORE_URI_FILE", "value": f"{secrets_dir}/backend-store-uri"},
            {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": f"{secrets_dir}/basic-auth.ini"},
            *kube.tmp_env(),
        ],
        # Importing MLflow and Alembic is most of it; the migration itself runs in the database.
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "64Mi"},
            "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"},
        },
        "security_context": kube.container_security_context(),
        "volume_mounts": [
            kube.tmp_mount(),
            {"name": "server-secrets", "mount_path": secrets_dir, "read_only": True},
            db_passfile.mount(),
        ],
    }


def migration_job(resource_name: str, args: MigrationArgs, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
    """The Job that brings both schemas to the image's head; `opts` carry the component's parent and waits."""
    labels = kube.object_labels(APP, "migrate-db")
    db_name = args.database[2]
    name = pulumi.Output.all(args.image, args.database[0], args.database[1]).apply(
        lambda v: job_name(str(v[0]), str(v[1]), int(v[2]), db_name)
    )
    # The database, through the server's Secret and a role that reads only its password; no Kubernetes API token.
    account = kube.service_account(
        f"{resource_name}-sa",
        SERVICE_ACCOUNT,
        args.namespace,
        labels,
        opts,
        annotations={"eks.amazonaws.com/role-arn": args.role_arn},
    )
    if args.instance_identifier is not None:
        # The Job exists only once the snapshot is available: its pods run nothing before there is a way back.
        snapshot = pre_migration_snapshot(f"{resource_name}-snapshot", args, opts.parent)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[snapshot]))
    return k8s.batch.v1.Job(
        resource_name,
        metadata={
            "name": name,
            "namespace": args.namespace,
            "labels": labels,
            "annotations": kube.RERUN_UNLESS_COMPLETE,
        },
        spec={
            # A failed attempt keeps its pod for `kubectl logs`; Alembic resumes from the recorded revision.
            "backoff_limit": 2,
            "active_deadline_seconds": DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": labels},
                "spec": kube.pod_spec(
                    [tool("migrate-db", args.image, "migrate", args.secrets_dir)],
                    [
                        kube.tmp_volume("256Mi"),
                        kube.secret_volume("server-secrets", args.server_secret),
                        db_passfile.volume(),
                    ],
                    restart_policy="Never",
                    service_account=account.metadata.name,
                    init_containers=[args.passfile_writer],
                ),
            },
        },
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=AWAIT, update=AWAIT))
        ),
    )
