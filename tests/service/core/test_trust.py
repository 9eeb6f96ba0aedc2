"""Models are code: what the service refuses to deserialise, and the digest it checks before opening anything.

MLflow 3.17.2 loads a skops model with the trusted types its own MLmodel file lists, and loads pickle and
cloudpickle models as they are (mlflow/sklearn/__init__.py `_load_pyfunc` and `_load_model_from_local_file`,
mlflow/pyfunc/model.py `_load_pyfunc`): whoever can write a model can run code in the process loading it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
import pytest
from mlflow.models import infer_signature
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

from service.core.loader import LoadFailed, ModelRejected, load_version, open_model
from service.core.refs import VersionRef
from service.core.trust import DIGEST_TAG, TrustPolicy, Untrusted, directory_digest
from tests.support.models import PIP_REQUIREMENTS, LinearPythonModel, save_sklearn
from training import seal

STRICT = TrustPolicy()


def version(tags: dict[str, str] | None = None) -> VersionRef:
    return VersionRef("m", "1", "run", tags=tags or {})


def test_the_services_own_skops_allow_list_decides_not_the_models(tmp_path: Path, diabetes: Any) -> None:
    """The model's MLmodel trusts `sklearn.tree._tree.Tree`; a service that does not trust it refuses it."""
    forest = RandomForestRegressor(n_estimators=2, max_depth=2, random_state=0).fit(*diabetes)
    path = save_sklearn(forest, tmp_path / "forest", diabetes[0], skops_trusted_types=["sklearn.tree._tree.Tree"])
    with pytest.raises(Untrusted, match="types the service does not trust"):
        open_model(path, version(), "production", 0.0, TrustPolicy(skops_trusted_types=()))
    model, _ = open_model(path, version(), "production", 0.0, STRICT)
    assert model.flavor in ("sklearn", "onnx", "pyfunc")


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_pickled_sklearn_models_are_refused_unless_allowed(
    fmt: str, tmp_path: Path, linear: LinearRegression, diabetes: Any
) -> None:
    with pytest.warns(Warning):  # MLflow warns that the format is unsafe when saving it
        path = save_sklearn(linear, tmp_path / fmt, diabetes[0], serialization_format=fmt)
    with mock.patch("pickle.load", side_effect=AssertionError("deserialised")), pytest.raises(Untrusted, match=fmt):
        open_model(path, version(), "production", 0.0, STRICT)
    model, _ = open_model(path, version(), "production", 0.0, TrustPolicy(allow_pickle=True))
    assert model.flavor == "sklearn"


def test_cloudpickled_python_models_are_refused_unless_allowed(
    tmp_path: Path, linear: LinearRegression, diabetes: Any
) -> None:
    features = diabetes[0]
    handmade = LinearPythonModel(linear.coef_.tolist(), float(linear.intercept_), list(features.columns))
    path = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=handmade,
        signature=infer_signature(features, linear.predict(features)),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
    )
    with pytest.raises(Untrusted, match="runs code when loaded"):
        open_model(path, version(), "production", 0.0, STRICT)
    assert open_model(path, version(), "production", 0.0, TrustPolicy(allow_pickle=True))[0].flavor == "pyfunc"


class CopyRegistry:
    """Serves one saved model directory as every download (what the artifact store holds)."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def contract(self, name: str) -> None:
        return None

    def download(self, version: VersionRef, dst: Path) -> Path:
        shutil.copytree(self.source, dst)
        return dst


def test_a_version_whose_files_do_not_match_their_recorded_digest_is_rejected_before_it_is_opened(
    tmp_path: Path, linear: LinearRegression, diabetes: Any
) -> None:
    path = save_sklearn(linear, tmp_path / "model", diabetes[0])
    recorded = directory_digest(path)
    registry: Any = CopyRegistry(path)
    models = tmp_path / "downloads"
    models.mkdir()
    loaded = load_version(registry, version({DIGEST_TAG: recorded}), "production", models, None, STRICT)
    assert loaded.flavor == "sklearn"

    (path / "model.skops").write_bytes((path / "model.skops").read_bytes() + b"\0")  # the bucket was written to
    with (
        mock.patch("skops.io.load", side_effect=AssertionError("deserialised")),
        pytest.raises(ModelRejected, match="not trusted: its files hash to sha256:"),
    ):
        load_version(registry, version({DIGEST_TAG: recorded}), "production", models, None, STRICT)
    # Not sealed (yet): retried, since the training CLI records the digest just after it registers the version.
    with pytest.raises(LoadFailed, match=f"not sealed yet: no {DIGEST_TAG} tag"):
        load_version(registry, version(), "production", models, None, STRICT)
    assert [p.name for p in models.iterdir()] == [loaded.directory.name], "a refused download is removed"


def test_the_training_cli_and_the_service_compute_one_digest(
    tmp_path: Path, linear: LinearRegression, diabetes: Any
) -> None:
    """Two copies of one rule (the training image ships without service/): they must agree, file names too."""
    path = save_sklearn(linear, tmp_path / "model", diabetes[0])
    (path / "extra_files").mkdir()
    (path / "extra_files" / "feature_stats.json").write_text("{}")
    assert seal.directory_digest(path) == directory_digest(path)
    before = directory_digest(path)
    (path / "extra_files" / "feature_stats.json").rename(path / "extra_files" / "renamed.json")
    assert directory_digest(path) != before, "a renamed file changes the digest"
