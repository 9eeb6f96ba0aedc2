"""Classifiers through the lifecycle CLI against the real MLflow server: a string-label iris classifier with a
one-hot encoded string column is trained from a CSV, registered with a signature the inference service serves,
gated on classification metrics (a worse model refused, a better one promoted) and rolled back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from local.servers import MlflowServer
from service.core.loader import load_version
from service.core.registry import ModelRegistryClient
from service.core.trust import TrustPolicy
from tests.support.training import Trained, last_line, point_at, register, run_cli, train_cli
from training.config import GateConfig, load_config
from training.registry import HISTORY_TAG, gate_verdict
from training.seal import CONTRACT_TAG

CLASSES = ["setosa", "versicolor", "virginica"]
INPUTS = [
    {"name": "sepal_length", "type": "double"},
    {"name": "sepal_width", "type": "double"},
    {"name": "petal_length", "type": "double"},
    {"name": "petal_width", "type": "double"},
    {"name": "petal_size", "type": "string"},
]
SETOSA_ROW = [5.1, 3.5, 1.4, 0.2, "small"]
DUMMY = "model_name: unused\ntask: classification\nestimator: {class: DummyClassifier, params: {strategy: prior}}\n"
PROBA = "model_name: unused\ntask: classification\nestimator: {class: LogisticRegression, predict: predict_proba}\n"


@pytest.fixture(scope="module")
def classifiers(
    mlflow_server: MlflowServer, iris_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Trained]]:
    """`good` (the default classification config), `worse` (DummyClassifier) and `proba` (LogisticRegression
    answering predict_proba), each trained once from the iris CSV through `train --data --target --task`."""
    configs = tmp_path_factory.mktemp("clf-configs")
    (configs / "dummy.yaml").write_text(DUMMY)
    (configs / "proba.yaml").write_text(PROBA)
    data = ["--data", str(iris_csv), "--target", "species", "--task", "classification"]
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, mlflow_server)
        suffix = uuid.uuid4().hex[:8]
        yield {
            "good": train_cli([*data, "--model-name", f"clf-good-{suffix}"]),
            "worse": train_cli([*data, "--model-name", f"clf-worse-{suffix}", "-c", str(configs / "dummy.yaml")]),
            "proba": train_cli([*data, "--model-name", f"clf-proba-{suffix}", "-c", str(configs / "proba.yaml")]),
        }


def test_classification_gates_state_their_direction() -> None:
    """Accuracy, F1 and ROC AUC are better higher, log-loss lower; a gate compares each its own way."""
    for metric in ("accuracy", "f1_macro", "roc_auc"):
        assert not GateConfig(metric=metric).lower_is_better
        assert gate_verdict(GateConfig(metric=metric), "2", 0.8, "1", 0.9).passed is False
        assert gate_verdict(GateConfig(metric=metric, tolerance=0.2), "2", 0.8, "1", 0.9).passed is True
    assert GateConfig(metric="log_loss").lower_is_better
    assert gate_verdict(GateConfig(metric="log_loss"), "2", 0.5, "1", 0.4).passed is False
    assert gate_verdict(GateConfig(metric="log_loss"), "2", 0.3, "1", 0.4).passed is True


def test_classifier_run_logs_classification_metrics_and_one_hot_pipeline(
    classifiers: dict[str, Trained], mlflow_tracking: str
) -> None:
    good = classifiers["good"]
    run = MlflowClient().get_run(good.run_id)
    assert set(run.data.metrics) >= {"accuracy", "f1_macro", "log_loss", "roc_auc"}
    assert run.data.metrics["accuracy"] > 0.85 and run.data.metrics["roc_auc"] > 0.9
    assert 0 < run.data.metrics["log_loss"] < 1
    params = run.data.params
    assert params["task"] == "classification" and params["estimator"] == "LogisticRegression"
    assert params["data.target"] == "species" and params["data.one_hot_columns"] == "petal_size"
    assert json.loads(params["classes"]) == CLASSES
    assert run.data.tags["data.dataset"].endswith("iris.csv")
    # Drift statistics cover the numeric features only, as the service's monitor does.
    stats = mlflow.artifacts.load_dict(f"runs:/{good.run_id}/feature_stats.json")
    assert list(stats["features"]) == [c["name"] for c in INPUTS if c["type"] == "double"]


def test_string_labels_are_logged_with_a_signature_and_served_as_class_names(
    classifiers: dict[str, Trained], mlflow_tracking: str, tmp_path: Path
) -> None:
    good = classifiers["good"]
    info = mlflow.models.get_model_info(f"models:/{good.name}/{good.version}")
    assert info.signature is not None
    assert [{"name": c.name, "type": c.type.name} for c in info.signature.inputs.inputs] == INPUTS
    assert [c.type.name for c in info.signature.outputs.inputs] == ["string"]
    contract = json.loads(MlflowClient().get_model_version(good.name, good.version).tags[CONTRACT_TAG])
    assert contract == {"inputs": INPUTS, "output_shape": [], "output_type": "string"}

    # The service loads it under its strictest settings and answers a class name; an unseen category is no error.
    registry = ModelRegistryClient(mlflow_tracking)
    models = tmp_path / "models"
    models.mkdir()
    loaded = load_version(registry, registry.resolve_version(good.name, good.version), "production", models, None,
                          TrustPolicy())  # fmt: skip
    assert loaded.output_kind == "string"
    rows = np.array([SETOSA_ROW, [6.5, 3.0, 5.5, 1.8, "never-seen"]], dtype=object)
    answer = loaded.predictor.predict(rows).tolist()
    assert answer[0] == "setosa" and answer[1] in CLASSES


def test_predict_proba_is_logged_as_the_pyfunc_predict_fn_with_one_column_per_class(
    classifiers: dict[str, Trained], mlflow_tracking: str, tmp_path: Path
) -> None:
    """The service serves `predict_proba` when the sklearn flavor names it as `predict_fn` (MLflow's
    `pyfunc_predict_fn`, mlflow/sklearn/__init__.py@v3.17.2; service/core/trust.py PREDICT_FNS)."""
    proba = classifiers["proba"]
    uri = f"models:/{proba.name}/{proba.version}"
    info = mlflow.models.get_model_info(uri)
    assert info.flavors["python_function"]["predict_fn"] == "predict_proba"
    assert info.signature is not None
    assert [(c.name, c.type.name) for c in info.signature.outputs.inputs] == [(c, "double") for c in CLASSES]
    contract = json.loads(MlflowClient().get_model_version(proba.name, proba.version).tags[CONTRACT_TAG])
    assert contract == {"inputs": INPUTS, "output_shape": [3]}

    registry = ModelRegistryClient(mlflow_tracking)
    models = tmp_path / "models"
    models.mkdir()
    loaded = load_version(registry, registry.resolve_version(proba.name, proba.version), "production", models, None,
                          TrustPolicy())  # fmt: skip
    assert loaded.output_shape == (3,)
    answer = np.asarray(loaded.predictor.predict(np.array([SETOSA_ROW], dtype=object)), dtype="float64")
    assert answer.shape == (1, 3) and answer.sum() == pytest.approx(1.0) and int(answer.argmax()) == 0


def history(name: str) -> list[dict[str, object]]:
    return list(json.loads(MlflowClient().get_registered_model(name).tags[HISTORY_TAG.format(alias="production")]))


def test_gate_promotes_a_better_classifier_refuses_a_worse_one_and_rollback_returns(
    classifiers: dict[str, Trained], model_name: str
) -> None:
    good, worse = classifiers["good"], classifiers["worse"]
    v1, v2, v3 = register(model_name, worse, good, worse)

    # No --config or --metric: the gate follows the versions' task (the classification config's f1_macro).
    run_cli(["promote", v1, "--model-name", model_name])
    better = run_cli(["promote", v2, "--model-name", model_name])
    assert last_line(better) == f"promoted {model_name} version {v2} to @production (previous {v1})"
    assert "f1_macro" in better.stdout and "higher is better" in better.stdout

    refused = run_cli(["promote", v3, "--model-name", model_name], expect=3)
    assert "gate refused" in refused.stderr
    assert f"f1_macro={worse.metrics['f1_macro']:.4f}" in refused.stderr
    assert f"f1_macro={good.metrics['f1_macro']:.4f}" in refused.stderr
    by_log_loss = run_cli(["promote", v3, "--model-name", model_name, "--metric", "log_loss"], expect=3)
    assert "lower is better" in by_log_loss.stderr
    assert f"log_loss={worse.metrics['log_loss']:.4f}" in by_log_loss.stderr
    assert str(MlflowClient().get_model_version_by_alias(model_name, "production").version) == v2

    entries = history(model_name)
    assert [e["version"] for e in entries] == [v1, v2]
    assert entries[1]["gate"] == {
        "metric": "f1_macro", "challenger": good.metrics["f1_macro"], "champion": worse.metrics["f1_macro"],
        "passed": True,
    }  # fmt: skip
    rolled = run_cli(["rollback", "--model-name", model_name])
    assert last_line(rolled) == f"rolled back {model_name} @production from version {v2} to version {v1}"
    assert str(MlflowClient().get_model_version_by_alias(model_name, "production").version) == v1


def test_a_classification_config_rejects_regression_metrics_and_regressors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("task: classification\ngate: {metric: rmse}\n")
    with pytest.raises(ValueError, match=r"gate.metric must be one of accuracy, f1_macro, log_loss, roc_auc"):
        load_config(path)
    path.write_text("task: classification\nestimator: {class: Ridge}\n")
    with pytest.raises(ValueError, match="estimator.class Ridge is a regressor, but task is classification"):
        load_config(path)
    path.write_text("estimator: {class: LogisticRegression, predict: predict_proba}\n")
    with pytest.raises(ValueError, match="LogisticRegression is a classifier, but task is regression"):
        load_config(path)
    assert load_config(task="classification").gate == GateConfig(metric="f1_macro")
