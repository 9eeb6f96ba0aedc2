"""Fixtures of the service tests: the diabetes data, two models fitted on it, and the session's MLflow server.

Each test module registers its models under names of its own, so the session's MLflow server is shared
safely. The helpers that log, register and serve models are in tests/support/ (models.py, serving.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, Ridge

from local import servers


@pytest.fixture(scope="session")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    features, target = load_diabetes(return_X_y=True, as_frame=True)
    return features, target


@pytest.fixture(scope="session")
def linear(diabetes: tuple[pd.DataFrame, pd.Series]) -> LinearRegression:
    return LinearRegression().fit(*diabetes)


@pytest.fixture(scope="session")
def ridge(diabetes: tuple[pd.DataFrame, pd.Series]) -> Ridge:
    """A second, different model: its predictions tell which version answered."""
    return Ridge(alpha=0.5).fit(*diabetes)


@pytest.fixture(scope="module")
def tracking(mlflow_server: servers.MlflowServer) -> Iterator[str]:
    """Point this module's MLflow client at the session server, with no S3 credentials (artifacts via proxy)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.delenv(var, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
        yield mlflow_server.url
