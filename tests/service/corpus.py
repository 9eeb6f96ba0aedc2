"""The model corpus of the formats a team registers beyond numeric columns, each trained in well under a second: a
tensor-signature regressor, a PythonModel with a params schema, one returning a multi-column DataFrame, one reading
a binary column, a text pipeline (TF-IDF + a linear classifier on a string column), a multi-output regressor and a
string-label classifier (for `output=proba`). Shared by the in-process tests and the parity tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from tests.support.models import PIP_REQUIREMENTS


class ScaledSum(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """x + y, times the `scale` param, plus `offset` when `mode` is "shift"."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        params = params or {}
        out = (model_input["x"] + model_input["y"]).to_numpy(dtype=np.float64) * float(params.get("scale", 1.0))
        return out + (sum(params.get("offsets") or []) if params.get("mode") == "shift" else 0.0)


class Verdict(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A DataFrame of three named columns per row: a label, a score and a flag."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        score = model_input["x"].to_numpy(dtype=np.float64) * 2.0
        return pd.DataFrame({"label": np.where(score > 1, "high", "low"), "score": score, "flag": (score > 0).tolist()})


class Verdict2(Verdict):
    """Verdict's output with the score column renamed: a different output type."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return super().predict(context, model_input).rename(columns={"score": "points"})


class BlobLength(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """The length of a binary column's bytes plus the first byte: it sees the bytes MLflow hands it."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        blobs = model_input["blob"].tolist()
        return np.array([float(len(b) + (b[0] if b else 0)) for b in blobs]) + model_input["x"].to_numpy()


class Mixed(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A string and a datetime column: the city's length plus the day of the month."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return (model_input["city"].str.len() + model_input["when"].dt.day).to_numpy(dtype=np.float64)


def numbers(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)})


def tensor_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 2, 3)).astype(np.float32)
    return x, x.reshape(30, -1).sum(axis=1) * 2.0


class FlatLinear(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A linear model over a (2, 3) float32 tensor per row, flattened."""

    def predict(self, context: Any, model_input: np.ndarray, params: Any = None) -> Any:
        return model_input.reshape(len(model_input), -1).astype(np.float64) @ np.arange(1.0, 7.0)


def texts() -> tuple[pd.DataFrame, pd.Series]:
    words = ["good great fine", "bad awful poor", "great good", "poor bad", "fine good", "awful bad"] * 4
    labels = ["pos", "neg", "pos", "neg", "pos", "neg"] * 4
    return pd.DataFrame({"text": words}), pd.Series(labels)


def iris_like() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    labels = np.where(frame.a + frame.b > 0.5, "setosa", np.where(frame.a > 0, "versicolor", "virginica"))
    return frame, labels


@dataclass(frozen=True)
class Saved:
    path: Path
    example: Any  # rows to ask with


def save(kind: str, path: Path) -> Saved:
    """Save corpus model `kind` under `path` (pickle for PythonModels: served with allow_pickle)."""
    req = {"pip_requirements": PIP_REQUIREMENTS}
    if kind == "tensor":
        x, _ = tensor_data()
        model = FlatLinear()
        sig = infer_signature(x, model.predict(None, x))
        mlflow.pyfunc.save_model(str(path), python_model=model, signature=sig, input_example=x[:3], **req)
        return Saved(path, x[:4])
    if kind == "params":
        frame = numbers()
        params = {"scale": 1.0, "mode": "plain", "offsets": [0.0]}
        sig = infer_signature(frame, ScaledSum().predict(None, frame), params=params)
        mlflow.pyfunc.save_model(str(path), python_model=ScaledSum(), signature=sig, input_example=frame.head(3), **req)
        return Saved(path, frame.head(4))
    if kind in ("dataframe", "dataframe2"):
        frame = numbers()
        model = Verdict() if kind == "dataframe" else Verdict2()
        sig = infer_signature(frame[["x"]], model.predict(None, frame))
        mlflow.pyfunc.save_model(
            str(path), python_model=model, signature=sig, input_example=frame[["x"]].head(3), **req
        )
        return Saved(path, frame[["x"]].head(4))
    if kind == "binary":
        frame = pd.DataFrame({"blob": [b"abc", b"\x00\xff", b"hello", b"z"], "x": [1.0, 2.0, 3.0, 4.0]})
        sig = infer_signature(frame, BlobLength().predict(None, frame))
        mlflow.pyfunc.save_model(
            str(path), python_model=BlobLength(), signature=sig, input_example=frame.head(3), **req
        )
        return Saved(path, frame)
    if kind == "mixed":
        frame = pd.DataFrame({"city": ["paris", "lyon", "nice"], "when": pd.to_datetime(["2026-01-02"] * 3)})
        sig = infer_signature(frame, Mixed().predict(None, frame))
        mlflow.pyfunc.save_model(str(path), python_model=Mixed(), signature=sig, input_example=frame, **req)
        return Saved(path, frame)
    if kind == "text":
        frame, labels = texts()
        # A column name, not a list: the vectorizer gets the column as one-dimensional text.
        encode = ColumnTransformer([("tfidf", TfidfVectorizer(), "text")])
        pipe = make_pipeline(encode, LogisticRegression()).fit(frame, labels)
        sig = infer_signature(frame, pipe.predict(frame))
        mlflow.sklearn.save_model(pipe, str(path), signature=sig, input_example=frame.head(3), **req)
        return Saved(path, pd.DataFrame({"text": ["good fine", "awful", "unknown words here"]}))
    if kind == "multi":
        frame = numbers()
        target = np.column_stack([frame.x * 2, frame.y - 1, frame.x + frame.y])
        model = LinearRegression().fit(frame, target)
        sig = infer_signature(frame, model.predict(frame))
        mlflow.sklearn.save_model(model, str(path), signature=sig, input_example=frame.head(3), **req)
        return Saved(path, frame.head(4))
    if kind == "labels":
        frame, labels = iris_like()
        model = LogisticRegression().fit(frame, labels)
        sig = infer_signature(frame, model.predict(frame))
        mlflow.sklearn.save_model(model, str(path), signature=sig, input_example=frame.head(3), **req)
        return Saved(path, frame.head(4))
    raise ValueError(kind)


KINDS = ("tensor", "params", "dataframe", "binary", "text", "multi", "labels")
