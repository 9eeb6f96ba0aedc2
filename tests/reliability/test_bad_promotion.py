"""Scenario 4: bad promotions. The alias moved to a version whose artifact is corrupt, to one whose signature is
incompatible and to one that predicts NaN: each is rejected, the serving version keeps answering every request,
and /health and the metrics show the rejection. Moving the alias back to the good version is then a no-op."""

from __future__ import annotations

import copy
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

from local import servers
from tests.reliability.load import Load, describe
from tests.support.figures import Figures
from tests.support.gunicorn import Service, gunicorn, tracking
from tests.support.models import register_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

NAME = "rel_bad_promotion_lr"


def corrupt_artifact(s3: servers.S3Server, mlflow_url: str, version: str) -> str:
    """Overwrite the version's pickled model in the bucket (behind MLflow's back); returns the object key."""
    uri = MlflowClient(tracking_uri=mlflow_url).get_model_version_download_uri(NAME, version)
    # --artifacts-destination s3://<bucket>/artifacts: mlflow-artifacts:/<path> lives at artifacts/<path>.
    prefix = "artifacts/" + uri.removeprefix("mlflow-artifacts:").lstrip("/")
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name="us-east-1",
    )
    mlmodel = yaml.safe_load(client.get_object(Bucket=s3.bucket, Key=f"{prefix}/MLmodel")["Body"].read())
    key = f"{prefix}/{mlmodel['flavors']['sklearn']['pickled_model']}"
    client.head_object(Bucket=s3.bucket, Key=key)
    client.put_object(Bucket=s3.bucket, Key=key, Body=b"\x80\x05 this is not a pickle \x00" * 64)
    return key


def rejected(service: Service, version: str, workers: int = 2) -> bool:
    """Every worker has rejected `version`: the metric counts one rejection per worker, /health names it."""
    health = service.get("/health").json()
    last = health["last_rejection"] or {}
    return last.get("version") == version and service.metric("serving_model_reloads_total", result="rejected") >= (
        workers * int(version) - workers  # versions 2, 3, 4 are the bad ones: 2 workers x (version - 1)
    )


def test_corrupt_incompatible_and_nan_versions_are_rejected_while_the_old_one_serves(
    mlflow_server: servers.MlflowServer,
    s3_server: servers.S3Server,
    linear: LinearRegression,
    features: pd.DataFrame,
    target: pd.Series,
    rows: list[dict[str, float]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    nan_model = copy.deepcopy(linear)
    nan_model.coef_ = np.full_like(nan_model.coef_, np.nan)
    fewer = features.drop(columns=["s6"])
    with tracking(mlflow_server.url):
        good = register_sklearn(NAME, linear, features)
        corrupt = register_sklearn(NAME, linear, features, alias=None)
        corrupt_artifact(s3_server, mlflow_server.url, corrupt)
        incompatible = register_sklearn(NAME, LinearRegression().fit(fewer, target), fewer, alias=None)
        nan = register_sklearn(NAME, nan_model, features, alias=None)
    assert [good, corrupt, incompatible, nan] == ["1", "2", "3", "4"]

    reasons: dict[str, str] = {}
    reject_s: dict[str, float] = {}
    client = MlflowClient(tracking_uri=mlflow_server.url)
    with gunicorn(tmp_path, mlflow_server.url, NAME) as service, Load(service.url, rows, clients=8) as load:
        service.wait_workers(2)
        load.run_for(1)
        for label, version in (("corrupt", corrupt), ("incompatible_signature", incompatible), ("nan", nan)):
            client.set_registered_model_alias(NAME, "production", version)
            moved_at = load.now()
            assert load.wait_for(lambda v=version: rejected(service, v), 60), (
                f"{label} not rejected:\n{service.log_tail()}"
            )
            reject_s[label] = round(load.now() - moved_at, 2)
            reasons[label] = service.get("/health").json()["last_rejection"]["reason"]
            load.run_for(1)
        client.set_registered_model_alias(NAME, "production", good)
        load.run_for(2)
        health = service.get("/health").json()
        loaded = service.metric("serving_model_reloads_total", result="loaded")

    figures.record(
        "4_bad_promotion",
        **load.summary(),
        rejected_after_s=reject_s,
        reasons={label: reason if len(reason) < 90 else reason[:90] + "…" for label, reason in reasons.items()},
    )
    assert not load.failures(), describe(load.failures())
    assert {o.version for o in load.outcomes} == {good}, "a bad version answered"
    # The corrupted file no longer hashes to the digest recorded at registration: refused before it is opened.
    assert "not trusted: its files hash to" in reasons["corrupt"]
    assert "breaks the registered model's contract" in reasons["incompatible_signature"]
    assert "s6" in reasons["incompatible_signature"]
    assert "non-finite" in reasons["nan"]
    assert health["model"]["version"] == good
    assert loaded == 2, "the good version was loaded once per worker, and nothing else"
