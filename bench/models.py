"""The models the benchmark needs besides those the training CLI registers.

- `export_for_peers`: the registered linear model as the peers load it: the MLflow model directory (MLServer's
  MLflow runtime) and the bare estimator as a joblib file (MLServer's scikit-learn runtime, BentoML, LitServe).
- `register_classifier`: the pyfunc scenario, a scikit-learn LogisticRegression on iris with string class
  labels, logged as a team would (`mlflow.sklearn.log_model` with an inferred signature) and aliased production.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def export_for_peers(mlflow_url: str, model_uri: str, out_dir: Path) -> tuple[Path, Path]:
    """(joblib file, MLflow model directory) of `model_uri`, downloaded from the registry at `mlflow_url`."""
    import joblib
    import mlflow

    mlflow.set_tracking_uri(mlflow_url)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_dir = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(out_dir / "mlflow")))
    estimator = strip_feature_names(mlflow.sklearn.load_model(str(model_dir)))
    target = out_dir / "model.joblib"
    joblib.dump(estimator, target)
    return target, model_dir


def strip_feature_names(estimator: Any) -> Any:
    """A copy that takes a bare float matrix without a warning per call (scikit-learn warns when an estimator
    fitted on a DataFrame gets an array): the peers predict from matrices, as the service's native path does.
    The coefficients are untouched, so every server computes the same numbers."""
    clone = copy.deepcopy(estimator)
    if hasattr(clone, "feature_names_in_"):
        del clone.feature_names_in_
    return clone


def register_classifier(mlflow_url: str, name: str) -> str:
    """Log and register the string-label iris classifier, alias it production; returns its version."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris(as_frame=True)
    features = iris.data.set_axis(list(IRIS_COLUMNS), axis=1)
    labels = iris.target.map(dict(enumerate(iris.target_names))).astype(str)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    mlflow.set_tracking_uri(mlflow_url)
    mlflow.set_experiment("bench")
    with mlflow.start_run(run_name="bench-iris-classifier"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(name, "production", version)
    return version


def iris_rows(n: int) -> list[list[float]]:
    from sklearn.datasets import load_iris

    data = load_iris().data
    return [[float(v) for v in data[i % len(data)]] for i in range(n)]


def write_body(path: Path, payload: dict[str, Any]) -> Path:
    path.write_text(json.dumps(payload))
    return path
