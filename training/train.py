"""Fit the configured estimator, evaluate it on the held-out split, and log + register everything that reproduces it."""

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
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from training import data
from training.config import TrainingConfig
from training.seal import contract, seal
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


def signature() -> ModelSignature:
    """Named float64 columns in, one float64 out: the contract the inference service validates requests against."""
    return ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in data.FEATURES]),
        outputs=Schema([ColSpec("double")]),
    )


def export_onnx(estimator: BaseEstimator, x_check: np.ndarray[Any, Any], out: Path) -> tuple[str, float | None]:
    """Write an ONNX graph (one input `input` of shape [N, 10], columns in `FEATURES` order) that ONNX Runtime runs.

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
    width = len(data.FEATURES)
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
) -> TrainResult:
    """Train, evaluate, log and register one model version. `step` reports progress to the caller."""
    name = model_name or config.model_name
    step("loading the diabetes data")
    split = data.load_split(config.test_size, config.seed)
    fingerprint = f"sha256:{data.fingerprint(split.x_train, split.y_train)}"
    stats = data.feature_stats(split.x_train)

    step(f"fitting {config.estimator}")
    estimator = config.build_estimator()
    estimator.fit(split.x_train, split.y_train)
    metrics = evaluate(split.y_test.to_numpy(), estimator.predict(split.x_test))
    if not all(math.isfinite(v) for v in metrics.values()):
        raise LifecycleError(f"{config.estimator} produced non-finite held-out metrics {metrics}; nothing logged")

    code = code_version()
    requirements = pinned_requirements()
    mlflow.set_experiment(experiment or name)
    step("logging the run")
    with mlflow.start_run(run_name=f"{name}-{config.estimator}") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                "estimator": config.estimator,
                "config": config.source.name,
                "data.test_size": config.test_size,
                "data.seed": config.seed,
                "data.rows_train": len(split.x_train),
                "data.rows_test": len(split.x_test),
                "data.fingerprint": fingerprint,
                **{f"estimator.{k}": v for k, v in estimator.get_params().items()},
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {
                "git.commit": code.commit,
                "git.dirty": code.dirty,
                # MLflow's own key, so the UI links the run to its commit.
                "mlflow.source.git.commit": code.commit,
                "data.dataset": data.DATASET,
                "data.fingerprint": fingerprint,
                "training.config": str(config.source),
            }
        )
        mlflow.log_dict(stats, FEATURE_STATS)

        stats_path = Path(tmp) / FEATURE_STATS
        stats_path.write_text(json.dumps(stats))
        # Also inside the model, so whoever loads `models:/name@alias` gets its drift reference with it.
        extra_files = [str(stats_path)]
        onnx_status, result_warnings = "off", []
        if onnx:
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
            signature=signature(),
            input_example=split.x_train.head(INPUT_EXAMPLE_ROWS),
            pip_requirements=requirements,
            extra_files=extra_files,
            skops_trusted_types=config.skops_trusted_types,
        )
    version = info.registered_model_version
    if version is None:
        raise LifecycleError(f"the model was logged to run {run.info.run_id} but not registered as {name}")
    step("recording the version's digest and contract")
    row_shape = tuple(np.asarray(estimator.predict(split.x_train.head(1))).shape[1:])
    seal(MlflowClient(), mlflow.get_tracking_uri(), name, str(version), contract(signature(), row_shape))
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
