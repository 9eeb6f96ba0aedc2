"""What the CLI records at registration for the inference service: the version's digest and the contract.

The service refuses a version without a digest matching its files, and judges every version against the
registered model's contract (service/core/trust.py, service/core/model.py); these tests hold the CLI's records
to what the service computes, on versions registered for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from service.core.model import Registry, load_version
from service.core.trust import TrustPolicy, directory_digest
from tests.training.conftest import Trained, register, run_cli
from training import data
from training.seal import CONTRACT_TAG, DIGEST_TAG, signature_output_shape

CONTRACT = {"inputs": [{"name": f, "type": "double"} for f in data.FEATURES], "output_shape": []}


def test_train_records_the_digest_and_the_contract_the_service_checks(
    trained: dict[str, Trained], mlflow_tracking: str, tmp_path: Path
) -> None:
    good = trained["good"]
    client = MlflowClient()
    tags = client.get_model_version(good.name, good.version).tags
    assert json.loads(tags[CONTRACT_TAG]) == CONTRACT
    assert json.loads(client.get_registered_model(good.name).tags[CONTRACT_TAG]) == CONTRACT
    registry = Registry(mlflow_tracking)
    version = registry.resolve_version(good.name, good.version)
    local = registry.download(version, tmp_path / "download")
    assert tags[DIGEST_TAG] == directory_digest(local)
    # The service loads it under its strictest settings: digest required, skops only, its own allow-list.
    models = tmp_path / "models"
    models.mkdir()
    loaded = load_version(registry, version, "production", models, None, TrustPolicy())
    assert loaded.flavor == "sklearn" and loaded.version == good.version


def test_seal_records_them_for_a_version_registered_another_way(
    trained: dict[str, Trained], model_name: str, tmp_path: Path
) -> None:
    [copy] = register(model_name, trained["good"], sealed=False)
    client = MlflowClient()
    assert DIGEST_TAG not in client.get_model_version(model_name, copy).tags
    result = run_cli(["seal", copy, "--model-name", model_name, "--json"])
    digest = json.loads(result.stdout.strip().splitlines()[-1])["digest"]
    tags = client.get_model_version(model_name, copy).tags
    assert tags[DIGEST_TAG] == digest and json.loads(tags[CONTRACT_TAG]) == CONTRACT
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(model_name, copy), dst_path=str(tmp_path)
    )
    assert directory_digest(Path(local)) == digest


@pytest.mark.parametrize(("outputs", "shape"), [(np.zeros(3), ()), (np.zeros((3, 2)), (2,))])
def test_the_output_shape_comes_from_the_signature(outputs: np.ndarray, shape: tuple[int, ...]) -> None:
    signature = infer_signature(np.zeros((3, 4)), outputs)
    assert signature_output_shape(signature) == shape
