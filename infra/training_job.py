"""The optional in-cluster training run: the training image against the in-cluster MLflow, once or on a schedule.

`train` registers a new model version and never moves the alias (promotion is the gated CLI step). `seed` (dev's
one-off run) gives a new stack's empty registry its first model: it trains and promotes only when no version
carries the alias the service serves, waiting for the server and its `trainer` user first (training/cli.py). Both
work on the model the inference service serves (TRAINING_MODEL_NAME / TRAINING_MODEL_ALIAS). It reaches only
MLflow, which stores the artifacts, so the pod needs no AWS access.

A one-off Job is awaited by `pulumi up` (its failure fails the `up`, with its pods' events in the output); the
caller makes it wait for the MLflow Deployment and the user bootstrap Job (infra/workloads.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import kube
from infra.config import TrainingJobConfig
from infra.mlflow_auth import credentials_file

NAME = "training"
LABELS = kube.pod_labels(NAME, "job")
# MLflow clients read ~/.mlflow/credentials; HOME is the writable /tmp, and the file is mounted into it.
CREDENTIALS_DIR = f"{kube.TMP_MOUNT}/.mlflow"
# Pulumi's await of a one-off Job outlasts the Job's own deadline, so an overrun is reported as the Job's
# DeadlineExceeded (with its pods' events), not as Pulumi's bare timeout.
AWAIT_MARGIN_SECONDS = 120


@dataclass(frozen=True)
class TrainingJobArgs:
    config: TrainingJobConfig
    namespace: str
    image: pulumi.Input[str]
    tracking_uri: pulumi.Input[str]
    mlflow_username: str
    mlflow_password: pulumi.Input[str]
    # The registered model and alias the inference service serves.
    model_name: str
    model_alias: str


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
                                {"name": "TRAINING_MODEL_NAME", "value": args.model_name},
                                {"name": "TRAINING_MODEL_ALIAS", "value": args.model_alias},
                                *kube.tmp_env(),
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
            # Awaited: a seed that cannot train or promote must fail the `up` that a new stack depends on.
            timeout = f"{cfg.active_deadline_seconds + AWAIT_MARGIN_SECONDS}s"
            k8s.batch.v1.Job(
                f"{name}-job",
                metadata={"namespace": args.namespace, "labels": labels, "annotations": kube.RERUN_UNLESS_COMPLETE},
                spec=job_spec,
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout))
                ),
            )
        self.register_outputs({})
