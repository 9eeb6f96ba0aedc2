"""Scenario 6: hostile input against the running service (Gunicorn, 2 workers).

- schemathesis generates requests for every operation of the service's own OpenAPI document: none gets a 5xx;
- oversized bodies get 413, with or without a Content-Length;
- each mapping of a bad body to its status (400 malformed, 422 invalid or not fitting the schema, 413 too many
  rows; 400 and 413 in MLflow's format on /invocations) holds over Gunicorn, the error naming the field (every
  bad input of these kinds is in the table of tests/service/core/test_validation.py, which needs no server);
- slow clients (slowloris: many connections sending their headers a byte at a time) do not starve the others.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest import mock

import httpx
import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sklearn.linear_model import LinearRegression

from local import processes, servers
from service.app import create_app
from service.settings import Settings
from tests.support.figures import Figures
from tests.support.gunicorn import Service, serving_registered

pytestmark = [pytest.mark.slow]

NAME = "rel_hostile_lr"
MAX_BODY = 64 * 1024
MAX_ROWS = 100
ROW = {"age": 0.038, "sex": 0.051, "bmi": 0.062, "bp": 0.022, "s1": -0.044,
       "s2": -0.035, "s3": -0.043, "s4": -0.003, "s5": 0.020, "s6": -0.018}  # fmt: skip


@pytest.fixture(scope="module")
def service(
    mlflow_server: servers.MlflowServer,
    linear: LinearRegression,
    features: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    limits = {"SERVING_MAX_BODY_BYTES": str(MAX_BODY), "SERVING_MAX_BATCH_ROWS": str(MAX_ROWS)}
    state = tmp_path_factory.mktemp("hostile")
    with serving_registered(mlflow_server.url, NAME, linear, features, state, settings=limits) as running:
        yield running


# ------------------------------------------------------------------------------------------ schemathesis


@pytest.fixture(scope="module")
def fuzz_statuses(figures: Figures) -> Iterator[Counter[int]]:
    statuses: Counter[int] = Counter()
    yield statuses
    figures.record(
        "6_hostile_schemathesis",
        requests=sum(statuses.values()),
        errors=sum(c for s, c in statuses.items() if s >= 500),
        statuses={str(s): c for s, c in sorted(statuses.items())},
    )


def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document, as the app builds it (no model needed: it describes the wire format)."""
    with mock.patch.dict(os.environ):
        document: dict[str, Any] = create_app(Settings(registry_uri="http://127.0.0.1:9")).openapi()
    return document


# Built when the module loads (schemathesis parametrizes at collection); the test below checks the running
# service serves this very document. (schemathesis' lazy `from_fixture` fails under pytest 9.)
OPENAPI = openapi_document()
schema = schemathesis.openapi.from_dict(OPENAPI)


def test_the_running_service_serves_the_document_fuzzed_here(service: Service) -> None:
    served = service.get("/openapi.json").json()
    assert served == OPENAPI
    assert set(served["paths"]) >= {"/predict", "/invocations", "/health", "/health/ready", "/metrics"}


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_to_every_operation_get_no_5xx(
    case: Any, service: Service, fuzz_statuses: Counter[int]
) -> None:
    response = case.call(base_url=service.url, timeout=30)
    fuzz_statuses[response.status_code] += 1
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:500]}"


# ------------------------------------------------------------------------------------------ bad bodies


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def without(key: str) -> dict[str, float]:
    return {k: v for k, v in ROW.items() if k != key}


# (case, body, status, error code, field the error names): one per mapping of an error to its status and code.
PREDICT_CASES = [
    ("malformed_json", b'{"instances": [', 400, "malformed_body", None),
    ("wrong_type", body({"instances": [{**ROW, "bmi": "high"}]}), 422, "invalid_request", "bmi"),
    ("missing_field", body({"instances": [without("bp")]}), 422, "schema_mismatch", "bp"),
    ("too_many_rows", body({"instances": [ROW] * (MAX_ROWS + 1)}), 413, "payload_too_large", "instances"),
]


@pytest.mark.parametrize(
    ("raw", "status", "code", "field"), [c[1:] for c in PREDICT_CASES], ids=[c[0] for c in PREDICT_CASES]
)
def test_bad_predict_bodies_get_the_documented_4xx_naming_the_field(
    service: Service, raw: bytes, status: int, code: str, field: str | None
) -> None:
    response = service.post("/predict", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field, error
    if field is not None:
        assert field in error["message"], error
    # The documented responses of /predict list this status.
    assert str(status) in service.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]


NO_BP = without("bp")
INVOCATION_CASES = [
    ("missing_column", body({"dataframe_split": {"columns": list(NO_BP), "data": [list(NO_BP.values())]}}), 400, "bp"),
    ("too_many_rows", body({"dataframe_records": [ROW] * (MAX_ROWS + 1)}), 413, "dataframe_records"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "status", "field"), [c[1:] for c in INVOCATION_CASES], ids=[c[0] for c in INVOCATION_CASES]
)
def test_bad_invocations_get_mlflows_error_format_naming_the_field(
    service: Service, raw: bytes, status: int, field: str
) -> None:
    response = service.post("/invocations", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) >= {"error_code", "message"}
    assert field in error["message"], error


def test_oversized_bodies_get_413_with_or_without_a_content_length(service: Service, figures: Figures) -> None:
    big = body({"instances": [ROW] * 2000})
    assert len(big) > MAX_BODY
    declared = service.post("/predict", content=big, headers={"Content-Type": "application/json"})

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    # A generator body goes out chunked, with no Content-Length: the limit holds while streaming.
    streamed = service.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    invocations = service.post("/invocations", content=big, headers={"Content-Type": "application/json"})
    for response in (declared, streamed, invocations):
        assert response.status_code == 413, response.text
    assert declared.json()["error"]["code"] == "payload_too_large"
    assert str(MAX_BODY) in streamed.json()["error"]["message"]
    figures.record("6_hostile_oversized", requests=3, errors=0, body_bytes=len(big), limit_bytes=MAX_BODY)


def test_wrong_content_type_gets_415(service: Service) -> None:
    response = service.post(
        "/invocations", content=b"age=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415


# ------------------------------------------------------------------------------------------ slowloris

SLOW_CONNECTIONS = 200
SLOW_SECONDS = 8.0
LATENCY_BOUND_S = 1.0


class Slowloris:
    """`connections` sockets each sending a request's headers one byte every `interval_s`, for `seconds`."""

    def __init__(self, host: str, port: int, connections: int, seconds: float, interval_s: float = 0.25) -> None:
        self.host, self.port = host, port
        self.connections, self.seconds, self.interval_s = connections, seconds, interval_s
        self.opened = 0
        self.bytes_sent = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        head = f"POST /predict HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n".encode() * 50
        writers = []
        for _ in range(self.connections):
            _, writer = await asyncio.open_connection(self.host, self.port)
            writers.append(writer)
            self.opened += 1
        deadline = time.monotonic() + self.seconds
        i = 0
        while time.monotonic() < deadline and i < len(head):
            for writer in writers:
                writer.write(head[i : i + 1])
            await asyncio.gather(*(w.drain() for w in writers), return_exceptions=True)
            self.bytes_sent += len(writers)
            i += 1
            await asyncio.sleep(self.interval_s)
        for writer in writers:
            writer.close()


def test_slow_clients_do_not_starve_the_others(service: Service, figures: Figures) -> None:
    port = int(service.url.rsplit(":", 1)[1])
    attack = Slowloris(processes.HOST, port, SLOW_CONNECTIONS, SLOW_SECONDS)
    attack.thread.start()
    statuses, latencies = [], []
    with httpx.Client(base_url=service.url, timeout=10) as client:
        deadline = time.monotonic() + SLOW_SECONDS
        while time.monotonic() < deadline:
            started = time.monotonic()
            statuses.append(client.post("/predict", json={"instances": [ROW]}).status_code)
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
    attack.thread.join(timeout=30)

    p99 = float(np.percentile(latencies, 99))
    figures.record(
        "6_hostile_slowloris",
        requests=len(statuses),
        errors=sum(s != 200 for s in statuses),
        slow_connections=attack.opened,
        p99_ms=round(p99 * 1000, 1),
        max_ms=round(max(latencies) * 1000, 1),
    )
    assert attack.opened == SLOW_CONNECTIONS and attack.bytes_sent > SLOW_CONNECTIONS
    assert set(statuses) == {200}
    assert p99 < LATENCY_BOUND_S, f"p99 {p99:.3f}s with {SLOW_CONNECTIONS} slow connections open"
