"""The alert rules of infra/alerts.py, checked and unit-tested by Prometheus's own `promtool`.

promtool comes with Debian's `prometheus` package (local/system-deps.sh installs it). The cases, with input series
for each alert firing and staying quiet, are in tests/infra/data/alerts.promtool.yml; the format is Prometheus's
"Unit testing for rules" (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra import alerts

CASES = Path(__file__).parent / "data" / "alerts.promtool.yml"
# The scope the cases' input series are labelled with.
SCOPE = alerts.AlertScope(
    'namespace="inference"', champion_alias="champion", drift_threshold=0.3, mlflow_matcher='namespace="mlflow"'
)
ALERTS = {
    "InferenceServingErrors",
    "InferenceLatencyBudgetFastBurn",
    "InferenceLatencyBudgetSlowBurn",
    "InferenceNoModelLoaded",
    "InferenceMixedVersions",
    "InferenceInputDrift",
    "InferenceChallengerErrors",
    "InferenceCacheBreakerOpen",
    "MlflowServerErrors",
}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run local/system-deps.sh as root (apt-get install prometheus)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yml").write_text(alerts.rules_yaml(SCOPE))
    shutil.copy(CASES, tmp_path / CASES.name)
    return tmp_path


def test_the_rule_file_is_valid_for_prometheus(rules_dir: Path) -> None:
    """`promtool check rules`: the expressions parse, names and labels are valid, no duplicate rule."""
    result = promtool("check", "rules", "rules.yml", cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_each_alert_fires_on_its_symptom_and_stays_quiet_otherwise(rules_dir: Path) -> None:
    """`promtool test rules` runs every case of alerts.promtool.yml against the rendered rules."""
    result = promtool("test", "rules", CASES.name, cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = yaml.safe_load(CASES.read_text())["tests"]
    firing = {t["alertname"] for c in cases for t in c["alert_rule_test"] if t["exp_alerts"]}
    quiet = {t["alertname"] for c in cases for t in c["alert_rule_test"] if not t["exp_alerts"]}
    assert firing == quiet == ALERTS


def test_every_rule_is_scoped_to_the_service_and_documented() -> None:
    """A rule without the scope matcher would alert on another namespace's (a preview's) series; MLflow's rule
    reads its metrics listener's series, in MLflow's namespace."""
    rules = [r for g in alerts.rule_groups(SCOPE) for r in g["rules"]]
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        scope = "mlflow" if rule["alert"].startswith("Mlflow") else "inference"
        assert rule["expr"].count("{") == rule["expr"].count(f'{{namespace="{scope}"'), rule["alert"]
        assert rule["for"] and rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_mlflows_rule_exists_only_where_its_metrics_are_scraped() -> None:
    """Without the metrics listener (no Prometheus named, infra/mlflow_metrics.py) there are no MLflow series to
    alert on."""
    unscraped = alerts.AlertScope('namespace="inference"', champion_alias="champion", drift_threshold=0.3)
    assert {r["alert"] for g in alerts.rule_groups(unscraped) for r in g["rules"]} == ALERTS - {"MlflowServerErrors"}
