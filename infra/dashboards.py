"""Grafana dashboards of the inference service, generated with grafanalib (pinned in requirements.txt).

`dashboards(matcher)` returns each dashboard's JSON model by file name. The cluster ships them as ConfigMaps the
Grafana sidecar of kube-prometheus-stack loads (label `grafana_dashboard: "1"`, infra/monitoring.py); every
query is scoped by the same label matcher as the alert rules (infra/alerts.py). Pure data, no Pulumi, no I/O.
tests/service/test_observability_queries.py checks each query names only metrics the service really exports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafanalib import core
from grafanalib._gen import DashboardEncoder

from infra.alerts import LATENCY_SLO_SECONDS, PREDICTION_ROUTES

DATASOURCE = "${datasource}"
WIDTH, HEIGHT = 12, 8  # two panels a row on Grafana's 24-column grid
RATE = "$__rate_interval"  # Grafana's rate window: at least four scrape intervals


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "state" (a state timeline: which value held when)
    description: str = ""


def dashboards(matcher: str) -> dict[str, str]:
    """JSON models by file name; `matcher` scopes the service's series (e.g. 'namespace="inference"')."""
    boards = {
        "inference-golden-signals.json": ("Inference: golden signals", _golden_signals(matcher)),
        "inference-models.json": ("Inference: models, variants, drift", _models(matcher)),
        "inference-dependencies.json": ("Inference: cache, MLflow and Redis", _dependencies(matcher)),
    }
    return {file: _render(file.removesuffix(".json"), title, panels) for file, (title, panels) in boards.items()}


def queries(matcher: str) -> list[str]:
    """Every PromQL expression of every dashboard (for the test that checks them against a live /metrics)."""
    return [
        target["expr"]
        for board in dashboards(matcher).values()
        for panel in json.loads(board)["panels"]
        for target in panel.get("targets", [])
    ]


def _golden_signals(m: str) -> list[Panel]:
    http = f"serving_http_request_duration_seconds_bucket{{{m}"
    predict = f'route=~"{PREDICTION_ROUTES}"'

    def quantile(q: str) -> Query:
        expr = f"histogram_quantile({q}, sum by (route, le) (rate({http}}}[{RATE}])))"
        return Query(expr, f"p{q[2:]} {{{{route}}}}")

    return [
        Panel(
            "Traffic by route",
            (Query(f'sum by (route) (rate({http},le="+Inf"}}[{RATE}]))', "{{route}}"),),
            "reqps",
        ),
        Panel(
            "5xx ratio by route",
            (
                Query(
                    f'sum by (route) (rate({http},le="+Inf",status=~"5.."}}[{RATE}])) '
                    f'/ sum by (route) (rate({http},le="+Inf"}}[{RATE}]))',
                    "{{route}}",
                ),
            ),
            "percentunit",
            description="503: no model loaded (not ready); 500: our fault. Alert: InferenceServingErrors.",
        ),
        Panel("Latency by route", (quantile("0.5"), quantile("0.95"), quantile("0.99")), "s"),
        Panel(
            f"Prediction requests within the {LATENCY_SLO_SECONDS} s SLO",
            (
                Query(
                    f'sum(rate({http},{predict},le="{LATENCY_SLO_SECONDS}"}}[{RATE}])) '
                    f'/ sum(rate({http},{predict},le="+Inf"}}[{RATE}]))',
                    "within SLO",
                ),
            ),
            "percentunit",
            description="Alerts: InferenceLatencyBudgetFastBurn / SlowBurn (infra/alerts.py).",
        ),
        Panel(
            "Requests by model version",
            (
                Query(
                    f"sum by (variant, version, outcome) (rate(serving_variant_requests_total{{{m}}}[{RATE}]))",
                    "{{variant}} v{{version}} {{outcome}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Prediction latency p95 by model version",
            (
                Query(
                    "histogram_quantile(0.95, sum by (variant, version, le) "
                    f"(rate(serving_variant_prediction_duration_seconds_bucket{{{m}}}[{RATE}])))",
                    "{{variant}} v{{version}}",
                ),
            ),
            "s",
        ),
        Panel(
            "Rows predicted by endpoint",
            (Query(f"sum by (endpoint) (rate(serving_predictions_total{{{m}}}[{RATE}]))", "{{endpoint}}"),),
            "rowsps",
        ),
    ]


def _models(m: str) -> list[Panel]:
    return [
        Panel(
            "Alias timeline: version served",
            (Query(f"max by (alias, version) (serving_model_info{{{m}}})", "{{alias}} v{{version}}"),),
            kind="state",
            description="Each version's span behind its alias: a promotion or rollback is where one ends and the "
            "next begins; two at once behind one alias is a mixed fleet (alert InferenceMixedVersions).",
        ),
        Panel(
            "Model loads: promotions, rollbacks, rejected versions",
            (
                Query(
                    f"sum by (alias, result) (increase(serving_model_reloads_total{{{m}}}[{RATE}]))",
                    "{{alias}} {{result}}",
                ),
            ),
            description="loaded: a promotion or rollback took effect; rejected: the version failed validation "
            "and the old one kept serving; failed: MLflow could not be reached or the artifact not loaded.",
        ),
        Panel(
            "Workers serving each version",
            (
                Query(
                    f"count by (alias, version) (serving_model_info{{{m}}} == 1)",
                    "{{alias}} v{{version}}",
                ),
            ),
        ),
        Panel(
            "Champion / challenger split",
            (
                Query(
                    f"sum by (variant) (rate(serving_variant_requests_total{{{m}}}[{RATE}]))",
                    "A/B {{variant}}",
                ),
                Query(
                    f"sum(rate(serving_shadow_challenger_duration_seconds_count{{{m}}}[{RATE}]))",
                    "shadow batches",
                ),
                Query(f"sum by (reason) (rate(serving_ab_fallbacks_total{{{m}}}[{RATE}]))", "fallback {{reason}}"),
            ),
            "reqps",
        ),
        Panel(
            "Challenger error ratio",
            (
                Query(
                    f'sum(rate(serving_variant_requests_total{{{m},variant="challenger",outcome="error"}}[{RATE}])) '
                    f'/ sum(rate(serving_variant_requests_total{{{m},variant="challenger"}}[{RATE}]))',
                    "A/B",
                ),
                Query(
                    f"sum(rate(serving_shadow_challenger_errors_total{{{m}}}[{RATE}])) "
                    f"/ sum(rate(serving_shadow_challenger_duration_seconds_count{{{m}}}[{RATE}]))",
                    "shadow",
                ),
            ),
            "percentunit",
            description="Alert: InferenceChallengerErrors (over 5 % for 15 minutes).",
        ),
        Panel(
            "Shadow: mean |champion - challenger|",
            (
                Query(
                    f"sum(rate(serving_shadow_abs_difference_sum{{{m}}}[{RATE}])) "
                    f"/ sum(rate(serving_shadow_abs_difference_count{{{m}}}[{RATE}]))",
                    "mean abs difference",
                ),
                Query(f"sum(rate(serving_shadow_dropped_total{{{m}}}[{RATE}]))", "dropped batches/s"),
            ),
        ),
        Panel(
            "Drift: PSI by feature",
            (Query(f"max by (feature) (serving_drift_psi{{{m}}})", "{{feature}}"),),
            description="Alert: InferenceInputDrift above drift.threshold for 30 minutes; GET /drift on a pod.",
        ),
        Panel(
            "Drift: share of inputs outside the training range",
            (Query(f"max by (feature) (serving_drift_out_of_range_ratio{{{m}}})", "{{feature}}"),),
            "percentunit",
        ),
    ]


def _dependencies(m: str) -> list[Panel]:
    return [
        Panel(
            "Cache hit ratio",
            (
                Query(
                    f"sum(rate(serving_cache_hits_total{{{m}}}[{RATE}])) / (sum(rate(serving_cache_hits_total{{{m}}}"
                    f"[{RATE}])) + sum(rate(serving_cache_misses_total{{{m}}}[{RATE}])))",
                    "hit ratio",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Cache breaker (1 = open) and cache errors",
            (
                Query(f"max(serving_cache_circuit_open{{{m}}})", "breaker open"),
                Query(f"sum by (operation) (rate(serving_cache_errors_total{{{m}}}[{RATE}]))", "errors {{operation}}"),
            ),
            description="Open: Redis failed or was slow; every prediction is computed (fail-open). Alert: "
            "InferenceCacheBreakerOpen.",
        ),
        Panel(
            "MLflow as the service sees it: model loads that failed",
            (
                Query(
                    f'sum by (alias) (increase(serving_model_reloads_total{{{m},result="failed"}}[{RATE}]))',
                    "{{alias}}",
                ),
            ),
            description="A failed load is MLflow unreachable, slow past its timeout, or an artifact missing; the "
            "service keeps serving its loaded version meanwhile.",
        ),
        Panel(
            "MLflow: model download and load time p95",
            (
                Query(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(serving_model_load_duration_seconds_bucket{{{m}}}[{RATE}])))",
                    "p95",
                ),
            ),
            "s",
        ),
        Panel(
            "MLflow server: requests by status",
            (Query(f"sum by (status) (rate(mlflow_http_request_total[{RATE}]))", "{{status}}"),),
            "reqps",
            description="MLflow's own metrics (`mlflow server --expose-prometheus`, prometheus-flask-exporter), "
            "scraped from its metrics listener: every client's calls, not only the service's; 5xx here is MLflow "
            "failing (alert MlflowServerErrors), 401/403 a client's credentials.",
        ),
        Panel(
            "MLflow server: request latency p95",
            (
                Query(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(mlflow_http_request_duration_seconds_bucket[{RATE}])))",
                    "p95",
                ),
            ),
            "s",
        ),
        Panel(
            "Redis: up, clients, memory",
            (
                Query("max(redis_up)", "up"),
                Query("sum(redis_connected_clients)", "clients"),
                Query("sum(redis_memory_used_bytes) / 1024 / 1024", "memory MiB"),
            ),
            description="From the Redis exporter (redis_exporter); in the cloud ElastiCache's own metrics are in "
            "CloudWatch.",
        ),
        Panel(
            "Redis: commands and keyspace hits",
            (
                Query(f"sum(rate(redis_commands_processed_total[{RATE}]))", "commands/s"),
                Query(f"sum(rate(redis_keyspace_hits_total[{RATE}]))", "hits/s"),
                Query(f"sum(rate(redis_keyspace_misses_total[{RATE}]))", "misses/s"),
            ),
            "ops",
        ),
    ]


def _render(uid: str, title: str, panels: list[Panel]) -> str:
    built = []
    for i, panel in enumerate(panels):
        targets = [
            core.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + n), datasource=DATASOURCE)
            for n, q in enumerate(panel.queries)
        ]
        grid = core.GridPos(h=HEIGHT, w=WIDTH, x=(i % 2) * WIDTH, y=(i // 2) * HEIGHT)
        common: dict[str, Any] = {
            "title": panel.title,
            "dataSource": DATASOURCE,
            "targets": targets,
            "gridPos": grid,
            "description": panel.description or None,
        }
        if panel.kind == "state":
            built.append(core.StateTimeline(**common))
        else:
            built.append(core.TimeSeries(unit=panel.unit, **common))
    dashboard = core.Dashboard(
        title=title,
        uid=uid,
        tags=["inference", "generated"],
        timezone="utc",
        panels=built,
        templating=core.Templating(
            [core.Template(name="datasource", label="Data source", query="prometheus", type="datasource")]
        ),
    ).auto_panel_ids()
    return json.dumps(dashboard.to_json_data(), cls=DashboardEncoder, sort_keys=True, indent=1)
