"""The service under Gunicorn (started exactly as `make demo` starts it), models to serve, and figures to keep.

Servers a test kills are its module's own, started through local/servers.py; the session's S3 store and
MLflow server (tests/servers.py) serve the tests that kill nothing, each under model names of its own.
Every test records its figures with `figures.record(...)`; the session writes them to
build/reliability/results.json, from which `python -m tests.reliability.report` writes docs/reliability.md.
The helpers that start and read the service are in tests/support/gunicorn.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from tests.support.figures import Figures


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    kept = Figures()
    yield kept
    kept.save()


@pytest.fixture(scope="session")
def features() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True).data
    return frame


@pytest.fixture(scope="session")
def target() -> pd.Series:
    series: pd.Series = load_diabetes(as_frame=True).target
    return series


@pytest.fixture(scope="session")
def linear(features: pd.DataFrame, target: pd.Series) -> LinearRegression:
    return LinearRegression().fit(features, target)


@pytest.fixture(scope="session")
def rows(features: pd.DataFrame) -> list[dict[str, float]]:
    """Request rows: the data set's, so a load cycling through them hits the cache after the first pass."""
    records: list[dict[str, float]] = features.to_dict(orient="records")
    return records
