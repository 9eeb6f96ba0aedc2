"""The ONNX Runtime path, for versions registered with an ONNX export (`python -m training train --onnx`).

The export is a file inside the model (`extra_files/model.onnx`). At load it is used only if it earns it: it
must give the numbers of the path it would replace on the version's input example (within `RTOL`: ONNX
Runtime's tree ensembles compute in float32), and predict that example faster. For a random forest it is
hundreds of times faster on one row than scikit-learn, which pays a per-tree overhead on every call; for a
linear model the service's own numpy product is faster still, and stays.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from service.core.predict import Predictor
from service.core.schema import InputSchema
from service.core.validation import Matrix

log = logging.getLogger(__name__)

ONNX_FILE = Path("extra_files") / "model.onnx"
RTOL = 1e-5
_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


class OnnxPredictor:
    """One ONNX Runtime session on one thread: a worker's parallelism is Gunicorn's processes, not ORT's pool."""

    def __init__(self, path: Path, schema: InputSchema, row_shape: tuple[int, ...]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"the ONNX graph takes {len(inputs)} inputs; one matrix of rows is supported")
        self.input = inputs[0].name
        if inputs[0].type not in _DTYPES:
            raise ValueError(f"the ONNX input is {inputs[0].type}; float or double tensors are supported")
        self.dtype = _DTYPES[inputs[0].type]
        width = inputs[0].shape[-1] if inputs[0].shape else None
        if isinstance(width, int) and width != len(schema.columns):
            raise ValueError(f"the ONNX input has {width} columns; the signature has {len(schema.columns)}")
        self.row_shape = row_shape

    def predict(self, rows: Matrix) -> np.ndarray[Any, Any]:
        out = self.session.run(None, {self.input: rows.astype(self.dtype, copy=False)})[0]
        # skl2onnx regressors answer [N, 1] where scikit-learn answers [N]: follow the path it replaces.
        return np.asarray(out, dtype=np.float64).reshape((len(rows), *self.row_shape))


def onnx_if_better(path: Path, schema: InputSchema, probe: Matrix, current: Predictor) -> OnnxPredictor | None:
    """The ONNX path if `path` holds an export that agrees with `current` on `probe` and is faster; else None."""
    file = path / ONNX_FILE
    if not file.is_file():
        return None
    try:
        reference = np.asarray(current.predict(probe), dtype=np.float64)
        fast = OnnxPredictor(file, schema, tuple(reference.shape[1:]))
        out = fast.predict(probe)
    except ImportError:
        log.info("the version has an ONNX export but onnxruntime is not installed; not used")
        return None
    except Exception as e:  # noqa: BLE001 - an export that cannot run means "keep the current path"
        log.warning("ONNX export unusable, not used", extra={"error": repr(e)})
        return None
    if out.shape != reference.shape or not np.allclose(out, reference, rtol=RTOL, atol=0.0):
        worst = float(np.max(np.abs(out - reference))) if out.shape == reference.shape else None
        log.warning("ONNX export disagrees with the model, not used", extra={"max_abs_difference": worst})
        return None
    onnx_s, current_s = _seconds_per_call(fast, probe), _seconds_per_call(current, probe)
    timing = {"onnx_us": round(onnx_s * 1e6, 1), "current_us": round(current_s * 1e6, 1)}
    if onnx_s >= current_s:
        log.info("ONNX export is not faster than the current path, not used", extra=timing)
        return None
    log.info("serving through ONNX Runtime", extra=timing)
    return fast


def _seconds_per_call(predictor: Predictor, rows: Matrix, budget_s: float = 0.2, max_calls: int = 50) -> float:
    """Best of a few calls (the fastest is the least disturbed); at most ~`budget_s` spent."""
    best = float("inf")
    deadline = time.perf_counter() + budget_s
    for _ in range(max_calls):
        started = time.perf_counter()
        predictor.predict(rows)
        best = min(best, time.perf_counter() - started)
        if time.perf_counter() > deadline:
            break
    return best
