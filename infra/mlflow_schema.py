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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import kube

APP = "mlflow"
LABELS = kube.pod_labels(APP, "migrate-db")
SCRIPT = "/opt/mlflow/migrate_db.py"
# A migration of a large database may take minutes (mlflow/store/db_migrations/README.md). Pulumi's await outlasts
# the Job's own deadline, so a stuck migration is reported as the Job's DeadlineExceeded rather than a bare timeout.
DEADLINE_SECONDS = 900
AWAIT = "20m"


@dataclass(frozen=True)
class MigrationArgs:
    namespace: str
    image: pulumi.Input[str]
    # host, port and database name of the backend store (no password: it is in the Secret).
    database: tuple[pulumi.Input[str], pulumi.Input[int], str]
    # The MLflow server's Secret (backend-store-uri, basic-auth.ini) and where the server mounts it.
    server_secret: pulumi.Input[str]
    secrets_dir: str


def job_name(image: str, host: str, port: int, database: str) -> str:
    """A new image or a new database is a new Job, which Pulumi creates (so runs) before the Deployment rolls; the
    same image on the same database is the same completed Job, and `up` leaves it alone."""
    digest = hashlib.sha256(f"{image}\n{host}:{port}/{database}".encode()).hexdigest()[:10]
    return f"{APP}-migrate-{digest}"


def tool(container: str, image: pulumi.Input[str], command: str, secrets_dir: str) -> k8s.core.v1.ContainerArgsDict:
    """migrate_db.py `migrate` or `check`, reading both database URIs from the server's own Secret."""
    return {
        "name": container,
        "image": image,
        "image_pull_policy": "IfNotPresent",
        "command": ["python", SCRIPT, command],
        "env": [
            {"name": "MLFLOW_BACKEND_STORE_URI_FILE", "value": f"{secrets_dir}/backend-store-uri"},
            {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": f"{secrets_dir}/basic-auth.ini"},
            {"name": "HOME", "value": kube.TMP_MOUNT},
            {"name": "TMPDIR", "value": kube.TMP_MOUNT},
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
        ],
    }


def migration_job(resource_name: str, args: MigrationArgs, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
    """The Job that brings both schemas to the image's head; `opts` carry the component's parent and waits."""
    labels = kube.object_labels(APP, "migrate-db")
    db_name = args.database[2]
    name = pulumi.Output.all(args.image, args.database[0], args.database[1]).apply(
        lambda v: job_name(str(v[0]), str(v[1]), int(v[2]), db_name)
    )
    # Only the database, through the server's Secret: no AWS role, no Kubernetes API token.
    account = kube.service_account(f"{resource_name}-sa", f"{APP}-migrate-db", args.namespace, labels, opts)
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
                    [kube.tmp_volume("256Mi"), kube.secret_volume("server-secrets", args.server_secret)],
                    restart_policy="Never",
                    service_account=account.metadata.name,
                ),
            },
        },
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=AWAIT, update=AWAIT))
        ),
    )
