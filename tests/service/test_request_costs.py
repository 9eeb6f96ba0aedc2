"""Per-request work that is not the prediction: the access line is sampled (errors always logged), the latency
histogram gets one observation per request through a child bound once, added up in a tally that is written at
every read."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from service.core.reload import ModelHolder
from service.core.telemetry import LATENCY_BUCKETS, Tally
from service.metrics import Metrics
from service.middleware import RequestContext


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def refused(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=422)


def client(sample: float, metrics: Metrics) -> TestClient:
    app = Starlette(
        routes=[Route("/ok", ok), Route("/refused", refused, methods=["POST"])],
        middleware=[Middleware(RequestContext, metrics=metrics, holder=ModelHolder(), access_sample=sample)],
    )
    return TestClient(app)


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in caplog.records if r.name == "service.access"]  # type: ignore[attr-defined]


def test_successes_are_not_logged_by_default_and_errors_always_are(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"), client(0.0, Metrics()) as http:
        for _ in range(20):
            assert http.get("/ok").status_code == 200
        assert http.post("/refused").status_code == 422
        assert http.get("/nowhere").status_code == 404
    assert lines(caplog) == [("/refused", 422), ("/nowhere", 404)]


def test_a_sample_of_one_logs_every_request(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"), client(1.0, Metrics()) as http:
        for _ in range(3):
            http.get("/ok")
    assert lines(caplog) == [("/ok", 200)] * 3


def test_every_request_is_observed_once_whatever_is_logged() -> None:
    metrics = Metrics()
    with client(0.0, metrics) as http:
        for _ in range(5):
            http.get("/ok")
        http.post("/refused")
    count = metrics.registry.get_sample_value
    assert count("serving_http_request_duration_seconds_count", {"route": "/ok", "method": "GET", "status": "200"}) == 5
    assert (
        count("serving_http_request_duration_seconds_count", {"route": "/refused", "method": "POST", "status": "422"})
        == 1
    )


class Served:
    name, version = "m", "7"


async def versioned(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers={"X-Model-Name": "m", "X-Model-Version": "6", "X-Request-ID": "app's"})


def test_answers_carry_the_request_id_the_model_and_while_draining_connection_close() -> None:
    """The headers RequestContext sets, now as raw pairs: each once, the route's model version kept."""
    holder = ModelHolder()
    holder.current = Served()  # type: ignore[assignment]
    app = Starlette(
        routes=[Route("/ok", ok), Route("/versioned", versioned)],
        middleware=[Middleware(RequestContext, metrics=Metrics(), holder=holder, access_sample=0.0)],
    )
    with TestClient(app) as http:
        plain = http.get("/ok", headers={"X-Request-ID": "abc-1"})
        assert plain.headers["x-request-id"] == "abc-1"
        assert (plain.headers["x-model-name"], plain.headers["x-model-version"]) == ("m", "7")
        routed = http.get("/versioned")
        assert routed.headers.get_list("x-model-version") == ["6"], "the version the route used, once"
        assert len(routed.headers.get_list("x-request-id")) == 1 and routed.headers["x-request-id"] != "app's"
        assert "close" not in routed.headers.get("connection", "")
        app.state.draining = True
        assert http.get("/ok").headers["connection"] == "close"


def test_a_tally_writes_what_the_same_calls_made_one_by_one_write() -> None:
    """The per-request series go through `Tally` (flushed every second and on every read). Its flush writes a
    histogram child's private `_sum` and `_buckets` (prometheus_client 0.26.0, metrics.py `Histogram.observe`:
    the amount goes to the first bucket whose upper bound is >= it): the exposition must be the one that
    observing each amount gives, bounds, zero and +Inf included. Fails if an upgrade moves those internals."""
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    tally = Tally(tallied)
    series = [
        (
            Histogram("t_seconds", "t", ["route"], buckets=LATENCY_BUCKETS, registry=registry),
            Counter("t_rows", "rows", ["endpoint"], registry=registry),
            Gauge("t_psi", "psi", ["feature"], registry=registry),
        )
        for registry in (direct, tallied)
    ]
    amounts = [0.0, 0.001, 0.0010001, 0.004, 0.25, 2.5, 9.99, 10.0, 10.5, 3600.0, *LATENCY_BUCKETS]
    for i, amount in enumerate(amounts):
        route, endpoint = ("/a", "x") if i % 3 else ("/b", "y")
        series[0][0].labels(route).observe(amount)
        series[0][1].labels(endpoint).inc(i)
        tally.observe(series[1][0].labels(route), amount)
        tally.inc(series[1][1].labels(endpoint), i)
        series[0][2].labels(route).set(amount)
        tally.set(series[1][2].labels(route), amount)  # the last value set is the one written

    def exposition(registry: CollectorRegistry) -> list[str]:
        return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]

    assert tallied.get_sample_value("t_seconds_count", {"route": "/a"}) == sum(1 for i in range(len(amounts)) if i % 3)
    assert exposition(tallied) == exposition(direct)
