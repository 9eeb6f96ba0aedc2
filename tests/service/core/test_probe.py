"""The probe rows a version is validated on when it has no input example."""

from __future__ import annotations

import numpy as np

from service.core.probe import distinct_rows
from service.core.schema import Column, InputSchema


def test_probe_rows_hold_a_different_value_in_every_column_within_the_training_spread() -> None:
    """A row of zeros gives the same output for every order of the columns; these rows do not."""
    schema = InputSchema((Column("a", "double"), Column("b", "double"), Column("n", "long"), Column("f", "boolean")))
    stats = {"features": {"a": {"mean": 10.0, "std": 2.0}, "b": {"mean": 10.0, "std": 2.0}}}
    rows = distinct_rows(schema, stats)
    assert rows.shape == (2, 4)
    for row in rows:
        assert len(set(row[:3])) == 3, row
    assert 8.0 <= rows[:, :2].min() and rows[:, :2].max() <= 12.0, "within one std of the training mean"
    assert set(rows[:, 3]) <= {0.0, 1.0} and rows[0, 3] != rows[1, 3]
    assert float(rows[0, 2]).is_integer()
    assert not np.array_equal(rows[0], rows[1])
    assert len(set(distinct_rows(schema, None)[0][:3])) == 3
