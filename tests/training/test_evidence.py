"""Promotion to champion weighs what the inference service measured about the challenger.

The rule on metrics recorded by the service's own metric classes (so a renamed metric breaks here), then the
whole path: the CLI puts a version at @challenger without a gate, the real service shadows it over HTTP, and
`promote --evidence-url` reads the service's /metrics.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import httpx
import pytest
import uvicorn
from mlflow.tracking import MlflowClient
from prometheus_client import CollectorRegistry, generate_latest

from local import processes, servers
from service.app import create_app
from service.core.shadow import ShadowMetrics
from service.core.variants import VariantMetrics
from service.settings import Settings
from tests.support.serving import wait_for
from tests.support.training import Trained, last_line, register, run_cli
from training import data
from training.evidence import EvidenceRule, evidence_for, judge, parse
from training.registry import HISTORY_TAG, VERSION_TAG

# ------------------------------------------------------------------------------------------ the rule


def service_metrics_text() -> str:
    """Counters as the service records them: champion v1, challenger v2 (and an older experiment with v9)."""
    registry = CollectorRegistry()
    shadow, variants = ShadowMetrics(registry), VariantMetrics(registry)
    for diff in (1.0, 3.0, 2.0, 2.0):
        shadow.abs_difference.labels("1", "2").observe(diff)
    shadow.abs_difference.labels("1", "9").observe(100.0)
    for _ in range(150):
        shadow.challenger_duration.labels("2").observe(0.001)
    shadow.challenger_errors.labels("2").inc(3)
    variants.requests.labels("challenger", "2", "ok").inc(48)
    variants.requests.labels("challenger", "2", "error").inc(2)
    variants.requests.labels("champion", "1", "ok").inc(990)
    variants.requests.labels("champion", "1", "error").inc(10)
    variants.requests.labels("challenger", "9", "error").inc(500)
    return generate_latest(registry).decode()


def test_evidence_keeps_only_the_pair_being_promoted() -> None:
    evidence = evidence_for(parse(service_metrics_text(), "test"), "test", champion="1", challenger="2")
    assert (evidence.shadow_pairs, evidence.mean_abs_diff) == (4, 2.0)
    assert (evidence.shadow_batches, evidence.ab_requests, evidence.samples) == (150, 50, 200)
    assert evidence.challenger_error_rate == pytest.approx(5 / 200)
    assert evidence.champion_error_rate == pytest.approx(10 / 1000)


def test_the_rule_refuses_a_higher_error_rate_a_large_difference_and_too_few_samples() -> None:
    evidence = evidence_for(parse(service_metrics_text(), "test"), "test", champion="1", challenger="2")
    assert judge(evidence, EvidenceRule(min_samples=200, max_error_rate_increase=0.02)).passed
    refused = judge(evidence, EvidenceRule(min_samples=201, max_error_rate_increase=0.01, max_mean_abs_diff=1.5))
    assert not refused.passed
    assert refused.reasons == [
        "200 samples < --min-samples 201",
        "challenger error rate 2.5000% > champion's 1.0000% + 1.0000%",
        "mean |champion - challenger| 2.0000 > --max-mean-abs-diff 1.5",
    ]
    assert "challenger v2: 200 samples (150 shadow batches, 50 A/B requests)" in refused.describe()
    none = evidence_for(parse(service_metrics_text(), "test"), "test", champion="1", challenger="3")
    assert not judge(none, EvidenceRule(min_samples=1)).passed, "no evidence at all is not enough evidence"


def test_bad_evidence_options_and_sources_are_refused_by_name() -> None:
    from training.evidence import fetch
    from training.tracking import LifecycleError

    with pytest.raises(LifecycleError, match="--min-samples must be >= 1"):
        EvidenceRule(min_samples=0)
    with pytest.raises(LifecycleError, match="--max-error-rate-increase"):
        EvidenceRule(max_error_rate_increase=2)
    with pytest.raises(LifecycleError, match="must be an http"):
        fetch("file:///etc/passwd")
    with pytest.raises(LifecycleError, match="not in Prometheus text format"):
        parse("<html><body>Sign in</body></html>\n", "test")


# ----------------------------------------------------------------------------------- the whole path


@contextmanager
def service_over_http(settings: Settings) -> Iterator[str]:
    """The real service app under uvicorn on a free loopback port, in a thread; yields its base URL."""
    port = processes.free_port()
    with mock.patch.dict(os.environ):
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: server.started, 60, "the service listens")
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(30)


def history(name: str, alias: str) -> list[dict[str, object]]:
    return list(json.loads(MlflowClient().get_registered_model(name).tags[HISTORY_TAG.format(alias=alias)]))


def shadow_traffic(base: str, challenger: str, batches: int) -> None:
    rows = data.load_split(0.2, 42).x_test.head(4).to_dict(orient="records")
    with httpx.Client(base_url=base, timeout=10) as http:
        wait_for(
            lambda: (http.get("/health").json()["challenger"]["model"] or {}).get("version") == challenger,
            30,
            f"the service shadows challenger v{challenger}",
        )
        for _ in range(batches):
            assert http.post("/predict", json={"instances": rows}).json()["variant"] == "champion"
        wait_for(
            lambda: (
                f'serving_shadow_challenger_duration_seconds_count{{challenger_version="{challenger}"}} '
                f"{float(batches)}" in http.get("/metrics").text
            ),
            10,
            "every shadow batch is predicted",
        )


def test_challenger_needs_no_gate_and_promotion_to_champion_weighs_the_services_evidence(
    trained: dict[str, Trained], model_name: str, mlflow_server: servers.MlflowServer, tmp_path: Path
) -> None:
    good, worse = trained["good"], trained["worse"]
    v1, v2, v3 = register(model_name, good, worse, good)
    run_cli(["promote", v1, "--model-name", model_name])
    # A far worse version still becomes the challenger: the experiment, not the metric gate, judges it.
    result = run_cli(["promote", v2, "--alias", "challenger", "--model-name", model_name])
    assert last_line(result) == f"promoted {model_name} version {v2} to @challenger (previous none)"
    [entry] = history(model_name, "challenger")
    assert (entry["action"], entry["version"], "gate" in entry) == ("promote", v2, False)
    tags = MlflowClient().get_model_version(model_name, v2).tags
    assert tags[VERSION_TAG.format(alias="challenger", key="action")] == "promote"

    settings = Settings(
        registry_uri=mlflow_server.url,
        model_name=model_name,
        model_dir=tmp_path / "models",
        reload_interval_s=0.5,
        challenger_alias="challenger",
        shadow_fraction=1.0,
    )
    with service_over_http(settings) as base:
        evidence_url = f"{base}/metrics"
        shadow_traffic(base, v2, batches=30)
        # The metric gate is opened wide (--tolerance 0.9: 90 % worse): what refuses v2 is the service's evidence.
        promote_v2 = ["promote", v2, "--model-name", model_name, "--tolerance", "0.9", "--evidence-url", evidence_url]
        refused = run_cli([*promote_v2, "--min-samples", "20", "--max-mean-abs-diff", "5"], expect=3)
        assert "service evidence" in refused.stderr and "> --max-mean-abs-diff 5" in refused.stderr
        assert "30 samples (30 shadow batches, 0 A/B requests)" in refused.stderr
        too_few = run_cli([*promote_v2, "--min-samples", "1000"], expect=3)
        assert "30 samples < --min-samples 1000" in too_few.stderr
        assert len(history(model_name, "production")) == 1, "a refused promotion moves nothing"

        # A challenger that answers as the champion does passes, and its evidence is in the audit trail.
        run_cli(["promote", v3, "--alias", "challenger", "--model-name", model_name])
        shadow_traffic(base, v3, batches=25)
        promoted = run_cli(
            ["promote", v3, "--model-name", model_name, "--evidence-url", evidence_url, "--min-samples", "25",
             "--max-mean-abs-diff", "1e-9", "--json"]
        )  # fmt: skip
        move = json.loads(last_line(promoted))
        assert (move["action"], move["version"], move["previous"]) == ("promote", v3, v1)
        assert move["evidence"]["passed"] is True and move["evidence"]["evidence"]["shadow_pairs"] == 100
        recorded = history(model_name, "production")[-1]["evidence"]
        assert recorded["samples"] == 25 and recorded["mean_abs_diff"] == 0.0 and recorded["passed"] is True
        assert recorded["source"] == evidence_url
        assert (
            "25 samples"
            in MlflowClient()
            .get_model_version(model_name, v3)
            .tags[VERSION_TAG.format(alias="production", key="evidence")]
        )


def test_forcing_past_refused_evidence_is_recorded_as_forced(
    trained: dict[str, Trained], model_name: str, mlflow_server: servers.MlflowServer, tmp_path: Path
) -> None:
    v1, v2 = register(model_name, trained["good"], trained["good"])
    run_cli(["promote", v1, "--model-name", model_name])
    run_cli(["promote", v2, "--alias", "challenger", "--model-name", model_name])
    # No traffic at all: the evidence is empty, so it cannot pass; --force --reason overrides and says why.
    settings = Settings(registry_uri=mlflow_server.url, model_name=model_name, model_dir=tmp_path / "m",
                        reload_interval_s=0.5, challenger_alias="challenger", shadow_fraction=1.0)  # fmt: skip
    with service_over_http(settings) as base:
        args = ["promote", v2, "--model-name", model_name, "--evidence-url", f"{base}/metrics", "--json"]
        run_cli(args, expect=3)
        move = json.loads(last_line(run_cli([*args, "--force", "--reason", "hotfix, no time for a test"])))
    assert move["action"] == "force" and move["evidence"]["passed"] is False
    entry = history(model_name, "production")[-1]
    assert entry["action"] == "force" and entry["evidence"]["samples"] == 0
