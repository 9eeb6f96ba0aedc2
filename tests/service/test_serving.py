"""The service over a real MLflow registry and a real Redis: loading, answers, cache, limits, errors, docs."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
import numpy as np
import pandas as pd
import pytest
import redis
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

from local import servers
from service.app import create_app
from tests.support.models import register_sklearn
from tests.support.serving import cache_settled, metric, serving, settings_for, wait_for

NAME = "svc_serving_lr"
MAX_BODY = 20_000
MAX_ROWS = 50


@pytest.fixture(scope="module")
def version(tracking: str, linear: LinearRegression, diabetes: Any) -> str:
    return register_sklearn(NAME, linear, diabetes[0])


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"test-{secrets.token_hex(3)}:"


@pytest.fixture(scope="module")
def client(
    tracking: str,
    version: str,
    redis_server: servers.RedisServer,
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    settings = settings_for(
        tracking,
        NAME,
        tmp_path_factory.mktemp("serving"),
        cache_enabled=True,
        cache_url=redis_server.url,
        cache_key_prefix=prefix,
        cache_ttl_s=120,
        max_body_bytes=MAX_BODY,
        max_batch_rows=MAX_ROWS,
    )
    with serving(settings) as client:
        yield client


def fresh_rows(features: pd.DataFrame, n: int) -> pd.DataFrame:
    """Rows no earlier request has sent (so no cache entry exists for them)."""
    rng = np.random.default_rng()
    return features.sample(n, random_state=int(rng.integers(1 << 30))) + rng.normal(
        0, 1e-3, size=(n, features.shape[1])
    )


def test_serves_the_version_the_alias_points_at(client: TestClient, version: str) -> None:
    details = client.get("/health").json()
    assert details["status"] == "ready"
    model = details["model"]
    assert (model["name"], model["version"], model["alias"], model["flavor"]) == (
        NAME,
        version,
        "production",
        "sklearn",
    )
    assert model["run_id"] and model["loaded_at"]
    assert [c["name"] for c in model["inputs"]][:3] == ["age", "sex", "bmi"]
    assert details["last_rejection"] is None and details["cache"]["circuit"] == "closed"
    assert client.get("/health/live").json() == {"status": "alive"}
    assert client.get("/health/ready").json() == {"status": "ready", "model": NAME, "version": version}
    assert client.get("/ping").status_code == 200
    details = client.get("/version/details").json()
    assert details["model"] == {"name": NAME, "version": version, "alias": "production"}
    assert details["mlflow"] == mlflow.__version__


def test_version_answers_the_bare_mlflow_version_as_mlflow_models_serve_does(client: TestClient) -> None:
    """mlflow/pyfunc/scoring_server/__init__.py@v3.17.2 `/version` answers VERSION as the body, and
    ScoringServerClient.get_version() returns the body's text; the service answered a JSON object."""
    answer = client.get("/version")
    assert answer.status_code == 200 and answer.text == mlflow.__version__
    assert answer.headers["content-type"].startswith("application/json")


def test_predictions_equal_the_models_own(
    client: TestClient, version: str, linear: LinearRegression, diabetes: Any
) -> None:
    rows = fresh_rows(diabetes[0], 20)
    by_name = client.post("/predict", json={"instances": rows.to_dict(orient="records")})
    assert by_name.status_code == 200, by_name.text
    answer = by_name.json()
    assert answer["model"] == {"name": NAME, "version": version, "alias": "production"}
    # Equal up to the last bits: BLAS sums in an order that depends on the memory layout of the input.
    np.testing.assert_allclose(answer["predictions"], linear.predict(rows), rtol=1e-12, atol=0)
    assert (by_name.headers["X-Model-Name"], by_name.headers["X-Model-Version"]) == (NAME, version)
    by_position = client.post("/predict", json={"inputs": rows.to_numpy().tolist()})
    assert by_position.json()["predictions"] == answer["predictions"]


@pytest.mark.parametrize(
    ("content_type", "make_body"),
    [
        ("application/json", lambda f: json.dumps({"dataframe_split": f.to_dict(orient="split")})),
        ("application/json", lambda f: json.dumps({"dataframe_records": f.to_dict(orient="records")})),
        ("application/json", lambda f: json.dumps({"instances": f.to_dict(orient="records")})),
        ("application/json", lambda f: json.dumps({"inputs": f.to_dict(orient="list")})),
        ("text/csv", lambda f: f.to_csv(index=False)),
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs", "csv"],
)
def test_invocations_accepts_every_mlflow_format(
    client: TestClient, linear: LinearRegression, diabetes: Any, content_type: str, make_body: Any
) -> None:
    rows = fresh_rows(diabetes[0], 5)
    answer = client.post("/invocations", content=make_body(rows), headers={"Content-Type": content_type})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], linear.predict(rows), rtol=1e-12)
    assert set(answer.json()) == {"predictions"}


def test_cache_answers_a_repeated_row_and_stores_it_per_model_version(
    client: TestClient, version: str, prefix: str, redis_server: servers.RedisServer, diabetes: Any
) -> None:
    rows = fresh_rows(diabetes[0], 4)
    body = {"instances": rows.to_dict(orient="records")}
    hits, misses = metric(client, "serving_cache_hits_total"), metric(client, "serving_cache_misses_total")
    first = client.post("/predict", json=body).json()
    cache_settled(client)
    assert metric(client, "serving_cache_misses_total") - misses == 4
    assert metric(client, "serving_cache_hits_total") == hits
    second = client.post("/predict", json={"instances": body["instances"][:2] + [rows.iloc[3].to_dict()]}).json()
    assert metric(client, "serving_cache_hits_total") - hits == 3
    assert second["predictions"] == first["predictions"][:2] + [first["predictions"][3]]
    store = redis.Redis.from_url(redis_server.url)
    keys = store.keys(f"{prefix}pred:{NAME}:{version}:*")
    assert len(keys) >= 4
    assert 0 < store.ttl(keys[0]) <= 120


# One request per mapping of an error to its status and code. Every bad input of these kinds is in the table of
# tests/service/core/test_validation.py, which runs without a server.
@pytest.mark.parametrize(
    ("body", "status", "code", "row", "field"),
    [
        ({"instances": [{"age": 1.0}]}, 422, "schema_mismatch", 0, "sex"),
        ("string", 422, "invalid_request", 1, "bmi"),
        (b"{not json", 400, "malformed_body", None, None),
        ({"inputs": [[0.0] * 10] * (MAX_ROWS + 1)}, 413, "payload_too_large", None, "inputs"),
    ],
    ids=["schema-mismatch", "invalid-request", "malformed-body", "payload-too-large"],
)
def test_bad_input_gets_its_documented_status_and_names_the_field(
    client: TestClient, diabetes: Any, body: Any, status: int, code: str, row: int | None, field: str | None
) -> None:
    good = diabetes[0].iloc[0].to_dict()
    if body == "string":
        body = {"instances": [good, {**good, "bmi": "0.5"}]}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post("/predict", content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["X-Model-Name"] == NAME, "errors name the model that judged the input"
    error = answer.json()["error"]
    assert (error["code"], error.get("row"), error.get("field")) == (code, row, field)
    if field:
        assert f"'{field}'" in error["message"] or f'"{field}"' in error["message"]
    # The documented responses of /predict list this status.
    assert str(status) in client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]


def test_a_body_over_the_limit_is_refused_before_parsing(client: TestClient) -> None:
    """Not JSON at all, yet 413: the size is checked first, from Content-Length or while streaming."""
    oversized = b"x" * (MAX_BODY + 1)
    declared = client.post("/predict", content=oversized, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 1000 + 1):
            yield b"y" * 1000

    streamed = client.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert "exceeds the limit" in streamed.json()["error"]["message"]
    mlflow_style = client.post("/invocations", content=oversized, headers={"Content-Type": "application/json"})
    assert mlflow_style.status_code == 413 and mlflow_style.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"


def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    assert client.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/health/live").headers["X-Request-ID"]
    assert len(made) == 32
    hostile = client.get("/health/live", headers={"X-Request-ID": "x\ty" + "z" * 200}).headers["X-Request-ID"]
    assert hostile != "x\ty" and len(hostile) == 32


def test_metrics_report_latency_by_route_predictions_and_the_model_version(client: TestClient, version: str) -> None:
    client.post("/predict", json={"inputs": [[0.0] * 10]})
    client.post("/predict", json={"inputs": [[0.0] * 3]})
    assert metric(client, "serving_http_request_duration_seconds_count", route="/predict", status="200") >= 1
    assert metric(client, "serving_http_request_duration_seconds_count", route="/predict", status="422") >= 1
    assert metric(client, "serving_predictions_total", endpoint="predict") >= 1
    assert metric(client, "serving_model_info", name=NAME, version=version, alias="production") == 1
    assert metric(client, "serving_model_reloads_total", result="loaded") == 1


def test_openapi_documents_the_request_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]
    schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"instances", "inputs", "params"}
    assert [p["name"] for p in predict["parameters"]] == ["output"]  # ?output=proba
    assert {"200", "400", "413", "422", "503"} <= set(predict["responses"])
    assert set(spec["paths"]["/invocations"]["post"]["requestBody"]["content"]) == {
        "application/json",
        "text/csv",
        "application/vnd.apache.parquet",
    }
    assert client.get("/docs").status_code == 200


# -------------------------------------------------- /invocations in MLflow's format (parity: test_parity.py)


def test_invocations_names_the_field_where_mlflow_does_not(client: TestClient, diabetes: Any) -> None:
    row = diabetes[0].iloc[0].to_dict()
    answer = client.post("/invocations", json={"dataframe_records": [row, {**row, "s3": None}]})
    assert answer.status_code == 400
    assert answer.json()["message"] == "row 1, field 's3': null is not a value"


def test_not_ready_is_503_in_both_formats(tracking: str, tmp_path: Path) -> None:
    """A model name the registry does not have: the service runs (live) but is never ready."""
    settings = settings_for(tracking, "svc_no_such_model", tmp_path, mlflow_max_retries=0)
    with mock.patch.dict(os.environ), TestClient(create_app(settings)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 503
        predict = client.post("/predict", json={"inputs": [[0.0] * 10]})
        assert predict.status_code == 503 and predict.json()["error"]["code"] == "model_not_ready"
        invocations = client.post("/invocations", json={"inputs": [[0.0] * 10]})
        assert invocations.status_code == 503 and invocations.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert client.get("/ping").status_code == 503
        wait_for(lambda: client.get("/health").json()["last_error"] is not None, 10, "the failed lookup is reported")
        details = client.get("/health")
        assert details.status_code == 503
        assert "svc_no_such_model" in details.json()["last_error"]["message"]


def test_a_worker_takes_requests_only_once_its_model_is_loaded(tracking: str, version: str, tmp_path: Path) -> None:
    """Startup waits for the first load: under Gunicorn a loading worker accepts nothing, its siblings serve."""
    with mock.patch.dict(os.environ), TestClient(create_app(settings_for(tracking, NAME, tmp_path))) as client:
        first = client.get("/health/ready")
        assert first.status_code == 200 and first.json()["version"] == version
