"""The contract the training CLI seals is the one the service computes when it loads the version.

`python -m training seal` (and `train`) write `serving.contract` from the model's signature; the service
computes its own from the loaded model (service/core/refs.py `contract`, from what `validate` measures) and
refuses a version whose recorded contract differs. Both are held equal here for every model of the service's
format corpus: a label classifier, a multi-output regressor, a tensor signature, a params schema, binary
columns, a text pipeline and a PythonModel returning a DataFrame of several columns.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow.models import Model

from service.core.loader import open_model, validate
from service.core.refs import VersionRef, contract
from service.core.trust import TrustPolicy
from tests.service.corpus import KINDS, save
from training import seal


@pytest.mark.parametrize("kind", KINDS)
def test_the_sealed_contract_is_the_one_the_service_computes(kind: str, tmp_path: Path) -> None:
    saved = save(kind, tmp_path / kind)
    model, probe = open_model(
        saved.path, VersionRef("corpus", "1", None), "production", time.monotonic(), TrustPolicy(allow_pickle=True)
    )
    model = replace(model, output_shape=validate(model, probe, None))
    served = contract(model.schema, model.output_shape, model.output_kind, model.output_fields)

    assert seal.contract_of(Model.load(str(saved.path)), kind) == served
