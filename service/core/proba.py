"""`POST /predict?output=proba`: a scikit-learn classifier's class probabilities, beside its labels.

MLflow's sklearn flavor serves one method per logged model (`pyfunc_predict_fn`, mlflow/sklearn/__init__.py
@v3.17.2). A classifier logged with the default `predict` answers labels; its `predict_proba` is there all the
same, and clients that want a score need not have the model logged twice. The probabilities are computed on
the same typed DataFrame pyfunc is given (a pipeline then reads its columns by name), one row per class in
the order of the estimator's `classes_`, which `/predict` returns beside them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from service.core.predictors import PyfuncPredictor
from service.core.schema import InputSchema

log = logging.getLogger(__name__)
Matrix = np.ndarray[Any, Any]


class ProbaPredictor:
    def __init__(self, estimator: Any, schema: InputSchema) -> None:
        self.estimator = estimator
        self.frame = PyfuncPredictor(None, schema).frame
        classes = getattr(estimator, "classes_", None)
        self.classes: list[Any] | None = None if classes is None else np.asarray(classes).tolist()

    def predict(self, rows: Matrix) -> np.ndarray[Any, Any]:
        return np.asarray(self.estimator.predict_proba(self.frame(rows)), dtype=np.float64)


def proba_predictor(
    meta: Any, pyfunc_model: Any, schema: InputSchema, probe: Matrix
) -> tuple[ProbaPredictor, tuple[int, ...]] | None:
    """The classifier's predict_proba and the shape of one row of it, when the model is a scikit-learn model
    with one that answers finite probabilities on the probe rows; None otherwise."""
    if "sklearn" not in meta.flavors or schema.tensor is not None:
        return None
    try:
        estimator = pyfunc_model.get_raw_model()
    except Exception:  # noqa: BLE001 - a flavor without a raw model has no predict_proba to offer
        return None
    if not hasattr(estimator, "predict_proba"):  # also False for a Pipeline whose last step has none
        return None
    predictor = ProbaPredictor(estimator, schema)
    try:
        out = predictor.predict(probe)
    except Exception as e:  # noqa: BLE001 - the labels still serve; only output=proba is unavailable
        log.warning("predict_proba fails on the input example; output=proba is unavailable", extra={"error": repr(e)})
        return None
    if out.ndim != 2 or len(out) != len(probe) or not np.isfinite(out).all():
        return None
    return predictor, (int(out.shape[1]),)
