"""The training workload: when each stack runs it."""

from __future__ import annotations

import configparser

from tests.infra.harness import Recording
from tests.infra.k8s import of_kind
from tests.infra.workload_support import (
    bootstrap_users_secret,
    manifests,
    secret_data,
)

# -------------------------------------------------------------------------------------------- training


def test_training_runs_once_in_dev_weekly_in_staging_and_not_in_prod(recording: Recording) -> None:
    ms = manifests(recording)
    jobs, crons = of_kind(ms, "Job", "training"), of_kind(ms, "CronJob", "training")
    expected = {"dev": (1, 0), "staging": (0, 1), "prod": (0, 0)}[recording.stack]
    assert (len(jobs), len(crons)) == expected
    if crons:
        assert crons[0]["spec"]["schedule"] == recording.config["platform:trainingJob.schedule"]
        assert crons[0]["spec"]["concurrencyPolicy"] == "Forbid"
    for workload in jobs + crons:
        template = workload["spec"]["jobTemplate"]["spec"]["template"] if crons else workload["spec"]["template"]
        (c,) = template["spec"]["containers"]
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
        # dev's one-off run seeds the empty registry; staging trains on a schedule, promotion stays manual.
        assert c["args"] == (["seed"] if recording.stack == "dev" else ["train"])
        # Both work on the model the inference service serves.
        assert (env["TRAINING_MODEL_NAME"], env["TRAINING_MODEL_ALIAS"]) == ("linear_regression", "production")
        # MLflow's client reads ~/.mlflow/credentials; HOME=/tmp and the Secret is mounted at /tmp/.mlflow.
        assert env["HOME"] == "/tmp"
        (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp/.mlflow"]
        (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == mount["name"]]
        credentials = configparser.ConfigParser()
        credentials.read_string(secret_data(recording, "training", volume["secret"]["secretName"])["credentials"])
        assert dict(credentials["mlflow"]) == {
            "mlflow_tracking_username": "trainer",
            "mlflow_tracking_password": bootstrap_users_secret(recording)["trainer"],
        }
