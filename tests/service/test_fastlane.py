"""The fast lane answers exactly as the FastAPI routes do: one table of requests, byte for byte through both.

Each case goes to an app with the lane on and to one with it off (`SERVING_FAST_LANE=false`: FastAPI's routes
answer), with a fixed X-Request-ID; status, every header (names, values, order) and body must be identical.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import anyio
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from service.app import create_app
from service.core.loader import LoadedModel
from service.core.refs import VersionRef
from service.dataplane import Reply
from service.responses import raw_headers, to_response
from service.settings import Settings
from tests.support.models import loaded_linear_model, loaded_sklearn_model

MAX_BODY = 8192
MAX_ROWS = 20


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, diabetes: tuple[pd.DataFrame, pd.Series]) -> LoadedModel:
    return loaded_linear_model(tmp_path_factory.mktemp("fastlane"), diabetes, VersionRef("lane", "7", None))


def app_for(model: LoadedModel | None, tmp_path: Path, fast_lane: bool) -> FastAPI:
    with mock.patch.dict(os.environ):
        app = create_app(
            Settings(
                registry_uri="http://127.0.0.1:9",
                model_dir=tmp_path,
                max_body_bytes=MAX_BODY,
                max_batch_rows=MAX_ROWS,
                fast_lane=fast_lane,
            )
        )
    app.state.data_plane.variants.champion.current = model
    return app


@pytest.fixture(scope="module")
def pair(model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, FastAPI]:
    return app_for(model, tmp_path_factory.mktemp("on"), True), app_for(model, tmp_path_factory.mktemp("off"), False)


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _chunks(body: bytes) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked): the limit must hold while streaming."""
    for i in range(0, len(body), 1000):
        yield body[i : i + 1000]


def table(features: pd.DataFrame) -> dict[str, tuple[str, str, str | None, Any]]:
    """name -> (method, path, content type, body: bytes, or a callable giving a fresh chunk iterator)."""
    three = features.head(3)
    row = {k: float(v) for k, v in features.iloc[0].items()}
    records = three.to_dict(orient="records")

    def js(payload: object) -> bytes:
        return json.dumps(payload).encode()

    big = js({"instances": [row] * 60, "padding": "x" * MAX_BODY})
    return {
        "predict-instances": ("POST", "/predict", "application/json", js({"instances": records})),
        "predict-inputs-columnar": ("POST", "/predict", "application/json", js({"inputs": three.to_dict("list")})),
        "predict-no-content-type": ("POST", "/predict", None, js({"instances": records})),
        "invocations-split": (
            "POST",
            "/invocations",
            "application/json",
            js({"dataframe_split": three.to_dict("split")}),
        ),
        "invocations-records": ("POST", "/invocations", "application/json", js({"dataframe_records": records})),
        "invocations-instances": ("POST", "/invocations", "application/json", js({"instances": records})),
        "invocations-inputs": ("POST", "/invocations", "application/json", js({"inputs": records})),
        "invocations-csv": ("POST", "/invocations", "text/csv", three.to_csv(index=False).encode()),
        "invocations-parquet": ("POST", "/invocations", "application/vnd.apache.parquet", _parquet(three)),
        "invocations-json-charset": (
            "POST",
            "/invocations",
            "application/json; charset=utf-8",
            js({"inputs": records}),
        ),
        "predict-bad-json": ("POST", "/predict", "application/json", b'{"instances": [1,'),
        "invocations-bad-json": ("POST", "/invocations", "application/json", b'{"inputs": [1,'),
        "invocations-text-plain": ("POST", "/invocations", "text/plain", b"age,sex\n1,2\n"),
        "invocations-no-content-type": ("POST", "/invocations", None, js({"inputs": records})),
        "predict-too-large": ("POST", "/predict", "application/json", big),
        "invocations-too-large": ("POST", "/invocations", "application/json", big),
        "predict-too-large-chunked": ("POST", "/predict", "application/json", lambda: _chunks(big)),
        "invocations-too-large-chunked": ("POST", "/invocations", "application/json", lambda: _chunks(big)),
        "predict-chunked": ("POST", "/predict", "application/json", lambda: _chunks(js({"instances": records}))),
        "predict-too-many-rows": ("POST", "/predict", "application/json", js({"instances": [row] * (MAX_ROWS + 1)})),
        "predict-missing-column": (
            "POST",
            "/predict",
            "application/json",
            js({"instances": [{k: v for k, v in row.items() if k != "bmi"}]}),
        ),
        "predict-string-value": ("POST", "/predict", "application/json", js({"instances": [{**row, "bmi": "x"}]})),
        "invocations-extra-column": (
            "POST",
            "/invocations",
            "application/json",
            js({"dataframe_split": {"columns": [*row, "zz"], "data": [[*row.values(), 1.0]]}}),
        ),
        "predict-nan": ("POST", "/predict", "application/json", b'{"inputs": [[NaN,1,1,1,1,1,1,1,1,1]]}'),
        "predict-overflowing-output": (
            "POST",
            "/predict",
            "application/json",
            js({"instances": [{**row, "age": 1e308}]}),
        ),
        "invocations-overflowing-output": (
            "POST",
            "/invocations",
            "application/json",
            js({"dataframe_records": [{**row, "age": 1e308}]}),
        ),
        # A regressor has no predict_proba; `output` is this service's parameter, /invocations has none.
        "predict-proba-of-a-regressor": ("POST", "/predict?output=proba", "application/json", js({"inputs": [row]})),
        "predict-output-unknown": ("POST", "/predict?output=logits", "application/json", js({"inputs": [row]})),
        "invocations-output-ignored": (
            "POST",
            "/invocations?output=logits",
            "application/json",
            js({"dataframe_records": records}),
        ),
        "predict-empty-body": ("POST", "/predict", "application/json", b""),
        "predict-get": ("GET", "/predict", None, b""),
        "predict-trailing-slash": ("POST", "/predict/", "application/json", js({"instances": records})),
    }


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    features = load_iris(as_frame=True).data
    features.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return features


@pytest.fixture(scope="module")
def classifier_pair(iris: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, FastAPI]:
    """A classifier with predict_proba (integer classes), answered with the lane on and off."""
    estimator = LogisticRegression(max_iter=500).fit(iris, load_iris().target)
    model = loaded_sklearn_model(tmp_path_factory.mktemp("iris"), estimator, iris, VersionRef("iris", "3", None))
    assert model.proba is not None, "the fixture must be a model that answers output=proba"
    return app_for(model, tmp_path_factory.mktemp("iris-on"), True), app_for(
        model, tmp_path_factory.mktemp("iris-off"), False
    )


def classifier_table(features: pd.DataFrame) -> dict[str, tuple[str, str, str | None, Any]]:
    """`/predict?output=proba`, good and bad, read from the query string as FastAPI reads its `output` parameter."""
    records = features.iloc[[0, 60, 120]].to_dict(orient="records")
    body = json.dumps({"instances": records}).encode()
    bad = json.dumps({"instances": [{**records[0], "petal_width": "wide"}]}).encode()
    split = json.dumps({"dataframe_split": features.iloc[[0, 60]].to_dict("split")}).encode()
    return {
        "proba": ("POST", "/predict?output=proba", "application/json", body),
        "proba-labels": ("POST", "/predict?output=predict", "application/json", body),
        "proba-last-value-wins": ("POST", "/predict?output=logits&output=proba", "application/json", body),
        "proba-percent-encoded": ("POST", "/predict?output=prob%61", "application/json", body),
        "proba-blank": ("POST", "/predict?output=", "application/json", body),
        "proba-bad-value": ("POST", "/predict?output=proba", "application/json", bad),
        "proba-bad-json": ("POST", "/predict?output=proba", "application/json", b'{"instances": ['),
        "proba-too-many-rows": (
            "POST",
            "/predict?output=proba",
            "application/json",
            json.dumps({"instances": records * MAX_ROWS}).encode(),
        ),
        "proba-on-invocations-is-ignored": ("POST", "/invocations?output=proba", "application/json", split),
    }


def send(client: TestClient, method: str, path: str, content_type: str | None, body: Any, rid: str) -> Any:
    headers = {"X-Request-ID": rid}
    if content_type is not None:
        headers["Content-Type"] = content_type
    content = body() if callable(body) else body
    return client.request(method, path, content=content, headers=headers, follow_redirects=False)


def same_answer(on: TestClient, off: TestClient, case: tuple[str, str, str | None, Any], rid: str) -> Any:
    fast, routed = send(on, *case, rid), send(off, *case, rid)
    assert (fast.status_code, fast.headers.raw, fast.content) == (
        routed.status_code,
        routed.headers.raw,
        routed.content,
    )
    return fast


@pytest.mark.parametrize("name", list(table(pd.DataFrame({"x": [0.0]}))))
def test_the_fast_lane_and_the_routes_answer_byte_for_byte(
    pair: tuple[FastAPI, FastAPI], diabetes: tuple[pd.DataFrame, pd.Series], name: str
) -> None:
    on, off = (TestClient(app, raise_server_exceptions=False) for app in pair)
    answer = same_answer(on, off, table(diabetes[0])[name], f"case-{name}")
    assert answer.headers["X-Request-ID"] == f"case-{name}"
    if name in ("predict-instances", "invocations-csv"):
        assert answer.status_code == 200 and answer.headers["X-Model-Variant"] == "champion"


@pytest.mark.parametrize("name", list(classifier_table(pd.DataFrame({"x": [0.0] * 121}))))
def test_output_proba_is_answered_byte_for_byte_too(
    classifier_pair: tuple[FastAPI, FastAPI], iris: pd.DataFrame, name: str
) -> None:
    on, off = (TestClient(app, raise_server_exceptions=False) for app in classifier_pair)
    answer = same_answer(on, off, classifier_table(iris)[name], f"case-{name}")
    if name in ("proba", "proba-last-value-wins", "proba-percent-encoded"):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["classes"] == [0, 1, 2] and len(body["predictions"][0]) == 3
    if name == "proba-on-invocations-is-ignored":
        assert answer.status_code == 200 and answer.json()["predictions"] == [0, 1], "labels, as MLflow answers"


def test_the_fast_lane_answers_the_prediction_routes_itself(
    pair: tuple[FastAPI, FastAPI], diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    """The table passes trivially if the lane never engages: with it on, the FastAPI route must not run."""
    on, off = (TestClient(app, raise_server_exceptions=False) for app in pair)
    case = table(diabetes[0])["predict-instances"]
    with mock.patch("service.routes.predict.to_response", side_effect=AssertionError("the route answered")):
        assert send(on, *case, "lane").status_code == 200
        assert send(off, *case, "route").status_code == 500


def test_no_model_and_unexpected_errors_are_answered_alike(
    model: LoadedModel, tmp_path: Path, diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    empty = [TestClient(app_for(None, tmp_path / str(f), f), raise_server_exceptions=False) for f in (True, False)]
    cases = table(diabetes[0])
    for name in ("predict-instances", "invocations-split", "predict-too-large"):
        assert same_answer(*empty, cases[name], f"empty-{name}").status_code in (503, 413)

    apps = [app_for(model, tmp_path / f"boom-{f}", f) for f in (True, False)]
    clients = [TestClient(app, raise_server_exceptions=False) for app in apps]
    with (
        mock.patch.object(apps[0].state.data_plane.drift, "observe", side_effect=RuntimeError("boom")),
        mock.patch.object(apps[1].state.data_plane.drift, "observe", side_effect=RuntimeError("boom")),
    ):
        for name in ("predict-instances", "invocations-records"):
            answer = same_answer(*clients, cases[name], f"boom-{name}")
            assert answer.status_code == 500 and "boom-" in answer.text


def test_the_fast_lanes_requests_are_measured_under_their_route(
    model: LoadedModel, tmp_path: Path, diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    """RequestContext labels the latency histogram with the matched route's template (scope["route"]); the lane
    sets it as FastAPI's routing does, so the series are the same."""
    apps = [app_for(model, tmp_path / str(f), f) for f in (True, False)]
    clients = [TestClient(app, raise_server_exceptions=False) for app in apps]
    cases = table(diabetes[0])
    for name in ("predict-instances", "invocations-bad-json", "predict-too-large"):
        same_answer(*clients, cases[name], name)

    def requests(app: FastAPI) -> list[str]:
        text = app.state.data_plane.metrics.render().decode()
        return sorted(
            line for line in text.splitlines() if line.startswith("serving_http_request_duration_seconds_count")
        )

    lines = requests(apps[0])
    assert any('route="/predict"' in line for line in lines) and lines == requests(apps[1])


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b'{"predictions":[1.0]}', headers={"X-Model-Name": "m", "X-Model-Version": "7"}),
        Reply(200, b"[]"),
        Reply(415, b"Content type text/plain is not supported", "text/plain"),
        Reply(200, b"x", "text/plain; charset=latin-1"),
        Reply(200, b"\x00\x01", "application/octet-stream", {"Inference-Header-Content-Length": "12"}),
        Reply(200, b"{}", headers={"Content-Type": "application/x", "Content-Length": "2"}),
        Reply(204, b""),
        Reply(304, b""),
        Reply(103, b""),
    ],
)
def test_the_lane_sends_the_header_pairs_a_starlette_response_sends(reply: Reply) -> None:
    """The lane writes its answers' headers itself (no Response object per request); the routes send
    `to_response(reply)`. Starlette's rules (starlette/responses.py `init_headers` @1.10.0): the given headers
    lower-cased, then content-length unless given or the status is 1xx, 204 or 304, then the media type, with
    `; charset=utf-8` on a text type without one, unless a content-type was given."""
    assert raw_headers(reply) == to_response(reply).raw_headers


def test_the_lane_reads_the_body_as_starlettes_request_stream_does() -> None:
    """The lane's body reader (an iterator, not an async generator) reads what Starlette's `Request.stream` reads
    (starlette/requests.py @1.10.0): the chunks up to the message without `more_body` (Starlette adds an empty
    one at the end), and ClientDisconnect when the client goes away first."""
    from starlette.requests import ClientDisconnect, Request

    from service.fastlane import _Body

    def receiver(messages: list[dict[str, Any]]) -> Any:
        queue = iter(messages)

        async def receive() -> dict[str, Any]:
            return next(queue)

        return receive

    async def read(stream: Any) -> bytes | str:
        try:
            return b"".join([chunk async for chunk in stream])
        except ClientDisconnect:
            return "disconnect"

    scope = {"type": "http", "method": "POST", "headers": []}
    cases = [
        [{"type": "http.request", "body": b"abc"}],
        [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.request", "more_body": True},
         {"type": "http.request", "body": b"b", "more_body": False}],
        [{"type": "http.request", "body": b"", "more_body": True}, {"type": "http.request", "body": b"z"}],
        [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}],
    ]  # fmt: skip
    read_by = [anyio.run(read, _Body(receiver(messages))) for messages in cases]
    assert read_by == [anyio.run(read, Request(scope, receiver(messages)).stream()) for messages in cases]
    assert read_by == [b"abc", b"ab", b"z", "disconnect"]
