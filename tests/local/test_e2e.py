"""End to end: the local edition comes up through the same code as `make demo`, serves, follows promotion and
rollback under continuous traffic without a failed request or a stale cached answer, and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from infra import alerts
from local import processes, servers
from local.prometheus import PrometheusServer
from local.stack import SAMPLE_ROW, LocalStack, Ports, wait_for

pytestmark = pytest.mark.slow
RELOAD_S = 1.0
SCOPE = alerts.AlertScope('job="inference"', "production", 0.2, mlflow_matcher='job="mlflow"')


@dataclass
class Traffic:
    """One client sending the same row continuously, recording every answer (bounded in count and time)."""

    url: str
    answers: list[tuple[int, str | None, float | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def run(self, max_requests: int = 50_000, max_seconds: float = 240) -> None:
        deadline = time.monotonic() + max_seconds
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set() and len(self.answers) < max_requests and time.monotonic() < deadline:
                try:
                    resp = client.post(f"{self.url}/predict", json={"instances": [SAMPLE_ROW]})
                except httpx.HTTPError as e:
                    self.errors.append(repr(e))
                    self.answers.append((0, None, None))
                    continue
                body = resp.json() if resp.status_code == 200 else {}
                prediction = body["predictions"][0] if body else None
                self.answers.append((resp.status_code, resp.headers.get("X-Model-Version"), prediction))

    def since(self, index: int) -> list[tuple[int, str | None, float | None]]:
        return self.answers[index:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("local-edition")
    stack = LocalStack(
        state_dir=state,
        ports=Ports.free(),
        workers=2,
        reload_interval_s=RELOAD_S,
        say=lambda _: None,
        cache_mode="always",
    )
    stack.up()
    yield stack
    stack.down()
    servers.remove_state(state)


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()) and head.split("{")[0] == name:
            total += float(value)
    return total


def test_serves_the_promoted_model_on_both_apis(stack: LocalStack) -> None:
    url = stack.urls["service"]
    predicted = httpx.post(f"{url}/predict", json={"instances": [SAMPLE_ROW]}).json()
    assert predicted["model"] == {"name": "linear_regression", "version": "1", "alias": "production"}
    columns = list(SAMPLE_ROW)
    invoked = httpx.post(
        f"{url}/invocations", json={"dataframe_split": {"columns": columns, "data": [list(SAMPLE_ROW.values())]}}
    )
    assert invoked.status_code == 200
    assert invoked.json()["predictions"] == pytest.approx(predicted["predictions"])
    assert httpx.get(f"{url}/health/ready").status_code == 200


def test_promotion_and_rollback_under_load_lose_nothing_and_serve_no_stale_answer(stack: LocalStack) -> None:
    url, mlflow_url = stack.urls["service"], stack.urls["mlflow"]
    traffic = Traffic(url)
    client = threading.Thread(target=traffic.run, daemon=True)
    client.start()
    try:
        assert wait_for(lambda: len(traffic.answers) > 50, 30)
        v1_prediction = traffic.answers[-1][2]

        version = stack.train(mlflow_url, "--config", "training/configs/random_forest.yaml")
        assert version == "2"
        mark = len(traffic.answers)
        stack.training(mlflow_url, "promote", version, "--alias", "production", "--force",
                       "--reason", "end-to-end test: a different estimator")  # fmt: skip
        # From the moment the alias has moved (the CLI's own start-up is not the service's to answer for).
        promoted_at = time.monotonic()
        # Each worker polls on its own: wait until a stretch of answers is all from version 2.
        assert wait_for(lambda: all(v == "2" for _, v, _ in traffic.since(len(traffic.answers) - 40)), 60)
        switched_after = time.monotonic() - promoted_at
        after_promotion = traffic.since(mark)

        mark = len(traffic.answers)
        stack.training(mlflow_url, "rollback", "--alias", "production")
        assert wait_for(lambda: all(v == "1" for _, v, _ in traffic.since(len(traffic.answers) - 40)), 60)
        after_rollback = traffic.since(mark)
    finally:
        traffic.stop.set()
        client.join(timeout=30)

    assert not traffic.errors
    assert {status for status, _, _ in traffic.answers} == {200}, "a request failed during promotion or rollback"
    # Polling every RELOAD_S, plus downloading and validating the new version: well within the interval's order.
    assert switched_after < 30
    v2_prediction = next(p for _, v, p in after_promotion if v == "2")
    assert v2_prediction != pytest.approx(v1_prediction)
    # Version-keyed cache: an answer labelled with a version always carries that version's prediction.
    for _, version_seen, prediction in after_promotion + after_rollback:
        expected = v2_prediction if version_seen == "2" else v1_prediction
        assert prediction == pytest.approx(expected), f"version {version_seen} answered another version's value"

    metrics = httpx.get(f"{url}/metrics").text
    assert metric(metrics, "serving_cache_hits_total") > 0
    assert metric(metrics, "serving_model_info", version="1") >= 1
    # Two workers each loaded version 1, then 2, then 1 again.
    assert metric(metrics, "serving_model_reloads_total", result="loaded") >= 6


def test_prometheus_holds_the_service_series_and_the_alias_change(stack: LocalStack) -> None:
    """After the promotion and rollback above, the demo's Prometheus has scraped the service (all workers, one
    target), MLflow, Redis through its exporter, and recorded version 2 serving and then retired; the alert rules of
    infra/alerts.py are loaded. Runs after the promotion test (same module stack, file order)."""
    prom = PrometheusServer(next(p for p in stack.started if p.name == "prometheus"), stack.ports.prometheus)
    assert stack.urls["prometheus"] == prom.url
    job = 'job="inference"'

    def holds(expr: str) -> bool:
        return bool(prom.query(expr))

    # Version 2 may have served for less than a scrape interval in the test above: promote it again and hold it
    # until Prometheus has recorded it, then roll back.
    mlflow_url = stack.urls["mlflow"]
    stack.training(mlflow_url, "promote", "2", "--alias", "production", "--force",
                   "--reason", "end-to-end test: seen by Prometheus")  # fmt: skip
    assert wait_for(lambda: holds(f'max(serving_model_info{{{job},alias="production",version="2"}}) == 1'), 60)
    stack.training(mlflow_url, "rollback", "--alias", "production")
    # Within a few scrape intervals of the rollback.
    assert wait_for(lambda: holds(f'max(serving_model_info{{{job},alias="production",version="1"}}) == 1'), 30)
    # Retired: its series at 0 or dropped, either way no worker serves it.
    assert wait_for(lambda: not holds(f'max(serving_model_info{{{job},version="2"}}) == 1'), 30)
    assert holds(f'max_over_time(serving_model_info{{{job},alias="production",version="2"}}[10m]) == 1')
    assert holds(f'increase(serving_model_reloads_total{{{job},result="loaded"}}[10m]) > 0')
    assert holds(f'sum(rate(serving_http_request_duration_seconds_count{{{job},route="/predict"}}[5m])) > 0')
    assert holds('redis_up{job="redis"} == 1')
    # MLflow's metrics through its listener (the server's --expose-prometheus files): the model loads went through it.
    assert holds('sum(mlflow_http_request_total{job="mlflow"}) > 0')
    (target,) = [t for t in prom.targets() if t["labels"]["job"] == "mlflow"]
    assert target["scrapeUrl"] != f"{stack.urls['mlflow']}/metrics", "the listener, as in the cluster, not MLflow"
    assert holds(f"up{{{job}}} == 1")
    assert {r["alert"] for g in alerts.rule_groups(SCOPE) for r in g["rules"]} <= prom.rule_names()


def test_postgres_backend_then_down_leaves_no_process_and_no_listening_port(tmp_path: Path) -> None:
    """`make demo DB=postgres`: the production backend-store path, then a teardown that leaves nothing."""
    stack = LocalStack(state_dir=tmp_path / "state", ports=Ports.free(), db="postgres", workers=1, say=lambda _: None)
    stack.up()
    assert stack.predict([SAMPLE_ROW])["model"] == {"name": "linear_regression", "version": "1", "alias": "production"}
    pids = {f.stem: int(f.read_text()) for f in stack.pid_files()}
    assert set(pids) == {
        "seaweedfs", "postgres", "mlflow", "redis", "service", "redis-exporter", "mlflow-metrics", "prometheus"
    }  # fmt: skip
    assert set(stack.running()) == set(pids)
    stopped = stack.down()
    assert set(stopped) == set(pids)
    assert not any(processes.pid_alive(pid) for pid in pids.values())
    ports = stack.ports
    assert not any(processes.port_in_use(p) for p in dataclasses.astuple(ports))
    assert not stack.pid_files()
    stack.clean()
    assert not (tmp_path / "state").exists()
