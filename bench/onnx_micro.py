"""Is an ONNX Runtime path worth having? Predict time per call in one process: scikit-learn against ONNX Runtime.

Both benchmark models are fitted as the training CLI fits them and exported with skl2onnx (the converter the
training CLI's `--onnx` uses). ONNX Runtime's tree ensemble computes in float32, so the forest is exported with
a float32 input; the linear model keeps float64. Single-threaded on both sides, as a worker runs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

ROWS = (1, 64, 1000)


def _per_call_us(fn: Callable[[], Any], min_seconds: float = 0.5, min_calls: int = 5) -> float:
    fn()
    calls, started = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - started < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - started) / calls * 1e6


def _product(rows: Any, coef: Any, intercept: Any) -> Any:
    return rows @ coef + intercept


def measure() -> dict[str, Any]:
    try:
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    except ImportError as e:
        return {"skipped": f"{e.name} is not installed"}
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression

    warnings.filterwarnings("ignore", category=UserWarning)
    x, y = load_diabetes(return_X_y=True)
    models: dict[str, tuple[Any, Any, Any]] = {
        "linear_regression": (LinearRegression(), DoubleTensorType, np.float64),
        "random_forest_300": (
            RandomForestRegressor(n_estimators=300, max_depth=6, min_samples_leaf=3, n_jobs=1, random_state=42),
            FloatTensorType,
            np.float32,
        ),
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    out: dict[str, Any] = {"onnxruntime": ort.__version__, "models": {}}
    for name, (estimator, tensor, dtype) in models.items():
        estimator.fit(x, y)
        graph = convert_sklearn(estimator, initial_types=[("input", tensor([None, x.shape[1]]))])
        session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        rows: dict[str, Any] = {}
        for n in ROWS:
            batch = np.ascontiguousarray(np.resize(x, (n, x.shape[1])))
            cast = batch.astype(dtype)
            sk = _per_call_us(partial(estimator.predict, batch))
            rt = _per_call_us(partial(session.run, None, {"input": cast}))
            diff = np.max(np.abs(np.ravel(session.run(None, {"input": cast})[0]) - estimator.predict(batch)))
            rows[str(n)] = {
                "sklearn_us": round(sk, 1),
                "onnxruntime_us": round(rt, 1),
                "speedup": round(sk / rt, 1),
                "max_abs_diff": float(f"{diff:.3g}"),
            }
            if hasattr(estimator, "coef_"):
                # What the service runs for a linear model instead of either (service/core/predictors.py).
                coef, intercept = estimator.coef_, estimator.intercept_
                rows[str(n)]["numpy_product_us"] = round(_per_call_us(partial(_product, batch, coef, intercept)), 1)
        out["models"][name] = rows
    return out
