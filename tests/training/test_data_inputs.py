"""`train --data --target --task` on a team's own table: CSV, Parquet and s3:// inputs against the real MLflow
server and SeaweedFS S3, and every bad input refused before anything is logged, with the flag at fault named."""

from __future__ import annotations

from pathlib import Path

import boto3
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_diabetes

from local.demo_models import iris_frame
from local.servers import S3Server
from tests.support.training import run_cli, train_cli
from training import data
from training.config import DEFAULT_CONFIG

DIABETES_FINGERPRINT = "a3a2fe09b5e85810ff842ed1cec6721ab2c62a489345091d42e72729f3d52186"


def diabetes_with_a_string_column() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True).frame
    frame["sex"] = np.where(frame["sex"] > 0, "m", "f")
    return frame


def test_parquet_regression_one_hot_encodes_its_string_column(
    mlflow_tracking: str, model_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "diabetes.parquet"
    diabetes_with_a_string_column().to_parquet(path)

    trained = train_cli(["--data", str(path), "--target", "target", "--model-name", model_name])

    run = MlflowClient().get_run(trained.run_id)
    assert run.data.params["task"] == "regression" and run.data.params["data.one_hot_columns"] == "sex"
    assert 0.3 < run.data.metrics["r2"] < 0.7
    info = mlflow.models.get_model_info(f"models:/{model_name}/{trained.version}")
    assert info.signature is not None
    types = {c.name: c.type.name for c in info.signature.inputs.inputs}
    assert types["sex"] == "string" and types["bmi"] == "double" and "target" not in types
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{trained.version}")
    rows = diabetes_with_a_string_column().drop(columns="target").head(3)
    assert np.isfinite(np.asarray(model.predict(rows), dtype="float64")).all()


def test_s3_uri_is_read_through_the_configured_endpoint(
    mlflow_tracking: str, model_name: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """boto3 reads `AWS_ENDPOINT_URL` itself (botocore 1.31+, "Service-specific endpoints" in the AWS SDKs and
    Tools reference guide); MLflow's S3 store reads `MLFLOW_S3_ENDPOINT_URL` (mlflow/store/artifact/s3_artifact_repo.py
    @v3.17.2). The training CLI honours either."""
    local = tmp_path / "iris.csv"
    iris_frame().to_csv(local, index=False)
    key = f"tables/{model_name}/iris.csv"
    boto3.client(
        "s3", endpoint_url=s3_server.endpoint, aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key, region_name="us-east-1",
    ).upload_file(str(local), s3_server.bucket, key)  # fmt: skip
    for var, value in {**s3_server.client_env(), "AWS_ENDPOINT_URL": s3_server.endpoint}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    uri = f"s3://{s3_server.bucket}/{key}"

    trained = train_cli(["--data", uri, "--target", "species", "--task", "classification", "--model-name", model_name])

    run = MlflowClient().get_run(trained.run_id)
    assert run.data.tags["data.dataset"] == uri
    # The same bytes as the local file: the same split and the same fingerprint.
    split = data.load_table_split(data.DataSource(str(local), "species"), "classification", 0.2, 42)
    assert trained.data_fingerprint == f"sha256:{data.fingerprint(split.x_train, split.y_train)}"

    # MLFLOW_S3_ENDPOINT_URL alone (what the local edition and the cluster's MLflow clients set) works as well.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_server.endpoint)
    missing = run_cli(["train", "--data", f"s3://{s3_server.bucket}/tables/none.csv", "--target", "species",
                       "--task", "classification", "--model-name", model_name], expect=1)  # fmt: skip
    assert f"--data s3://{s3_server.bucket}/tables/none.csv: no such object" in missing.stderr


def write(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    iris = write(tmp / "iris.csv", iris_frame())
    one_class = write(tmp / "one.csv", iris_frame().assign(species="setosa"))
    header_only = write(tmp / "header.csv", iris_frame().head(0))
    (tmp / "zero.csv").write_bytes(b"")
    gaps = iris_frame()
    gaps.loc[3, "sepal_width"] = np.nan
    with_gaps = write(tmp / "gaps.csv", gaps)
    (tmp / "table.txt").write_text("a,b\n1,2\n")
    clf = ["--task", "classification"]
    return [
        (["--data", str(tmp / "absent.csv"), "--target", "species"], f"--data {tmp / 'absent.csv'}: no such file"),
        (["--data", iris, "--target", "kind", *clf], "--target 'kind' is not a column of"),
        (["--data", iris, "--target", "species"], "--target 'species' is not numeric (e.g. 'setosa')"),
        (["--data", iris, "--target", "sepal_length", *clf], "--target 'sepal_length' holds non-integer numbers"),
        (["--data", one_class, "--target", "species", *clf], "--target 'species' has one class only ('setosa')"),
        (["--data", header_only, "--target", "species", *clf], f"--data {header_only} has no rows"),
        (["--data", str(tmp / "zero.csv"), "--target", "species", *clf], "is empty: no header, no rows"),
        (["--data", with_gaps, "--target", "species", *clf], "column 'sepal_width' is empty in 1 rows"),
        (["--data", str(tmp / "table.txt"), "--target", "b"], "cannot tell the format from the name"),
        (["--data", iris, "--target", "species", "--task", "ranking"], "--task must be one of regression"),
        (["--data", iris, "--target", "species", *clf, "-c", str(DEFAULT_CONFIG)],
         f"--task classification does not match {DEFAULT_CONFIG}, a regression config"),
    ]  # fmt: skip


def test_bad_inputs_are_refused_naming_the_flag_and_nothing_is_registered(
    mlflow_tracking: str, model_name: str, tmp_path: Path
) -> None:
    for args, message in bad_inputs(tmp_path):
        result = run_cli(["train", "--model-name", model_name, *args], expect=1)
        assert message in result.stderr, (args, result.stderr)
    assert not MlflowClient().search_registered_models(f"name = '{model_name}'")


def test_data_and_target_go_together(mlflow_tracking: str, tmp_path: Path) -> None:
    iris = write(tmp_path / "iris.csv", iris_frame())
    assert "--target" in run_cli(["train", "--data", iris], expect=2).stderr
    assert "--target" in run_cli(["train", "--target", "species"], expect=2).stderr
    no_data = run_cli(["train", "--task", "classification"], expect=1)
    assert "--task classification needs --data and --target" in no_data.stderr


def test_fingerprint_of_mixed_columns_is_sensitive_to_strings_and_keeps_numeric_data_unchanged() -> None:
    frame = iris_frame()
    x, y = frame.drop(columns="species"), frame["species"]
    first = data.fingerprint(x, y)
    assert data.fingerprint(x.copy(), y.copy()) == first
    changed = x.copy()
    changed.loc[0, "petal_size"] = "smalL"
    assert data.fingerprint(changed, y) != first
    # Splitting a string differently changes the bytes hashed ("ab" + "c" vs "a" + "bc").
    a = pd.DataFrame({"s": ["ab", "c"], "n": [1.0, 2.0]})
    b = pd.DataFrame({"s": ["a", "bc"], "n": [1.0, 2.0]})
    assert data.fingerprint(a, pd.Series([0, 1], name="y")) != data.fingerprint(b, pd.Series([0, 1], name="y"))
    # The diabetes data keeps the fingerprint recorded on versions trained before tables were supported.
    split = data.load_split(0.2, 42)
    assert data.fingerprint(split.x_train, split.y_train) == DIABETES_FINGERPRINT
