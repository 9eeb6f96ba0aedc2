"""V2 inference through the fast lane answers byte for byte as its FastAPI routes do (the contract of
tests/service/test_fastlane.py, for `POST /v2/models/{name}[/versions/{version}]/infer`): status, every header and
body, each case sent to an app with the lane on and one with it off, and measured under the same route."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.core.loader import LoadedModel
from tests.service.test_fastlane import MAX_BODY, app_for, same_answer
from tests.service.test_fastlane import model as model  # noqa: F401 - the module's model fixture, reused


def cases(features: pd.DataFrame) -> dict[str, tuple[str, str, str | None, Any]]:
    rows = features.head(3).to_numpy()
    tensor = {"name": "x", "shape": [3, 10], "datatype": "FP64", "data": rows.tolist()}
    binary_input = {"name": "x", "shape": [3, 10], "datatype": "FP64", "parameters": {"binary_data_size": 240}}
    head = json.dumps({"inputs": [binary_input]})
    binary = head.encode() + rows.astype("<f8").tobytes()

    def js(payload: object) -> bytes:
        return json.dumps(payload).encode()

    return {
        "json": ("POST", "/v2/models/lane/infer", "application/json", js({"id": "a", "inputs": [tensor]})),
        "versioned": ("POST", "/v2/models/lane/versions/7/infer", "application/json", js({"inputs": [tensor]})),
        "binary-out": (
            "POST",
            "/v2/models/lane/infer",
            None,
            js({"inputs": [tensor], "parameters": {"binary_data_output": True}}),
        ),
        "binary-in": ("POST", "/v2/models/lane/infer", f"header:{len(head)}", binary),
        "lying-size": ("POST", "/v2/models/lane/infer", f"header:{len(head)}", binary[:-8]),
        "wrong-version": ("POST", "/v2/models/lane/versions/6/infer", "application/json", js({"inputs": [tensor]})),
        "unknown-model": ("POST", "/v2/models/other/infer", "application/json", js({"inputs": [tensor]})),
        "bad-json": ("POST", "/v2/models/lane/infer", "application/json", b"{nope"),
        "too-large": ("POST", "/v2/models/lane/infer", "application/json", b" " * (MAX_BODY + 1)),
        "nested-path": ("POST", "/v2/models/lane/x/infer", "application/json", js({"inputs": [tensor]})),
    }


def send(client: TestClient, method: str, path: str, kind: str | None, body: bytes, rid: str) -> Any:
    headers = {"X-Request-ID": rid}
    if kind and kind.startswith("header:"):
        headers["Inference-Header-Content-Length"] = kind.removeprefix("header:")
    elif kind:
        headers["Content-Type"] = kind
    return client.request(method, path, content=body, headers=headers)


@pytest.fixture(scope="module")
def pair(model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, FastAPI]:  # noqa: F811
    return app_for(model, tmp_path_factory.mktemp("on"), True), app_for(model, tmp_path_factory.mktemp("off"), False)


@pytest.mark.parametrize("name", list(cases(pd.DataFrame(np.zeros((3, 10))))))
def test_v2_through_the_lane_and_the_routes_answer_byte_for_byte(
    pair: tuple[FastAPI, FastAPI], diabetes: tuple[pd.DataFrame, pd.Series], name: str
) -> None:
    on, off = (TestClient(app, raise_server_exceptions=False) for app in pair)
    method, path, kind, body = cases(diabetes[0])[name]
    with mock.patch("tests.service.test_fastlane.send", send):
        answer = same_answer(on, off, (method, path, kind, body), f"v2-{name}")
    assert answer.status_code in (200, 400, 404, 413), answer.text


def test_the_lane_answers_v2_inference_itself_under_the_routes_label(
    pair: tuple[FastAPI, FastAPI], diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    """With the lane on, the FastAPI V2 route never runs, and the latency series carry the route's template."""
    on = TestClient(pair[0], raise_server_exceptions=False)
    method, path, kind, body = cases(diabetes[0])["versioned"]
    with mock.patch("service.v2.routes.to_response", side_effect=AssertionError("the route answered")):
        assert send(on, method, path, kind, body, "lane").status_code == 200
    text = pair[0].state.data_plane.metrics.render().decode()
    assert 'route="/v2/models/{name}/versions/{version}/infer"' in text
