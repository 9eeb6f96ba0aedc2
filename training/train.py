"""Fit the configured estimator, evaluate it on the held-out split, and log + register everything that reproduces it.

String feature columns are one-hot encoded inside the logged model (a scikit-learn Pipeline of a ColumnTransformer
and the estimator), so callers send the strings themselves and an unseen category encodes as all zeros.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from training import data
from training.config import TrainingConfig
from training.seal import contract, seal
from training.tables import DataError
from training.tracking import LifecycleError, code_version, pinned_requirements

MODEL_ARTIFACT = "model"
FEATURE_STATS = "feature_stats.json"
ONNX_FILE = "model.onnx"
ONNX_INPUT = "input"
INPUT_EXAMPLE_ROWS = 5

Step = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    version: str
    run_id: str
    experiment_id: str
    model_uri: str
    metrics: dict[str, float]
    data_fingerprint: str
    git_commit: str
    git_dirty: str
    onnx: str = "off"  # "off", "logged", or "skipped: <why>"
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def evaluate(y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]) -> dict[str, float]:
    mse = float(mean_squared_error(y_true, y_pred))
    return {
        "r2": float(r2_score(y_true, y_pred)),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }


def evaluate_classifier(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], proba: np.ndarray[Any, Any], classes: list[Any]
) -> tuple[dict[str, float], list[str]]:
    """Accuracy and macro F1 of the labels; log-loss and ROC AUC (one-vs-rest, macro, for more than two classes)
    of the probabilities. ROC AUC is left out, with a warning, when a class is missing from the held-out rows."""
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", labels=classes, zero_division=0)),
        "log_loss": float(log_loss(y_true, proba, labels=classes)),
    }
    warned = []
    try:
        if len(classes) == 2:
            metrics["roc_auc"] = float(roc_auc_score(y_true == classes[1], proba[:, 1]))
        else:
            metrics["roc_auc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes))
    except ValueError as e:
        warned.append(f"roc_auc not logged: {e}")
    return metrics, warned


def signature(column_types: dict[str, str] | None = None, output: Schema | None = None) -> ModelSignature:
    """Named columns in (float64 for the diabetes data), one float64 out unless `output` says otherwise: the
    contract the inference service validates requests against."""
    columns = column_types or dict.fromkeys(data.FEATURES, "double")
    return ModelSignature(
        inputs=Schema([ColSpec(kind, name) for name, kind in columns.items()]),
        outputs=output or Schema([ColSpec("double")]),
    )


def output_schema(config: TrainingConfig, classes: list[Any]) -> Schema:
    """A regressor's number; a classifier's label (`string`, `long` or `boolean`, as its classes are); or with
    `predict_proba`, one double column per class, named after it, in the estimator's class order."""
    if config.task == "regression":
        return Schema([ColSpec("double")])
    if config.predict_fn == "predict_proba":
        return Schema([ColSpec("double", str(c)) for c in classes])
    kind = "boolean" if isinstance(classes[0], bool | np.bool_) else "long" if _is_int(classes[0]) else "string"
    return Schema([ColSpec(kind)])


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def build_model(config: TrainingConfig, split: data.Split) -> BaseEstimator:
    """The configured estimator, behind a one-hot encoder of the string columns when there are any."""
    estimator = config.build_estimator()
    strings = split.string_columns
    if not strings:
        return estimator
    encode = ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore"), strings)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    return Pipeline([("encode", encode), ("model", estimator)])


def export_onnx(estimator: BaseEstimator, x_check: np.ndarray[Any, Any], out: Path) -> tuple[str, float | None]:
    """Write an ONNX graph (one input `input` of shape [N, columns], in signature order) that ONNX Runtime runs.

    The input is float64, except for tree ensembles: ONNX Runtime's tree operators compute in float32 only (a
    float64 tree graph does not load), so theirs is float32, as scikit-learn's trees read their input anyway.
    Returns ("logged", the largest absolute difference from scikit-learn on `x_check`), or ("skipped: ...", None)
    when skl2onnx has no converter for the estimator.
    """
    try:
        from onnx.reference import ReferenceEvaluator
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    except ImportError as e:
        return f"skipped: {e.name} is not installed", None
    width = x_check.shape[1]
    try:
        model = convert_sklearn(estimator, initial_types=[(ONNX_INPUT, DoubleTensorType([None, width]))])
        dtype: Any = np.float64
        if any(node.op_type.startswith("TreeEnsemble") for node in model.graph.node):
            model = convert_sklearn(estimator, initial_types=[(ONNX_INPUT, FloatTensorType([None, width]))])
            dtype = np.float32
    except (RuntimeError, NotImplementedError) as e:
        return f"skipped: skl2onnx cannot convert {type(estimator).__name__} ({str(e).splitlines()[0]})", None
    out.write_bytes(model.SerializeToString())
    # Tree converters keep float32 thresholds and sums, so the export may differ slightly; record by how much.
    outputs: Any = ReferenceEvaluator(model).run(None, {ONNX_INPUT: x_check.astype(dtype)})
    return "logged", float(np.max(np.abs(np.ravel(outputs[0]) - estimator.predict(x_check))))


def train(
    config: TrainingConfig,
    model_name: str | None = None,
    experiment: str | None = None,
    onnx: bool = False,
    step: Step = lambda _: None,
    source: data.DataSource | None = None,
) -> TrainResult:
    """Train, evaluate, log and register one model version on `source` (the diabetes data when None). `step`
    reports progress to the caller."""
    name = model_name or config.model_name
    if source is None and config.task != "regression":
        raise DataError(f"--task {config.task} needs --data and --target: the diabetes demo data is for regression")
    if source is None:
        step("loading the diabetes data")
        split = data.load_split(config.test_size, config.seed)
    else:
        step(f"loading {source.uri}")
        split = data.load_table_split(source, config.task, config.test_size, config.seed)
    fingerprint = f"sha256:{data.fingerprint(split.x_train, split.y_train)}"
    stats = data.feature_stats(split.x_train[split.numeric_columns], dataset=split.dataset)

    encoded = f" behind a one-hot encoder of {', '.join(split.string_columns)}" if split.string_columns else ""
    step(f"fitting {config.estimator}{encoded}")
    estimator = build_model(config, split)
    try:
        estimator.fit(split.x_train, split.y_train)
    except ValueError as e:
        raise LifecycleError(f"fitting {config.estimator} on {split.dataset} failed: {e}") from e
    result_warnings: list[str] = []
    classes: list[Any] = []
    if config.task == "classification":
        classes = [c.item() if isinstance(c, np.generic) else c for c in estimator.classes_]
        metrics, result_warnings = evaluate_classifier(
            split.y_test.to_numpy(), estimator.predict(split.x_test), estimator.predict_proba(split.x_test), classes
        )
    else:
        metrics = evaluate(split.y_test.to_numpy(), estimator.predict(split.x_test))
    if not all(math.isfinite(v) for v in metrics.values()):
        raise LifecycleError(f"{config.estimator} produced non-finite held-out metrics {metrics}; nothing logged")
    model_signature = signature(split.column_types, output_schema(config, classes))

    code = code_version()
    requirements = pinned_requirements()
    mlflow.set_experiment(experiment or name)
    step("logging the run")
    with mlflow.start_run(run_name=f"{name}-{config.estimator}") as run, tempfile.TemporaryDirectory() as tmp:
        fitted = estimator.named_steps["model"] if isinstance(estimator, Pipeline) else estimator
        mlflow.log_params(
            {
                "task": config.task,
                "estimator": config.estimator,
                "config": config.source.name,
                "data.test_size": config.test_size,
                "data.seed": config.seed,
                "data.rows_train": len(split.x_train),
                "data.rows_test": len(split.x_test),
                "data.fingerprint": fingerprint,
                **({"data.target": str(split.y_train.name)} if source else {}),
                **({"data.one_hot_columns": ",".join(split.string_columns)} if split.string_columns else {}),
                **({"predict_fn": config.predict_fn} if config.task == "classification" else {}),
                **({"classes": json.dumps(classes)[:6000]} if classes else {}),
                **{f"estimator.{k}": v for k, v in fitted.get_params().items()},
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {
                "git.commit": code.commit,
                "git.dirty": code.dirty,
                # MLflow's own key, so the UI links the run to its commit.
                "mlflow.source.git.commit": code.commit,
                "data.dataset": split.dataset,
                "data.fingerprint": fingerprint,
                "training.config": str(config.source),
            }
        )
        mlflow.log_dict(stats, FEATURE_STATS)

        stats_path = Path(tmp) / FEATURE_STATS
        stats_path.write_text(json.dumps(stats))
        # Also inside the model, so whoever loads `models:/name@alias` gets its drift reference with it.
        extra_files = [str(stats_path)]
        onnx_status = "off"
        if onnx and (config.task != "regression" or split.string_columns):
            onnx_status = "skipped: the ONNX export covers regressors on numeric columns only"
            mlflow.set_tag("onnx", onnx_status)
            result_warnings.append(f"ONNX export {onnx_status}")
        elif onnx:
            step("exporting ONNX")
            onnx_path = Path(tmp) / ONNX_FILE
            onnx_status, max_error = export_onnx(estimator, split.x_test.to_numpy(dtype="float64"), onnx_path)
            mlflow.set_tag("onnx", onnx_status)
            if max_error is not None:
                extra_files.append(str(onnx_path))
                mlflow.log_metric("onnx_max_abs_error", max_error)
            else:
                result_warnings.append(f"ONNX export {onnx_status}")

        step(f"logging and registering the model as {name}")
        info = mlflow.sklearn.log_model(
            estimator,
            name=MODEL_ARTIFACT,
            registered_model_name=name,
            signature=model_signature,
            input_example=split.x_train.head(INPUT_EXAMPLE_ROWS),
            pip_requirements=requirements,
            extra_files=extra_files,
            skops_trusted_types=config.skops_trusted_types,
            pyfunc_predict_fn=config.predict_fn,
        )
    version = info.registered_model_version
    if version is None:
        raise LifecycleError(f"the model was logged to run {run.info.run_id} but not registered as {name}")
    step("recording the version's digest and contract")
    answer = getattr(estimator, config.predict_fn)(split.x_train.head(1))
    row_shape = tuple(np.asarray(answer).shape[1:])
    seal(MlflowClient(), mlflow.get_tracking_uri(), name, str(version), contract(model_signature, row_shape))
    return TrainResult(
        model_name=name,
        version=str(version),
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        model_uri=f"models:/{name}/{version}",
        metrics=metrics,
        data_fingerprint=fingerprint,
        git_commit=code.commit,
        git_dirty=code.dirty,
        onnx=onnx_status,
        warnings=result_warnings,
    )
