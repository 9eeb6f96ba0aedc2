"""The two predict paths for a validated float64 matrix in the signature's column order.

For the sklearn flavor the estimator predicts on it directly (microseconds); any other flavor goes through pyfunc
with a DataFrame typed per the signature (milliseconds, with MLflow's schema enforcement). The loader
(service/core/loader.py) checks at load time that both paths agree on the model's input example before it
trusts the fast one.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np

from service.core.outputs import as_rows
from service.core.schema import InputSchema
from service.core.validation import Matrix

_PANDAS_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "datetime": "datetime64[ns]",
    "binary": "object",
}


class Predictor(Protocol):
    def predict(self, rows: Matrix) -> np.ndarray[Any, Any]: ...


class NativePredictor:
    """An sklearn estimator given numpy rows; columns follow `feature_names_in_` when the estimator has it.

    Linear models skip sklearn's predict and compute their product directly.
    """

    def __init__(self, estimator: Any, schema: InputSchema) -> None:
        # Fitted on a DataFrame and given a bare array in the same column order, on purpose: sklearn's
        # warning about it would be logged on every request.
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        self.estimator = estimator
        fitted = getattr(estimator, "feature_names_in_", None)
        self.order: list[int] | None = None
        if fitted is not None:
            fitted = [str(n) for n in fitted]
            if sorted(fitted) != sorted(schema.names):
                raise ValueError(f"the estimator was fitted on {fitted}, the signature names {list(schema.names)}")
            if fitted != list(schema.names):
                self.order = [schema.names.index(n) for n in fitted]

        self.linear = _linear_terms(estimator)

    def predict(self, rows: Matrix) -> np.ndarray[Any, Any]:
        if self.order is not None:
            rows = rows[:, self.order]
        if self.linear is not None:
            coef, intercept = self.linear
            out: np.ndarray[Any, Any] = rows @ coef + intercept
            return out
        return np.asarray(self.estimator.predict(rows))


def _linear_terms(estimator: Any) -> tuple[np.ndarray[Any, Any], Any] | None:
    """`(coef, intercept)` when the estimator predicts `X @ coef + intercept` (sklearn's linear models).

    sklearn's own predict spends ~100 µs per call validating its input (the service has validated it already)
    around a ~2 µs product; the product itself is the same one sklearn computes.
    """
    try:
        from sklearn.linear_model._base import LinearModel
    except ImportError:
        return None
    if (
        not isinstance(estimator, LinearModel)
        or type(estimator)._decision_function is not LinearModel._decision_function
    ):
        return None
    coef = np.asarray(estimator.coef_)
    return (coef if coef.ndim == 1 else coef.T), estimator.intercept_


class PyfuncPredictor:
    """Any MLflow model, through `PyFuncModel.predict` on a DataFrame typed per the signature."""

    def __init__(self, model: Any, schema: InputSchema) -> None:
        self.model = model
        self.schema = schema

    def predict(self, rows: Matrix, params: dict[str, Any] | None = None) -> np.ndarray[Any, Any]:
        """A tensor's batch goes in as the array it is; params only when there are some (a model whose
        signature declares none gets none)."""
        data = rows if self.schema.tensor is not None else self.frame(rows)
        out = self.model.predict(data) if params is None else self.model.predict(data, params=params)
        return as_rows(out)

    def frame(self, rows: Matrix) -> Any:
        import pandas as pd

        frame = pd.DataFrame(rows, columns=list(self.schema.names), copy=False)
        if not self.schema.all_float or any(c.type == "float" for c in self.schema.columns):
            frame = frame.astype({c.name: _PANDAS_DTYPES[c.type] for c in self.schema.columns})
        return frame


def output_kind(out: np.ndarray[Any, Any]) -> str | None:
    """What one output value is, by the model's own answer: "number", "string" (a classifier's labels),
    "boolean" or "record" (a DataFrame's row); None for anything else (mixed or nested objects), not served."""
    kind = out.dtype.kind
    if kind in "iuf":
        return "number"
    if kind == "b":
        return "boolean"
    if kind in "US":
        return "string"
    if kind == "O":
        values = out.ravel().tolist()
        for name, types in (("string", str), ("boolean", bool), ("record", dict)):
            if all(type(v) is types for v in values):
                return name
        if all(type(v) in (int, float) for v in values):
            return "number"
    return None
