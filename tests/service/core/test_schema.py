"""The model's input schema read from its MLflow signature, and what a new signature changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import Schema, TensorSpec

from service.core.schema import Column, InputSchema, UnsupportedSignature


def test_named_columns_of_every_scalar_type_and_one_fixed_shape_tensor_are_served() -> None:
    """Tensors and binary columns are served; what stays refused is named (several tensors, a
    variable inner dimension whose rows could share a cache key, a string tensor)."""
    tensor = InputSchema.from_signature(ModelSignature(inputs=Schema([TensorSpec(np.dtype("float64"), (-1, 3))])))
    assert tensor.describe() == [{"name": "", "type": "tensor float64 [-1, 3]"}] and not tensor.numeric
    for spec, match in (
        ([TensorSpec(np.dtype("float64"), (-1, 3), "a"), TensorSpec(np.dtype("float64"), (-1, 3), "b")], "2 tensors"),
        ([TensorSpec(np.dtype("float64"), (-1, -1))], "fixed sizes after it"),
        ([TensorSpec(np.dtype("str"), (-1, 2))], "dtype <U0"),
    ):
        with pytest.raises(UnsupportedSignature, match=match):
            InputSchema.from_signature(ModelSignature(inputs=Schema(spec)))
    strings = InputSchema.from_signature(infer_signature(pd.DataFrame({"name": ["a"], "x": [1.0]})))
    assert strings.describe() == [{"name": "name", "type": "string"}, {"name": "x", "type": "double"}]
    assert not strings.numeric
    when = InputSchema.from_signature(infer_signature(pd.DataFrame({"when": pd.to_datetime(["2026-01-01"])})))
    assert when.describe() == [{"name": "when", "type": "datetime"}] and not when.numeric
    raw = InputSchema.from_signature(infer_signature(pd.DataFrame({"raw": [b"\x00"], "x": [1.0]})))
    assert raw.binary and not raw.numeric
    with pytest.raises(UnsupportedSignature, match="without an input signature"):
        InputSchema.from_signature(None)


def test_schema_incompatibility_says_what_changed() -> None:
    old = InputSchema((Column("a", "double"), Column("b", "double")))
    assert old.incompatibility(old) is None
    renamed = InputSchema((Column("a", "double"), Column("c", "double")))
    assert "input columns changed from ['a', 'b'] to ['a', 'c']" in str(renamed.incompatibility(old))
    retyped = InputSchema((Column("a", "double"), Column("b", "long")))
    assert "b: double -> long" in str(retyped.incompatibility(old))
