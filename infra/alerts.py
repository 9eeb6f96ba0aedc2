"""The inference service's alert rules, as data: one source for the cluster's PrometheusRule, the local edition's
Prometheus and the `promtool test rules` unit tests (tests/infra/test_alerts.py).

Every expression is scoped by a label matcher (`namespace="inference"` in the cluster, where the Prometheus
Operator adds the namespace label; `job="inference"` locally), so the same rules fit any Prometheus; MLflow's rule
by its own (its metrics listener's series: `namespace="mlflow"`, `job="mlflow"` locally). Pure data: no Pulumi, no
I/O, so the local edition can import it without the cloud SDKs doing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

# The routes that answer callers' predictions: their errors and latency are the service's SLOs.
PREDICTION_ROUTES = "/predict|/invocations|/v2/models/[^/]+(/versions/[^/]+)?/infer"
# Latency SLO: 99 % of prediction requests within 250 ms (250 ms is a bucket of service/metrics.py's histogram,
# so the ratio is exact, not interpolated).
LATENCY_SLO_SECONDS = "0.25"
LATENCY_SLO_TARGET = 0.99
# Multiwindow, multi-burn-rate alerts (Google SRE Workbook, "Alerting on SLOs", table 5-8): a fast burn (14.4x:
# 2 % of a 30-day budget in 1 h) pages, a slow one (6x: 5 % in 6 h) opens a ticket; the short window makes the
# alert stop soon after the burn does.
BURN_WINDOWS: tuple[tuple[str, str, str, float, str], ...] = (
    ("InferenceLatencyBudgetFastBurn", "1h", "5m", 14.4, "critical"),
    ("InferenceLatencyBudgetSlowBurn", "6h", "30m", 6.0, "warning"),
)
# More than this fraction of prediction requests answered 5xx (ours or "not ready") for 5 minutes.
ERROR_RATIO = 0.05
CHALLENGER_ERROR_RATIO = 0.05
# More than this fraction of the MLflow server's requests answered 5xx for 10 minutes.
MLFLOW_ERROR_RATIO = 0.05


@dataclass(frozen=True)
class AlertScope:
    """Which series are ours, and what the service is configured to serve."""

    matcher: str  # e.g. 'namespace="inference"'
    champion_alias: str
    drift_threshold: float
    # The MLflow server's series (its metrics listener, images/mlflow/metrics_listener.py); None: not scraped.
    mlflow_matcher: str | None = None


def rule_groups(scope: AlertScope) -> list[dict[str, Any]]:
    """The Prometheus rule groups (the `groups:` of a rule file, the `spec.groups` of a PrometheusRule)."""
    return [
        {"name": "inference-serving", "rules": [_serving_errors(scope), *_latency_burn(scope)]},
        {
            "name": "inference-model",
            "rules": [_no_model(scope), _mixed_versions(scope), _drift(scope), _challenger(scope)],
        },
        {"name": "inference-cache", "rules": [_breaker_open(scope)]},
    ] + ([{"name": "mlflow", "rules": [_mlflow_errors(scope.mlflow_matcher)]}] if scope.mlflow_matcher else [])


def rules_yaml(scope: AlertScope) -> str:
    """A Prometheus rule file (`rule_files:` of prometheus.yml, `promtool check rules`)."""
    return yaml.safe_dump({"groups": rule_groups(scope)}, sort_keys=False, width=1000)


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def _requests(scope: AlertScope, window: str, *labels: str) -> str:
    selector = ",".join((scope.matcher, f'route=~"{PREDICTION_ROUTES}"', *labels))
    return f"sum(rate(serving_http_request_duration_seconds_bucket{{{selector}}}[{window}]))"


def _serving_errors(scope: AlertScope) -> dict[str, Any]:
    errors = _requests(scope, "5m", 'le="+Inf"', 'status=~"5.."')
    total = _requests(scope, "5m", 'le="+Inf"')
    return _alert(
        "InferenceServingErrors",
        f"({errors} or vector(0)) / {total} > {ERROR_RATIO:g}",
        "5m",
        "critical",
        "More than 5 % of prediction requests answer 5xx",
        "{{ $value | humanizePercentage }} of prediction requests (/predict, /invocations, V2 infer) answered 5xx "
        "over 5 minutes: 503 means no model is loaded, 500 our fault (docs/observability.md, Alerts).",
    )


def _latency_burn(scope: AlertScope) -> list[dict[str, Any]]:
    budget = 1 - LATENCY_SLO_TARGET

    def slow_ratio(window: str) -> str:
        fast = _requests(scope, window, f'le="{LATENCY_SLO_SECONDS}"')
        total = _requests(scope, window, 'le="+Inf"')
        return f"(1 - {fast} / {total})"

    rules = []
    for name, long, short, burn, severity in BURN_WINDOWS:
        threshold = f"{burn * budget:.4g}"
        rules.append(
            _alert(
                name,
                f"{slow_ratio(long)} > {threshold} and {slow_ratio(short)} > {threshold}",
                "2m" if severity == "critical" else "15m",
                severity,
                f"Prediction latency burns the error budget {burn:g}x too fast",
                f"More than {float(threshold):.1%} of prediction requests took over {LATENCY_SLO_SECONDS} s over the "
                f"last {long} and {short} (SLO: {LATENCY_SLO_TARGET:.0%} within {LATENCY_SLO_SECONDS} s); see "
                "docs/observability.md, Alerts.",
            )
        )
    return rules


def _champion(scope: AlertScope) -> str:
    return f'serving_model_info{{{scope.matcher},alias="{scope.champion_alias}"}}'


def _no_model(scope: AlertScope) -> dict[str, Any]:
    # A scraped instance whose workers hold no champion: never loaded (no series) or retired (the series at 0).
    up = f"max by (instance) (up{{{scope.matcher}}}) == 1"
    return _alert(
        "InferenceNoModelLoaded",
        f"{up} unless on (instance) (max by (instance) ({_champion(scope)}) == 1)",
        "10m",
        "critical",
        "Instance {{ $labels.instance }} serves no model",
        f"No model behind alias '{scope.champion_alias}' is loaded; readiness fails and the instance gets no "
        "traffic. GET /health/ready on it says why (registry unreachable, alias missing, version rejected).",
    )


def _mixed_versions(scope: AlertScope) -> dict[str, Any]:
    # serving_model_info is 1 for the version each worker serves; a promotion reaches every worker within a poll
    # interval, so more than one version per alias (champion's or challenger's) for 15 minutes is a fleet that
    # disagrees: a version loads on some pods and not on others, and the same request gets different answers.
    versions = f"count by (name, alias, version) (serving_model_info{{{scope.matcher}}} == 1)"
    return _alert(
        "InferenceMixedVersions",
        f"count by (name, alias) ({versions}) > 1",
        "15m",
        "warning",
        "Pods serve {{ $value }} versions of {{ $labels.name }}@{{ $labels.alias }}",
        "Some workers could not load the version the alias points at; GET /health on a pod shows last_rejection "
        "and last_error (docs/operations.md, Serving a version: what the service checks).",
    )


def _drift(scope: AlertScope) -> dict[str, Any]:
    threshold = f"{scope.drift_threshold:g}"
    return _alert(
        "InferenceInputDrift",
        f"max by (feature) (serving_drift_psi{{{scope.matcher}}}) > {threshold}",
        "30m",
        "warning",
        "Inputs of feature {{ $labels.feature }} drifted from the champion's training data",
        f"PSI {{{{ $value }}}} > {threshold} for 30 minutes; GET /drift on a pod shows the window's statistics "
        "(docs/operations.md, Reading drift).",
    )


def _challenger(scope: AlertScope) -> dict[str, Any]:
    def rate(metric: str, *labels: str) -> str:
        # `or vector(0)`: a test may run shadow only or A/B only; a missing side must count as 0, not void the sum.
        selector = ",".join((scope.matcher, *labels))
        return f"(sum(rate({metric}{{{selector}}}[15m])) or vector(0))"

    challenger = 'variant="challenger"'
    errors = " + ".join(
        (
            rate("serving_shadow_challenger_errors_total"),
            rate("serving_variant_requests_total", challenger, 'outcome="error"'),
        )
    )
    attempts = " + ".join(
        (
            rate("serving_shadow_challenger_duration_seconds_count"),
            rate("serving_variant_requests_total", challenger),
        )
    )
    return _alert(
        "InferenceChallengerErrors",
        f"({errors}) / ({attempts}) > {CHALLENGER_ERROR_RATIO:g}",
        "15m",
        "warning",
        "The challenger fails more than 5 % of its shadow batches and A/B requests",
        "Callers still get the champion's answers; end the test (remove the challenger alias) or fix the version "
        "(docs/operations.md, Champion and challenger).",
    )


def _breaker_open(scope: AlertScope) -> dict[str, Any]:
    return _alert(
        "InferenceCacheBreakerOpen",
        f"max(serving_cache_circuit_open{{{scope.matcher}}}) == 1",
        "5m",
        "warning",
        "The prediction cache's circuit breaker is open",
        "Redis is failing or slow: the service computes every prediction (fail-open), so latency and CPU rise. "
        "Check the Redis exporter's redis_up and the cache's serving_cache_errors_total.",
    )


def _mlflow_errors(matcher: str) -> dict[str, Any]:
    """MLflow failing: the service keeps its loaded model (a failed reload keeps the old one), so nothing else
    fires until a promotion does not arrive; 4xx (a client's credentials or request) are not MLflow's fault."""

    def rate(*labels: str) -> str:
        return f"sum(rate(mlflow_http_request_total{{{','.join((matcher, *labels))}}}[5m]))"

    errors = rate('status=~"5.."')
    return _alert(
        "MlflowServerErrors",
        f"({errors} or vector(0)) / {rate()} > {MLFLOW_ERROR_RATIO:g}",
        "10m",
        "warning",
        "More than 5 % of the MLflow server's requests answer 5xx",
        "{{ $value | humanizePercentage }} of MLflow's requests answered 5xx over 5 minutes: the service keeps "
        "serving the models it has loaded, but cannot load a promoted version, and training cannot register. "
        "MLflow's logs and its database (RDS alarms) first (docs/observability.md, Alerts).",
    )
