"""The rows a version is vetted on before it may serve, and the columns of a model logged without a signature.

The probe rows are the model's logged input example, or, without one, rows of distinct values per column (a
column-order mistake then changes the output). A model logged without a signature takes the columns and types
of its input example, as `infer_signature` reads them.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from service.core.schema import InputSchema, Tensor, UnsupportedSignature
from service.core.validation import Matrix, from_columns, to_matrix

log = logging.getLogger(__name__)


def signature_from_example(meta: Any, path: Path, version: str) -> Any:
    """For a model logged without a signature: the columns and types of its input example, as
    `infer_signature` reads them. Served through pyfunc, and said so; a model with neither is refused."""
    from mlflow.models import infer_signature

    example = meta.load_input_example(str(path)) if meta.saved_input_example_info else None
    if example is None:
        raise UnsupportedSignature(
            "the model was logged without an input signature or an input example: nothing says which columns "
            "it takes (log it with signature=infer_signature(X, model.predict(X)))"
        )
    log.warning(
        "the model was logged without a signature; its input columns are inferred from its input example and it "
        "is served through pyfunc",
        extra={"version": version},
    )
    return infer_signature(example)


def input_example(meta: Any, path: Path, schema: InputSchema, stats: dict[str, Any] | None = None) -> Matrix:
    """The model's logged input example as rows; rows of distinct values per column when it logged none."""
    import pandas as pd

    example = meta.load_input_example(str(path)) if meta.saved_input_example_info else None
    if example is None:
        log.warning("model has no input example; validating on rows of distinct values per column")
        return distinct_rows(schema, stats)
    if isinstance(example, dict):
        example = pd.DataFrame(example)
    if not isinstance(example, pd.DataFrame):
        raise ValueError(f"the input example is a {type(example).__name__}, not a table")
    values = [example.iloc[:, j].tolist() for j in range(example.shape[1])]
    rows = [list(r) for r in zip(*values, strict=True)]
    return to_matrix(from_columns(list(example.columns), rows, schema, key="input example"), schema, lenient=True)


def distinct_rows(schema: InputSchema, stats: dict[str, Any] | None) -> Matrix:
    """Two rows in which every column holds a different value, so a column-order mistake changes the output.

    Column j sits at `mean + z_j * std` of its training statistics (z from -1 to +1 across the columns; the
    second row in reverse), or at z_j itself without statistics; integers are rounded, booleans alternate.
    A row of zeros (what was used before) is blind to any permutation of the columns.
    """
    features = (stats or {}).get("features") if isinstance(stats, dict) else None
    n = len(schema.columns)
    rows = np.zeros((2, n), dtype=np.float64 if schema.numeric else object)
    for j, column in enumerate(schema.columns):
        f = features.get(column.name) if isinstance(features, dict) else None
        mean, std = (f.get("mean"), f.get("std")) if isinstance(f, dict) else (None, None)
        if not (isinstance(mean, int | float) and isinstance(std, int | float) and math.isfinite(mean + std)):
            mean, std = 0.0, 1.0
        spread = std if std > 0 else 1.0
        for i, k in enumerate((j, n - 1 - j)):
            z = -1.0 + 2.0 * k / (n - 1) if n > 1 else 0.5
            if column.kind == "str":
                rows[i, j] = f"{column.name}-{k}"  # a model with unseen-category errors needs an input example
            elif column.kind == "bytes":
                rows[i, j] = f"{column.name}-{k}".encode()
            elif column.kind == "datetime":
                rows[i, j] = np.datetime64("2000-01-01", "ns") + np.timedelta64(k, "D")
            elif column.kind == "bool":
                rows[i, j] = float(k % 2)
            elif column.kind == "int":
                rows[i, j] = float(round(mean) + k + 1 - n // 2)
            else:
                rows[i, j] = mean + z * spread
    return rows


def tensor_example(meta: Any, path: Path, tensor: Tensor) -> Matrix:
    """A tensor model's logged input example (an array, or `{name: array}`) in the tensor's dtype; without one,
    two rows of distinct small values (0, 1, 2, ... modulo 7), so a transposed or reordered input changes the
    output."""
    example = meta.load_input_example(str(path)) if meta.saved_input_example_info else None
    if isinstance(example, dict) and tensor.name in example:
        example = example[tensor.name]
    if example is None:
        log.warning("model has no input example; validating on rows of distinct values")
        shape = (2, *tensor.shape[1:])
        return (np.arange(math.prod(shape)).reshape(shape) % 7).astype(tensor.dtype)
    array = np.asarray(example)
    if array.ndim != len(tensor.shape) or array.shape[1:] != tensor.shape[1:] or not len(array):
        raise ValueError(f"the input example has shape {array.shape}; the signature says {list(tensor.shape)}")
    return array.astype(tensor.dtype)
