"""Models logged, registered and sealed as the training CLI does it, for tests that serve them.

Models are logged like the training CLI logs them: sklearn flavor (skops), a signature of named float64 columns,
an input example, then sealed with the CLI's own `training.seal.seal` (digest and contract tags).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression

from service.core.loader import LoadedModel, open_model, validate
from service.core.refs import VersionRef
from service.core.trust import TrustPolicy
from training.seal import contract, seal

# Pinned rather than inferred: inference imports the model in a subprocess, seconds per model logged.
PIP_REQUIREMENTS = ["scikit-learn==1.9.1"]


class LinearPythonModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A pyfunc-only model (no sklearn flavor): a linear model's coefficients applied by hand."""

    def __init__(self, coef: list[float], intercept: float, columns: list[str], broken: bool = False) -> None:
        self.coef = np.asarray(coef)
        self.intercept = intercept
        self.columns = columns
        self.broken = broken

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        out = model_input[self.columns].to_numpy(dtype=np.float64) @ self.coef + self.intercept
        return np.full_like(out, np.nan) if self.broken else out


def save_sklearn(model: Any, path: Path, features: pd.DataFrame, *, example: bool = True, **options: Any) -> Path:
    """Save `model` as the training CLI logs it (skops, signature, 3-row input example unless `example` is
    False), without registering."""
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(features, model.predict(features)),
        input_example=features.head(3) if example else None,
        pip_requirements=PIP_REQUIREMENTS,
        **options,
    )
    return path


def save_pyfunc(python_model: LinearPythonModel, path: Path, features: pd.DataFrame) -> Path:
    """Save a pyfunc-only model (no sklearn flavor) with the signature and input example the CLI would log."""
    mlflow.pyfunc.save_model(
        str(path),
        python_model=python_model,
        signature=infer_signature(features, np.zeros(len(features))),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
    )
    return path


# A pyfunc model is a cloudpickle: tests that open one on purpose allow it.
PICKLE_ALLOWED = TrustPolicy(allow_pickle=True)


def opened(
    path: Path, version: str = "1", serving: LoadedModel | None = None, policy: TrustPolicy | None = None
) -> LoadedModel:
    """The model saved at `path`, opened and validated as the service loads version `version` of model "m"
    (against `serving`, the version it would replace)."""
    model, probe = open_model(path, VersionRef("m", version, None), "production", time.monotonic(), policy)
    return replace(model, output_shape=validate(model, probe, serving))


def loaded_linear_model(directory: Path, diabetes: tuple[pd.DataFrame, pd.Series], ref: VersionRef) -> LoadedModel:
    """The diabetes LinearRegression saved under `directory`, loaded and vetted as the service loads a version
    (`ref`: its VersionRef), for tests that drive the data plane or the fast lane without a registry."""
    features, target = diabetes
    return loaded_sklearn_model(directory, LinearRegression().fit(features, target), features, ref)


def loaded_sklearn_model(directory: Path, estimator: Any, features: pd.DataFrame, ref: VersionRef) -> LoadedModel:
    """A fitted scikit-learn estimator saved under `directory` as the CLI logs it, loaded and vetted as the service
    loads a version (a classifier gets its `output=proba` predictor)."""
    path = save_sklearn(estimator, directory / "model", features)
    loaded, probe = open_model(path, ref, "production", time.monotonic())
    return replace(loaded, output_shape=validate(loaded, probe, None))


def register_sklearn(
    name: str,
    model: Any,
    features: pd.DataFrame,
    alias: str | None = "production",
    extra_files: list[str] | None = None,
    sealed: bool = True,
) -> str:
    """Log and register `model` as the training CLI does; point `alias` at the new version; return it."""
    return register(
        name,
        model,
        features,
        model.predict(features),
        input_example=True,
        alias=alias,
        sealed=sealed,
        extra_files=extra_files,
    )


def register_pyfunc(
    name: str, python_model: LinearPythonModel, features: pd.DataFrame, alias: str | None = "production"
) -> str:
    signature = infer_signature(features, np.zeros(len(features)))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            registered_model_name=name,
            signature=signature,
            input_example=features.head(3),
            pip_requirements=PIP_REQUIREMENTS,
        )
    seal_version(name, info.registered_model_version, signature, np.zeros(1))
    return _aliased(name, info.registered_model_version, alias)


def seal_version(name: str, version: Any, signature: Any, one_row_output: Any) -> None:
    terms = contract(signature, tuple(np.asarray(one_row_output).shape[1:]))
    seal(MlflowClient(), mlflow.get_tracking_uri(), name, str(version), terms)


def _aliased(name: str, version: Any, alias: str | None) -> str:
    if alias:
        MlflowClient().set_registered_model_alias(name, alias, str(version))
    return str(version)


def register(
    name: str,
    model: Any,
    features: pd.DataFrame,
    outputs: Any,
    *,
    input_example: bool = False,
    alias: str | None = "production",
    sealed: bool = True,
    **options: Any,
) -> str:
    """Log, register, seal and alias `model` as a team would (signature from its own outputs); the version."""
    signature = infer_signature(features, outputs)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            signature=signature,
            input_example=features.head(3) if input_example else None,
            pip_requirements=PIP_REQUIREMENTS,
            **options,
        )
    version = str(info.registered_model_version)
    if sealed:
        seal_version(name, version, signature, np.asarray(outputs)[:1])
    return _aliased(name, version, alias)


def mlflow_answer(name: str, version: str, frame: pd.DataFrame) -> list[Any]:
    """What `mlflow models serve -m models:/<name>/<version>` answers on /invocations for `frame`."""
    result = mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(frame)
    return list(np.asarray(result).tolist())
