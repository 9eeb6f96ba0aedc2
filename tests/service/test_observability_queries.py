"""Every metric the dashboards (infra/dashboards.py) and alert rules (infra/alerts.py) query is really exported.

The service runs against the session's real MLflow and Redis with a champion (with training statistics, so drift
is measured), a challenger in shadow and A/B, and the cache on; after traffic its live `/metrics` is scraped, and
so is a real Redis exporter's (Debian's prometheus-redis-exporter, local/prometheus.py) and the session MLflow's
through the metrics listener Prometheus scrapes it by (`mlflow server --expose-prometheus` files,
images/mlflow/metrics_listener.py). A query naming a metric none exports — a typo, a renamed
metric, a forgotten `_total` — fails here rather than as an empty panel.
"""

from __future__ import annotations

import re
import secrets
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LinearRegression, Ridge

from infra import alerts, dashboards
from local import processes, prometheus, servers
from tests.service.test_variants import FailsOnBigBatches, challenger_serving, register_with_stats
from tests.support.models import register_pyfunc
from tests.support.serving import serving, settings_for, wait_for

pytestmark = pytest.mark.slow

MATCHER = 'job="inference"'
# Series Prometheus itself writes for every target (https://prometheus.io/docs/concepts/jobs_instances/).
SYNTHETIC = {"up"}
# The sample names of each metric type (https://prometheus.io/docs/instrumenting/exposition_formats/), for a
# labelled family declared on /metrics before its first sample.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
# PromQL words that are not metric names (https://prometheus.io/docs/prometheus/latest/querying/operators/).
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords, label names."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery windows
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        word = match.group(0)
        end = match.end()
        if word in KEYWORDS or text[end:].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def test_metric_names_are_parsed_out_of_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (route, le) (rate(a_bucket{job="x",le="+Inf"}[$__rate_interval]))) '
        "/ on (instance) group_left (version) max by (instance) (b_info == 1) unless c_total offset 5m > bool 0.5"
    )
    assert metric_names(expr) == {"a_bucket", "b_info", "c_total"}


def exported(text: str) -> set[str]:
    """Names a query may use: every family's samples, and its name with the suffixes of its type."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


@pytest.fixture(scope="module")
def live_metrics(
    tracking: str,
    mlflow_server: servers.MlflowServer,
    redis_server: servers.RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
    linear: LinearRegression,
    ridge: Ridge,
    diabetes: Any,
) -> Iterator[tuple[str, str, str]]:
    """(the service's, the Redis exporter's, MLflow's metrics listener's /metrics) after traffic of every kind."""
    tmp = tmp_path_factory.mktemp("observability")
    features = diabetes[0]
    name = "svc_observability"
    register_with_stats(name, linear, features, tmp)
    flaky = FailsOnBigBatches(ridge.coef_.tolist(), float(ridge.intercept_), list(features.columns))
    register_pyfunc(name, flaky, features, alias="challenger")
    settings = settings_for(
        # The challenger is a python_function model (cloudpickle): trusted here, as in test_variants.py.
        tracking, name, tmp, challenger_alias="challenger", shadow_fraction=1.0, allow_pickle_models=True,
        ab_weights="champion=50,challenger=50", drift_window_rows=100,
        cache_enabled=True, cache_url=redis_server.url, cache_key_prefix=f"obs-{secrets.token_hex(3)}:",
    )  # fmt: skip
    exporter = prometheus.start_redis_exporter(tmp, processes.free_port(), redis_server)
    listener = prometheus.start_mlflow_metrics_listener(tmp, processes.free_port(), mlflow_server)
    try:
        with serving(settings) as client:
            wait_for(lambda: challenger_serving(client), 20, "the challenger loads")
            for i in range(12):
                # 2 rows: the challenger answers (shadow differences); 5 rows: it fails (errors, fallbacks).
                rows = features.iloc[i * 5 : i * 5 + (2 if i % 2 else 5)]
                for _ in range(2):  # the second time from the cache
                    body = {"instances": rows.to_dict(orient="records")}
                    client.post("/predict", json=body, headers={"X-User-Id": f"visitor-{i}"})
            # A full drift window (100 rows, the smallest the service accepts) to measure PSI.
            client.post("/predict", json={"instances": features.iloc[:100].to_dict(orient="records")})
            wait_for(lambda: "serving_shadow_abs_difference_count" in client.get("/metrics").text, 10, "shadow")
            service = client.get("/metrics").text
        with urllib.request.urlopen(exporter.metrics_url, timeout=10) as resp:  # noqa: S310 - loopback
            redis = resp.read().decode()
        # The service's model loads above went through this MLflow, so its request series have samples.
        with urllib.request.urlopen(listener.metrics_url, timeout=10) as resp:  # noqa: S310 - loopback
            mlflow = resp.read().decode()
        yield service, redis, mlflow
    finally:
        listener.stop()
        exporter.stop()


def test_every_dashboard_query_names_exported_metrics(live_metrics: tuple[str, str, str]) -> None:
    available = set().union(*(exported(text) for text in live_metrics)) | SYNTHETIC
    queries = dashboards.queries(MATCHER)
    assert len(queries) > 20
    missing = {q: sorted(metric_names(q) - available) for q in queries if metric_names(q) - available}
    assert not missing, missing


def test_every_alert_rule_names_exported_metrics(live_metrics: tuple[str, str, str]) -> None:
    """The service's rules read its /metrics; MLflow's reads the metrics listener's (no other exporter's)."""
    available = exported(live_metrics[0]) | exported(live_metrics[2]) | SYNTHETIC
    scope = alerts.AlertScope(MATCHER, champion_alias="production", drift_threshold=0.2, mlflow_matcher='job="mlflow"')
    assert any(g["name"] == "mlflow" for g in alerts.rule_groups(scope))
    rules = [r for g in alerts.rule_groups(scope) for r in g["rules"]]
    missing = {r["alert"]: sorted(metric_names(r["expr"]) - available) for r in rules}
    assert not any(missing.values()), missing


def test_the_traffic_produced_the_series_the_panels_plot(live_metrics: tuple[str, str, str]) -> None:
    """Declared is not enough for the panels that matter: these must have samples after the traffic above."""
    with_samples = {s.name for f in text_string_to_metric_families("".join(live_metrics)) for s in f.samples}
    for name in (
        "serving_http_request_duration_seconds_bucket",
        "serving_variant_requests_total",
        "serving_model_info",
        "serving_model_reloads_total",
        "serving_cache_hits_total",
        "serving_drift_psi",
        "serving_shadow_abs_difference_count",
        "serving_shadow_challenger_errors_total",
        "serving_ab_fallbacks_total",
        "redis_up",
        "redis_commands_processed_total",
        "mlflow_http_request_total",
        "mlflow_http_request_duration_seconds_bucket",
    ):
        assert name in with_samples, name


def test_dashboards_ship_valid_grafana_json() -> None:
    import json

    boards = dashboards.dashboards(MATCHER)
    assert set(boards) == {"inference-golden-signals.json", "inference-models.json", "inference-dependencies.json"}
    for file, text in boards.items():
        board = json.loads(text)
        assert board["uid"] == file.removesuffix(".json") and board["panels"], file
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{file}: panel ids must be unique"
        for panel in board["panels"]:
            assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"]), panel["title"]
