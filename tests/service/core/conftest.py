"""Models on disk, opened as the service opens a version, shared by the core's unit tests (no registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LinearRegression, Ridge

from service.core.loader import LoadedModel
from tests.support.models import opened, save_sklearn
from training import data


@pytest.fixture(scope="session")
def sklearn_dir(tmp_path_factory: pytest.TempPathFactory, linear: LinearRegression, diabetes: Any) -> Path:
    """The diabetes LinearRegression saved as the training CLI logs it."""
    return save_sklearn(linear, tmp_path_factory.mktemp("sk") / "model", diabetes[0])


@pytest.fixture(scope="session")
def sklearn_model(sklearn_dir: Path) -> LoadedModel:
    """`sklearn_dir` opened as version 1."""
    return opened(sklearn_dir)


@pytest.fixture(scope="session")
def split() -> data.Split:
    """The training CLI's split of the diabetes data."""
    return data.load_split(0.2, 42)


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory, split: data.Split) -> LoadedModel:
    """Version 1, trained like the training CLI trains, with its training-set statistics logged inside."""
    model = LinearRegression().fit(split.x_train, split.y_train)
    stats_file = tmp_path_factory.mktemp("stats") / "feature_stats.json"  # the name it keeps inside the model
    stats_file.write_text(json.dumps(data.feature_stats(split.x_train)))
    path = tmp_path_factory.mktemp("champion") / "model"
    return opened(save_sklearn(model, path, split.x_train, extra_files=[str(stats_file)]), "1")


@pytest.fixture(scope="session")
def challenger(tmp_path_factory: pytest.TempPathFactory, split: data.Split) -> LoadedModel:
    """Version 2, a Ridge, without statistics."""
    model = Ridge(alpha=0.5).fit(split.x_train, split.y_train)
    return opened(save_sklearn(model, tmp_path_factory.mktemp("challenger") / "model", split.x_train), "2")
