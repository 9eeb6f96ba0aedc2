"""The Open Inference Protocol (KServe V2) in-process: the same answers as `/predict` through the same data plane,
tensors in either layout, JSON or binary, the protocol's errors, and the OpenAPI document.

The protocol is kserve/open-inference-protocol specification/protocol/inference_rest.md (health, metadata,
inference, `{"error": ...}` with 400/404/503), and the binary tensor data extension is
triton-inference-server/server docs/protocol/extension_binary_data.md (`Inference-Header-Content-Length`,
`binary_data_size`, `binary_data`, `binary_data_output`; BYTES elements prefixed by a 4-byte little-endian length).
Models are saved as the training CLI logs them and put into the champion's holder directly (no registry).
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression, Ridge

from service.app import create_app
from service.core.errors import ServiceError
from service.core.loader import LoadedModel, open_model, validate
from service.core.refs import VersionRef
from service.core.schema import Column, InputSchema
from service.core.schema import Tensor as TensorSpec
from service.settings import Settings
from service.v2.codec import parse_infer
from tests.service.test_model_inputs import categorical_pipeline, housing
from tests.support.models import PIP_REQUIREMENTS

NAME = "v2model"


def loaded(path: Path, estimator: Any, features: pd.DataFrame, version: str = "4") -> LoadedModel:
    mlflow.sklearn.save_model(
        estimator,
        str(path),
        signature=infer_signature(features, estimator.predict(features)),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
    )
    model, probe = open_model(path, VersionRef(NAME, version, None), "production", time.monotonic())
    return replace(model, output_shape=validate(model, probe, None))


def client_for(model: LoadedModel | None, tmp_path: Path, **settings: Any) -> TestClient:
    with mock.patch.dict(os.environ):
        app = create_app(Settings(registry_uri="http://127.0.0.1:9", model_dir=tmp_path / "models", **settings))
    app.state.data_plane.variants.champion.current = model
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def features(diabetes: tuple[pd.DataFrame, pd.Series]) -> pd.DataFrame:
    return diabetes[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, diabetes: tuple[pd.DataFrame, pd.Series]) -> LoadedModel:
    return loaded(tmp_path_factory.mktemp("v2") / "model", LinearRegression().fit(*diabetes), diabetes[0])


@pytest.fixture(scope="module")
def client(model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return client_for(model, tmp_path_factory.mktemp("v2-app"))


def binary_request(header: dict[str, Any], *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(chunks), {"Inference-Header-Content-Length": str(len(head))}


def split_response(response: Any) -> tuple[dict[str, Any], bytes]:
    size = int(response.headers["inference-header-content-length"])
    return json.loads(response.content[:size]), response.content[size:]


def test_v2_answers_what_predict_answers_in_both_tensor_layouts(client: TestClient, features: pd.DataFrame) -> None:
    """One [N, k] tensor in signature order and one tensor per column name the same rows /predict takes."""
    rows = features.head(5)
    expected = client.post("/predict", json={"inputs": rows.to_numpy().tolist()}).json()["predictions"]
    matrix = {"inputs": [{"name": "x", "shape": [5, 10], "datatype": "FP64", "data": rows.to_numpy().tolist()}]}
    columns = {
        "inputs": [
            {"name": c, "shape": [5], "datatype": "FP64", "data": rows[c].tolist()} for c in reversed(rows.columns)
        ]
    }
    for body in (matrix, columns):
        response = client.post(f"/v2/models/{NAME}/infer", json=body)
        assert response.status_code == 200, response.text
        (output,) = response.json()["outputs"]
        assert output == {"name": "predict", "datatype": "FP64", "shape": [5], "data": expected}
    assert response.headers["x-model-version"] == "4"


def test_binary_inputs_and_outputs_round_trip_through_numpy(client: TestClient, features: pd.DataFrame) -> None:
    rows = features.head(7).to_numpy()
    expected = client.post("/predict", json={"inputs": rows.tolist()}).json()["predictions"]
    body, headers = binary_request(
        {
            "id": "req-1",
            "parameters": {"tenant": "a"},
            "inputs": [{"name": "x", "shape": [7, 10], "datatype": "FP32", "parameters": {"binary_data_size": 280}}],
            "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
        },
        rows.astype("<f4").tobytes(),
    )
    response = client.post(f"/v2/models/{NAME}/versions/4/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    head, data = split_response(response)
    assert (head["id"], head["parameters"], head["model_name"], head["model_version"]) == (
        "req-1",
        {"tenant": "a"},
        NAME,
        "4",
    )
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 56}
    # FP32 inputs are the float32 values of the rows: the answers match to float32 precision.
    np.testing.assert_allclose(np.frombuffer(data, "<f8"), expected, rtol=1e-5)


def test_binary_data_output_sends_every_output_binary_and_an_empty_list_none(
    client: TestClient, features: pd.DataFrame
) -> None:
    data = features.head(2).to_numpy().tolist()
    tensor = {"name": "x", "shape": [2, 10], "datatype": "FP64", "data": data}
    response = client.post(
        f"/v2/models/{NAME}/infer", json={"inputs": [tensor], "parameters": {"binary_data_output": True}}
    )
    head, raw = split_response(response)
    assert len(np.frombuffer(raw, "<f8")) == 2 and "data" not in head["outputs"][0]
    response = client.post(f"/v2/models/{NAME}/infer", json={"inputs": [tensor], "outputs": []})
    assert response.json()["outputs"] == []
    response = client.post(f"/v2/models/{NAME}/infer", json={"inputs": [tensor], "outputs": [{"name": "proba"}]})
    assert response.status_code == 400 and "unknown output 'proba'" in response.json()["error"]


def test_metadata_lists_the_signature_as_tensors_and_health_follows_the_model(
    client: TestClient, model: LoadedModel, tmp_path: Path
) -> None:
    metadata = client.get(f"/v2/models/{NAME}").json()
    assert metadata["versions"] == ["4"]
    assert metadata["inputs"] == [{"name": c, "datatype": "FP64", "shape": [-1]} for c in model.schema.names]
    assert metadata["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    assert client.get(f"/v2/models/{NAME}/versions/4").json() == metadata
    assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    assert [client.get(p).status_code for p in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{NAME}/ready")] == [
        200,
        200,
        200,
    ]
    empty = client_for(None, tmp_path)
    assert empty.get("/v2/health/live").status_code == 200
    for path in ("/v2/health/ready", f"/v2/models/{NAME}/ready", f"/v2/models/{NAME}"):
        response = empty.get(path)
        assert response.status_code == 503 and set(response.json()) == {"error"}


def test_unknown_models_and_versions_are_404_naming_what_serves(client: TestClient) -> None:
    tensor = {"name": "x", "shape": [1, 10], "datatype": "FP64", "data": [0.0] * 10}
    response = client.post(f"/v2/models/{NAME}/versions/3/infer", json={"inputs": [tensor]})
    assert response.status_code == 404
    assert response.json() == {"error": f"model '{NAME}' version '3' is not serving; the serving version is 4"}
    assert client.post("/v2/models/other/infer", json={"inputs": [tensor]}).status_code == 404
    assert client.get("/v2/models/other").status_code == 404
    assert client.get(f"/v2/models/{NAME}/versions/3/ready").status_code == 404


def test_v2_rows_go_through_the_same_metrics_and_cache_path(client: TestClient, features: pd.DataFrame) -> None:
    """Rows predicted over V2 are counted by the data plane's predictions metric, under endpoint="v2"."""

    def counted() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('serving_predictions_total{endpoint="v2"}'):
                return float(line.split()[-1])
        return 0.0

    before = counted()
    data = features.head(3).to_numpy().tolist()
    client.post(
        f"/v2/models/{NAME}/infer", json={"inputs": [{"name": "x", "shape": [3, 10], "datatype": "FP64", "data": data}]}
    )
    assert counted() == before + 3


def test_string_and_integer_columns_take_bytes_and_int_tensors(tmp_path: Path) -> None:
    """A signature with a string column: BYTES for it (JSON or length-prefixed binary), INT64 for an integer
    column, the answers /predict gives for the same records."""
    frame, target = housing()
    estimator = categorical_pipeline(LinearRegression()).fit(frame, target)
    client = client_for(loaded(tmp_path / "housing", estimator, frame), tmp_path)
    rows = frame.head(4)
    expected = client.post("/predict", json={"instances": rows.to_dict("records")}).json()["predictions"]
    metadata = client.get(f"/v2/models/{NAME}").json()
    assert [i["datatype"] for i in metadata["inputs"]] == ["BYTES", "INT64", "FP64"]
    cities = [c.encode() for c in rows.city]
    body, headers = binary_request(
        {
            "inputs": [
                {
                    "name": "city",
                    "shape": [4],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 4 * 4 + sum(map(len, cities))},
                },
                {"name": "rooms", "shape": [4, 1], "datatype": "INT64", "data": rows.rooms.tolist()},
                {"name": "area", "shape": [4], "datatype": "FP64", "parameters": {"binary_data_size": 32}},
            ]
        },
        b"".join(struct.pack("<I", len(c)) + c for c in cities),
        rows.area.to_numpy().astype("<f8").tobytes(),
    )
    response = client.post(f"/v2/models/{NAME}/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == pytest.approx(expected)
    others = [
        {"name": "rooms", "shape": [2], "datatype": "INT64", "data": [2, 3]},
        {"name": "area", "shape": [2], "datatype": "FP64", "data": [50.0, 40.0]},
    ]
    for wrong in (
        {"name": "city", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
        {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["paris", 1]},  # numpy alone reads 1 as "1"
    ):
        response = client.post(f"/v2/models/{NAME}/infer", json={"inputs": [wrong, *others]})
        assert response.status_code == 400 and "input 'city'" in response.json()["error"], response.text
    # A JSON BYTES tensor and a BOOL-free INT64 one answer as the binary ones did.
    columns = [
        {"name": "city", "shape": [4], "datatype": "BYTES", "data": rows.city.tolist()},
        {"name": "rooms", "shape": [4], "datatype": "INT64", "data": rows.rooms.tolist()},
        {"name": "area", "shape": [4], "datatype": "FP64", "data": rows.area.tolist()},
    ]
    response = client.post(f"/v2/models/{NAME}/infer", json={"inputs": columns})
    assert response.json()["outputs"][0]["data"] == pytest.approx(expected)


def test_the_openapi_document_lists_the_v2_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {p for p in paths if p.startswith("/v2")} == {
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/versions/{version}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    }
    content = paths["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "application/octet-stream"}
    assert "$ref" not in json.dumps(content["application/json"])


def test_v2_follows_the_ab_split_and_a_version_pins_its_variant(
    model: LoadedModel, tmp_path: Path, diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    """Unversioned inference is split as /predict's is (here all to the challenger); a versioned one is answered
    by that version, champion or challenger; any other version is a 404 naming both."""
    challenger = loaded(tmp_path / "ridge", Ridge(alpha=0.5).fit(*diabetes), diabetes[0], version="5")
    client = client_for(
        model, tmp_path, challenger_alias="staging", ab_weights="champion=0,challenger=100", shadow_fraction=0
    )
    client.app.state.data_plane.variants.challenger.current = challenger  # type: ignore[attr-defined]
    body = {"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP64", "data": [0.01] * 10}]}
    answers = {}
    for path, variant, version in (
        (f"/v2/models/{NAME}/infer", "challenger", "5"),
        (f"/v2/models/{NAME}/versions/4/infer", "champion", "4"),
        (f"/v2/models/{NAME}/versions/5/infer", "challenger", "5"),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
        assert (response.headers["x-model-variant"], response.json()["model_version"]) == (variant, version)
        answers[path] = response.json()["outputs"][0]["data"]
    assert answers[f"/v2/models/{NAME}/infer"] != answers[f"/v2/models/{NAME}/versions/4/infer"]
    assert client.get(f"/v2/models/{NAME}").json()["versions"] == ["4", "5"]
    response = client.post(f"/v2/models/{NAME}/versions/6/infer", json=body)
    assert response.status_code == 404 and response.json()["error"].endswith("the serving versions are 4 and 5")


def test_signatures_v2_does_not_map_yet_are_a_400_not_a_500() -> None:
    """A tensor signature or a binary column (served by /predict and /invocations) is refused over V2 by name."""
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}]}).encode()
    for schema in (
        InputSchema((), tensor=TensorSpec(None, "float64", (-1, 2))),
        InputSchema((Column("a", "double"), Column("b", "binary"))),
    ):
        with pytest.raises(ServiceError) as refused:
            parse_infer(body, None, schema, 10)
        assert refused.value.status == 400 and "not yet over the Open Inference Protocol" in refused.value.message
