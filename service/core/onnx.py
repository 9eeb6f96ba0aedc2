"""The ONNX Runtime path, for versions registered with an ONNX export (`python -m training train --onnx`).

The export is a file inside the model (`extra_files/model.onnx`). At load it is used whenever it gives the
numbers of the path it would replace on the version's probe rows (within `RTOL`: ONNX Runtime's tree ensembles
compute in float32), so the choice is the same in every worker. For a random forest it is hundreds of times
faster on one row than scikit-learn, which pays a per-tree overhead on every call; for a linear model the
service's own numpy product is faster still, and stays.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from service.core.predictors import NativePredictor, Predictor
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


def onnx_if_agrees(path: Path, schema: InputSchema, probe: Matrix, current: Predictor) -> OnnxPredictor | None:
    """The ONNX path if `path` holds an export that agrees with `current` on `probe`; else None.

    Decided by the version alone, never by a timing: every worker of every pod must take the same path for one
    version, or they answer one request with different numbers and the shared cache keeps whichever came first.
    A linear model served by the service's own numpy product keeps it (always faster than a runtime call).
    """
    file = path / ONNX_FILE
    if not file.is_file():
        return None
    if isinstance(current, NativePredictor) and current.linear is not None:
        log.info("the version has an ONNX export; its linear product is served by numpy instead")
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
    log.info("serving through ONNX Runtime")
    return fast
