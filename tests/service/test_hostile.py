"""Hostile input against the app, in-process and fast: every case is a 4xx with an error body, never a
5xx, and the service stays ready. Also the request id of an unexpected 500, and the OpenAPI description of every
/invocations format (explored here by schemathesis, with "no 5xx" a hard assertion).

The model (scikit-learn LinearRegression on the diabetes data, saved as the training CLI logs it) is put into the
champion's holder directly, without a registry: these cases are about the request path, not loading.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import anyio
import mlflow
import numpy as np
import pandas as pd
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression

from service.app import create_app
from service.core.cachecost import CachePolicy
from service.core.errors import NonFiniteOutput
from service.core.loader import LoadedModel, open_model, validate
from service.core.predict import predict
from service.core.refs import VersionRef
from service.settings import Settings
from tests.support.models import PIP_REQUIREMENTS

MAX_BODY = 1_048_576  # the default
MAX_ROWS = 100
JSON = {"Content-Type": "application/json"}


def saved_model(path: Path, features: pd.DataFrame, target: pd.Series) -> LoadedModel:
    model = LinearRegression().fit(features, target)
    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(features, model.predict(features)),
        input_example=features.head(3),
        pip_requirements=PIP_REQUIREMENTS,
    )
    loaded, probe = open_model(path, VersionRef("hostile", "1", None), "production", time.monotonic())
    return replace(loaded, output_shape=validate(loaded, probe, None))


def app_serving(model: LoadedModel | None, tmp_path: Path) -> FastAPI:
    """The app with `model` as its champion and no lifespan (no reloader, no registry)."""
    with mock.patch.dict(os.environ):
        app = create_app(
            Settings(
                registry_uri="http://127.0.0.1:9",
                model_dir=tmp_path / "models",
                max_body_bytes=MAX_BODY,
                max_batch_rows=MAX_ROWS,
                # Should a lifespan run (schemathesis' ASGI transport starts one), it neither waits for nor
                # retries the registry that is not there.
                startup_load_timeout_s=0,
                mlflow_max_retries=0,
            )
        )
    app.state.data_plane.variants.champion.current = model
    return app


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, diabetes: tuple[pd.DataFrame, pd.Series]) -> LoadedModel:
    return saved_model(tmp_path_factory.mktemp("hostile") / "model", *diabetes)


@pytest.fixture(scope="module")
def app(model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return app_serving(model, tmp_path_factory.mktemp("hostile-app"))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> TestClient:
    # Not entered as a context manager: the lifespan (and its reloader, polling a registry) does not run.
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def row(diabetes: tuple[pd.DataFrame, pd.Series]) -> dict[str, float]:
    return {k: float(v) for k, v in diabetes[0].iloc[0].items()}


def _cases(row: dict[str, float]) -> dict[str, tuple[str, str, bytes]]:
    """(route, content type, body) of each hostile case."""
    cols = list(row)
    values = list(row.values())
    nested = b"[" * 2000 + b"]" * 2000
    wide = {f"c{i}": 1.0 for i in range(20_000)}

    def js(payload: object) -> bytes:
        return json.dumps(payload).encode()

    return {
        "nested-arrays": ("/predict", "application/json", nested),
        "nested-objects": ("/invocations", "application/json", b'{"a":' * 2000 + b"1" + b"}" * 2000),
        "nested-in-a-field": (
            "/invocations",
            "application/json",
            json.dumps({"dataframe_records": [{**row, "bmi": "X"}]}).encode().replace(b'"X"', nested),
        ),
        "non-string-column-list": (
            "/invocations",
            "application/json",
            json.dumps({"dataframe_split": {"columns": [["age"], *cols[1:]], "data": [values]}}).encode(),
        ),
        "non-string-column-object": (
            "/invocations",
            "application/json",
            json.dumps({"dataframe_split": {"columns": [{"a": 1}, *cols[1:]], "data": [values]}}).encode(),
        ),
        "duplicate-column": (
            "/invocations",
            "application/json",
            json.dumps({"dataframe_split": {"columns": [*cols, "age"], "data": [[*values, 5.0]]}}).encode(),
        ),
        "overflowing-output": ("/predict", "application/json", js({"instances": [{**row, "age": 1e308}]})),
        "huge-integer-literal": ("/predict", "application/json", b'{"inputs": [[1' + b"0" * 5000 + b"]]}"),
        "huge-float-literal": ("/invocations", "application/json", b'{"inputs": [{"age": 1' + b"0" * 400 + b"}]}"),
        "invalid-utf8-json": ("/invocations", "application/json", b'{"dataframe_records": [{"age": "\xff\xfe"}]}'),
        "invalid-utf8-csv": ("/invocations", "text/csv", b"age,sex\n\xff,1\n"),
        "wide-row": ("/predict", "application/json", json.dumps({"instances": [{**row, **wide}]}).encode()),
        "wide-csv": (
            "/invocations",
            "text/csv",
            (",".join(wide) + "\n" + ",".join("1" for _ in wide) + "\n").encode(),
        ),
        "long-string": ("/predict", "application/json", js({"instances": [{**row, "bmi": "x" * 100_000}]})),
        "garbage-parquet": ("/invocations", "application/vnd.apache.parquet", b"PAR1" + b"\x00" * 64 + b"PAR1"),
    }


CASES = list(_cases({"x": 0.0}))


@pytest.mark.parametrize("case", CASES)
def test_hostile_bodies_get_a_4xx_with_an_error_body_and_the_service_stays_ready(
    client: TestClient, row: dict[str, float], case: str
) -> None:
    path, content_type, raw = _cases(row)[case]
    assert len(raw) <= MAX_BODY, "each case must reach the parser, not the size limit"
    response = client.post(path, content=raw, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    error = response.json()
    message = error["error"]["message"] if path == "/predict" else error["message"]
    assert message and "internal error" not in message
    assert client.get("/health/ready").status_code == 200


def test_an_overflowing_prediction_is_refused_on_predict_and_answered_as_mlflow_does_on_invocations(
    client: TestClient, row: dict[str, float]
) -> None:
    """A finite input (age = 1e308) whose prediction overflows was answered 200 with null (orjson's rendering of
    infinity). mlflow models serve 3.17.2 answers 200 with json.dump's `-Infinity` token (parity suite)."""
    rows = [row, {**row, "age": 1e308}]
    refused = client.post("/predict", json={"instances": rows})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "prediction_not_finite" and refused.json()["error"]["row"] == 1
    answered = client.post("/invocations", json={"dataframe_records": rows})
    assert answered.status_code == 200
    predictions = json.loads(answered.text)["predictions"]  # Python's json reads Infinity, as MLflow's client does
    assert predictions[1] in (float("inf"), float("-inf")) and abs(predictions[0]) < 1e6


def test_an_unexpected_500_carries_the_request_id_in_header_body_and_log(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler ran in Starlette's ServerErrorMiddleware, outside RequestContext: no X-Request-ID, and
    "request id None" in the body and the log."""
    test_client = TestClient(app, raise_server_exceptions=False)
    with mock.patch.object(app.state.data_plane.drift, "observe", side_effect=RuntimeError("boom")):
        response = test_client.post("/predict", json={"inputs": [[0.0] * 10]}, headers={"X-Request-ID": "trace-123"})
    assert response.status_code == 500
    assert response.headers.get("X-Request-ID") == "trace-123"
    assert response.json()["error"] == {"code": "internal_error", "message": "internal error (request id trace-123)"}
    logged = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged and logged[0].exc_info is not None


def test_invocations_documents_every_mlflow_format(app: FastAPI) -> None:
    """The body was documented as {"type": "object"}, so generated requests never had a format's structure."""
    body = app.openapi()["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv", "application/vnd.apache.parquet"}
    formats = {variant["title"]: variant for variant in body["application/json"]["schema"]["oneOf"]}
    assert set(formats) == {"dataframe_split", "dataframe_records", "instances", "inputs"}
    split = formats["dataframe_split"]["properties"]["dataframe_split"]
    assert split["required"] == ["columns", "data"]
    assert split["properties"]["columns"]["items"] == {"type": "string"}


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def test_invocations_reads_parquet(client: TestClient, diabetes: tuple[pd.DataFrame, pd.Series]) -> None:
    rows = diabetes[0].head(3)
    parquet = client.post(
        "/invocations", content=_parquet(rows), headers={"Content-Type": "application/vnd.apache.parquet"}
    )
    split = client.post("/invocations", json={"dataframe_split": rows.to_dict(orient="split")})
    assert parquet.status_code == 200, parquet.text
    assert parquet.json() == split.json()


# ------------------------------------------------------------------------------ generated requests


# Built at import (schemathesis parametrizes at collection; its lazy `from_fixture` fails under pytest 9); the
# model goes into this app's holder when the test runs. No lifespan runs, so model_dir is never created.
GENERATED_APP = app_serving(None, Path("/nonexistent"))
schema = schemathesis.openapi.from_asgi("/openapi.json", GENERATED_APP)


@schema.include(path_regex="^/(predict|invocations)$").parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_prediction_requests_get_no_5xx(case: Any, model: LoadedModel) -> None:
    GENERATED_APP.state.data_plane.variants.champion.current = model
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"


class MemoryCache:
    """The PredictionCache interface over a dict: what was stored is what the test inspects."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}
        self.policy = CachePolicy("always")

    def wanted(self, model_key: str, name: str, version: str, n: int) -> bool:
        return True

    def keys(self, model_key: str, rows: Any) -> list[str]:
        return [f"{model_key}:{r.tobytes().hex()}" for r in rows]

    async def lookup(
        self, keys: list[str], shape: tuple[int, ...], kind: str = "number"
    ) -> tuple[list[Any | None], bool]:
        return [self.stored.get(k) for k in keys], True

    def put_many(self, items: dict[str, Any], shape: tuple[int, ...], kind: str = "number") -> None:
        self.stored.update(items)


def test_a_non_finite_prediction_is_never_cached(model: LoadedModel, row: dict[str, float]) -> None:
    """It was cached as null and served from the cache for the whole TTL."""
    cache = MemoryCache()
    good = np.array([list(row.values())])
    bad = np.array([list(row.values()), [1e308, *list(row.values())[1:]]])

    async def run() -> None:
        await predict(model, good, cache, offload_min_rows=64)  # type: ignore[arg-type]
        assert len(cache.stored) == 1
        with pytest.raises(NonFiniteOutput) as raised:
            await predict(model, bad, cache, offload_min_rows=64)  # type: ignore[arg-type]
        assert raised.value.row == 1 and raised.value.status == 422
        with pytest.raises(NonFiniteOutput):
            await predict(model, bad, None, offload_min_rows=64)

    anyio.run(run)
    assert len(cache.stored) == 1, "only the finite row of the first request was stored"


def test_schema_errors_on_invocations_carry_mlflows_error_class_and_sqlstate(
    client: TestClient, row: dict[str, float]
) -> None:
    """mlflow/pyfunc/__init__.py@v3.17.2 `_validate_prediction_input` raises schema failures with error_class
    SCHEMA_ENFORCEMENT_FAILED (sqlstate KAM01); the service's were derived from the code (INVALID_PARAMETER_VALUE,
    KAM00). Other input errors keep BAD_REQUEST's derived class, as MLflow's do."""
    missing = client.post("/invocations", json={"dataframe_records": [{k: v for k, v in row.items() if k != "bmi"}]})
    assert missing.status_code == 400
    body = missing.json()
    assert (body["error_code"], body["error_class"], body["sqlstate"]) == (
        "INVALID_PARAMETER_VALUE",
        "SCHEMA_ENFORCEMENT_FAILED",
        "KAM01",
    )
    null = client.post("/invocations", json={"dataframe_records": [{**row, "bmi": None}]}).json()
    assert (null["error_code"], null["error_class"], null["sqlstate"]) == (
        "BAD_REQUEST",
        "INVALID_PARAMETER_VALUE",
        "KAM00",
    )


# ------------------------------------------------------- string, datetime, binary, tensor and params inputs

NESTED = "[" * 3000 + "]" * 3000


def _typed_cases() -> dict[str, list[tuple[str, str, str | bytes]]]:
    """Corpus kind (tests/service/corpus.py) -> hostile (route, content type, body) cases for its input type."""
    js = "application/json"

    def body(payload: object) -> str:
        return json.dumps(payload)

    city = {"city": "paris", "when": "2026-01-02T00:00:00"}
    tensor_row = [[1, 2, 3], [4, 5, 6]]
    sample = {"x": 1.0, "y": 2.0}
    mixed = [
        (route, js, body({key: [{**city, **change}]}))
        for route, key in (("/predict", "instances"), ("/invocations", "dataframe_records"))
        for change in (
            {"city": 1},
            {"city": None},
            {"city": ["paris"]},
            {"city": {"a": 1}},
            {"city": True},
            {"when": "now"},
            {"when": "2026-01-02T00:00:00+02:00"},
            {"when": "9999-01-01"},
            {"when": 17},
            {"when": ""},
            {"when": None},
            {"when": "1600-01-01"},
            {"when": "2026-13-45"},
        )  # fmt: skip
    ] + [("/invocations", "text/csv", "city,when\nparis,not-a-date\n"), ("/invocations", js, body({"inputs": NESTED}))]
    binary = [
        (route, js, body({key: [{"blob": blob, "x": 1.0}]}))
        for route, key in (("/predict", "instances"), ("/invocations", "dataframe_records"))
        for blob in ("%%%", "YQ", 5, None, [1, 2], {"a": "b"}, True)
        # MLflow's base64.decodebytes drops what is not base64 ("%%%" is b"") and the service does as it does.
        if (route, blob) != ("/invocations", "%%%")
    ]
    tensor = [
        (route, js, payload)
        for route in ("/predict", "/invocations")
        for payload in (
            body({"inputs": [tensor_row[:1]]}),
            body({"inputs": [[[1, 2, 3], [4, 5, float("nan")]]]}),
            body({"inputs": [[[1, 2, 3], [4, 5, 1e300]]]}),
            body({"inputs": [[[1, 2, 3], [4, 5, "6" * 5000]]]}),
            body({"instances": [tensor_row, [[1, 2, 3]]]}),
            body({"inputs": tensor_row}),
            body({"inputs": 3}),
            body({"inputs": [tensor_row] * 101}),
            '{"inputs": ' + NESTED + "}",
            body({"inputs": [[[[[[1]]]]]]}),
            body({"inputs": {"named": [tensor_row]}}),
            body({"instances": [{"a": tensor_row}]}),
            body({"inputs": [tensor_row], "signature_name": "x"}),
            body({"inputs": [[[1, 2, 3], [4, 5, None]]]}),
        )  # fmt: skip
    ] + [("/invocations", "text/csv", "a,b\n1,2\n"), ("/invocations", js, body({"dataframe_split": {"data": []}}))]
    params = [
        (route, js, body({key: [sample], "params": value}))
        for route, key in (("/predict", "instances"), ("/invocations", "dataframe_records"))
        for value in (
            {"scale": "x"},
            {"scale": None},
            {"scale": float("inf")},
            {"scale": -1e400},
            {"scale": [1.0]},
            {"mode": 3},
            {"mode": ["a"]},
            {"offsets": "a"},
            {"offsets": [None]},
            {"offsets": [1.0] * 1001},
            {"offsets": [[1.0]]},
            [1],
            "scale",
            {"scale": {"a": 1}},
        )  # fmt: skip
    ]
    return {"mixed": mixed, "binary": binary, "tensor": tensor, "params": params}


TYPED = [(kind, i) for kind, cases in _typed_cases().items() for i in range(len(cases))]


@pytest.fixture(scope="module")
def typed_clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TestClient]:
    from service.core.trust import TrustPolicy
    from tests.service.corpus import save

    root = tmp_path_factory.mktemp("hostile-typed")
    clients = {}
    for kind in ("mixed", "binary", "tensor", "params"):
        saved = save(kind, root / kind)
        policy = TrustPolicy(allow_pickle=True)
        loaded, probe = open_model(saved.path, VersionRef("hostile", "1", None), "production", 0.0, policy)
        served = replace(loaded, output_shape=validate(loaded, probe, None))
        clients[kind] = TestClient(app_serving(served, root / f"{kind}-app"), raise_server_exceptions=False)
    return clients


@pytest.mark.parametrize(("kind", "index"), TYPED)
def test_hostile_typed_inputs_get_a_4xx_naming_the_fault(
    typed_clients: dict[str, TestClient], kind: str, index: int
) -> None:
    """String, datetime, binary, tensor and params inputs; before, each of these models was refused
    at load, and no request reached them. A 4xx with a message every time, and the service stays ready."""
    client = typed_clients[kind]
    path, content_type, raw = _typed_cases()[kind][index]
    response = client.post(path, content=raw, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, (kind, raw[:200], response.status_code, response.text[:300])
    error = response.json()
    message = error["error"]["message"] if path == "/predict" else error["message"]
    assert message and "internal error" not in message
    assert client.get("/health/ready").status_code == 200
