"""The data plane called directly, without HTTP: what a transport gets for a body, a fault, a health check.

The pattern of MLServer's tests/handlers/test_dataplane.py and KServe's test_dataplane.py: the protocol logic is
tested where it lives, and the transports only have to carry its answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from service.app import create_app
from service.core.errors import ModelNotReady, PayloadTooLarge, SchemaMismatch, UnsupportedMediaType
from service.core.loader import LoadedModel
from service.core.refs import VersionRef
from service.dataplane import DataPlane, error_reply
from service.settings import Settings
from tests.support.models import loaded_linear_model

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, diabetes: tuple[pd.DataFrame, pd.Series]) -> LoadedModel:
    return loaded_linear_model(tmp_path_factory.mktemp("dataplane"), diabetes, VersionRef("plane", "3", None))


def plane_for(tmp_path: Path, model: LoadedModel | None, **settings: object) -> DataPlane:
    """The data plane `create_app` builds, with `model` as its champion (no lifespan, no registry)."""
    with mock.patch.dict(os.environ):
        app = create_app(Settings(registry_uri="http://127.0.0.1:9", model_dir=tmp_path, **settings))  # type: ignore[arg-type]
    plane: DataPlane = app.state.data_plane
    plane.variants.champion.current = model
    return plane


def rows(features: pd.DataFrame, n: int, endpoint: str = "predict") -> bytes:
    if endpoint == "invocations":
        return json.dumps({"dataframe_split": features.head(n).to_dict(orient="split")}).encode()
    return json.dumps({"instances": features.head(n).to_dict(orient="records")}).encode()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_predict_answers_bytes_with_the_version_that_computed_them(
    tmp_path: Path, model: LoadedModel, diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    plane = plane_for(tmp_path, model)
    reply = await plane.predict(rows(diabetes[0], 2), "application/json", {}, "predict")
    assert reply.status == 200 and reply.media_type == "application/json"
    assert reply.headers == {"X-Model-Name": "plane", "X-Model-Version": "3", "X-Model-Variant": "champion"}
    body = json.loads(reply.body)
    assert body["model"] == {"name": "plane", "version": "3", "alias": "production"} and body["variant"] == "champion"
    assert len(body["predictions"]) == 2

    mlflow_reply = await plane.predict(rows(diabetes[0], 2, "invocations"), "application/json", {}, "invocations")
    assert json.loads(mlflow_reply.body) == {"predictions": body["predictions"]}


async def test_faults_are_raised_as_service_errors_for_the_transport_to_map(
    tmp_path: Path, model: LoadedModel, diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    plane = plane_for(tmp_path, model, max_body_bytes=64)
    with pytest.raises(PayloadTooLarge):
        await plane.read_body("65", chunks())
    with pytest.raises(PayloadTooLarge):
        await plane.read_body(None, chunks(b"x" * 40, b"x" * 40))
    assert await plane.read_body("6", chunks(b"ab", b"cdef")) == b"abcdef"
    with pytest.raises(UnsupportedMediaType):
        await plane.predict(b"a,b\n1,2\n", "text/plain", {}, "invocations")
    with pytest.raises(SchemaMismatch):
        await plane.predict(b'{"inputs": [[1.0]]}', "application/json", {}, "predict")
    with pytest.raises(ModelNotReady):
        await plane_for(tmp_path / "empty", None).predict(rows(diabetes[0], 1), "application/json", {}, "predict")


def test_one_error_mapping_gives_this_services_format_or_mlflows_on_invocations() -> None:
    """mlflow/pyfunc/scoring_server/__init__.py@v3.17.2: 415 as text/plain, input errors as 400 with error_code."""
    own = error_reply(SchemaMismatch("row 0: missing column 'age'"), "/predict")
    assert own.status == 422 and json.loads(own.body)["error"]["code"]
    mlflow_style = error_reply(SchemaMismatch("row 0: missing column 'age'"), "/invocations")
    assert mlflow_style.status == 400 and json.loads(mlflow_style.body)["error_code"] == "INVALID_PARAMETER_VALUE"
    media = error_reply(UnsupportedMediaType("text/plain is not supported"), "/invocations")
    assert (media.status, media.media_type) == (415, "text/plain")


async def test_health_is_503_with_details_until_a_champion_is_loaded(tmp_path: Path, model: LoadedModel) -> None:
    plane = plane_for(tmp_path, None)
    status, details = plane.health()
    assert (status, details["status"], details["cache"]) == (503, "not_ready", {"enabled": False})
    with pytest.raises(ModelNotReady):
        plane.model()
    plane.variants.champion.current = model
    assert plane.health()[0] == 200 and plane.model() is model
    assert plane.version_details()["model"] == {"name": "plane", "version": "3", "alias": "production"}
