"""The optional in-cluster training run: the training image against the in-cluster MLflow, once or on a schedule.

Training registers a new model version; it never moves the `production` alias (promotion is the gated CLI
step). It reaches only MLflow, which stores the artifacts, so the pod needs no AWS access.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import kube
from infra.config import TrainingJobConfig
from infra.mlflow import credentials_file

NAME = "training"
LABELS = kube.pod_labels(NAME, "job")
# MLflow clients read ~/.mlflow/credentials; HOME is the writable /tmp, and the file is mounted into it.
CREDENTIALS_DIR = f"{kube.TMP_MOUNT}/.mlflow"


@dataclass(frozen=True)
class TrainingJobArgs:
    config: TrainingJobConfig
    namespace: str
    image: pulumi.Input[str]
    tracking_uri: pulumi.Input[str]
    mlflow_username: str
    mlflow_password: pulumi.Input[str]


class TrainingJob(pulumi.ComponentResource):
    """A Job (or a CronJob when `config.schedule` is set) running the training CLI."""

    def __init__(self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:TrainingJob", name, None, opts)
        cfg = args.config
        child = kube.child_options(self, opts)
        name = f"{name}-{NAME}"
        labels = kube.object_labels(NAME, "job")

        credentials = k8s.core.v1.Secret(
            f"{name}-mlflow-credentials",
            metadata={"namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data={
                "credentials": pulumi.Output.from_input(args.mlflow_password).apply(
                    lambda password: credentials_file(args.mlflow_username, password)
                )
            },
            opts=child,
        )
        account = kube.service_account(f"{name}-sa", NAME, args.namespace, labels, child)
        job_spec: k8s.batch.v1.JobSpecArgsDict = {
            "backoff_limit": 2,
            "active_deadline_seconds": cfg.active_deadline_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": kube.pod_spec(
                    [
                        {
                            "name": NAME,
                            "image": args.image,
                            "image_pull_policy": "IfNotPresent",
                            "args": list(cfg.args),
                            "env": [
                                {"name": "MLFLOW_TRACKING_URI", "value": args.tracking_uri},
                                # Who the training CLI records in the model's audit trail.
                                {"name": "TRAINING_ACTOR", "value": args.mlflow_username},
                                {"name": "HOME", "value": kube.TMP_MOUNT},
                                {"name": "TMPDIR", "value": kube.TMP_MOUNT},
                            ],
                            "resources": kube.resources(cfg.resources),
                            "security_context": kube.container_security_context(),
                            "volume_mounts": [
                                kube.tmp_mount(),
                                {"name": "mlflow-credentials", "mount_path": CREDENTIALS_DIR, "read_only": True},
                            ],
                        }
                    ],
                    [
                        kube.tmp_volume(cfg.resources.ephemeral_storage_limit),
                        kube.secret_volume("mlflow-credentials", credentials.metadata.name),
                    ],
                    restart_policy="Never",
                    service_account=account.metadata.name,
                ),
            },
        }
        if cfg.schedule:
            k8s.batch.v1.CronJob(
                f"{name}-cronjob",
                metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
                spec={
                    "schedule": cfg.schedule,
                    "time_zone": "Etc/UTC",
                    # One training at a time; a missed run is skipped rather than queued.
                    "concurrency_policy": "Forbid",
                    "starting_deadline_seconds": 3600,
                    "successful_jobs_history_limit": 3,
                    "failed_jobs_history_limit": 3,
                    "job_template": {"metadata": {"labels": labels}, "spec": job_spec},
                },
                opts=child,
            )
        else:
            k8s.batch.v1.Job(
                f"{name}-job",
                metadata={
                    "namespace": args.namespace,
                    "labels": labels,
                    # A training run is not infrastructure: `pulumi up` should not block on (or fail with) it.
                    "annotations": {"pulumi.com/skipAwait": "true"},
                },
                spec=job_spec,
                opts=child,
            )
        self.register_outputs({})
