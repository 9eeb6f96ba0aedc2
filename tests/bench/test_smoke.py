"""The benchmark harness, briefly: `python -m bench --smoke` against the constant endpoint only (a second of wrk),
then the parts that turn results into verdicts, a chart and the README table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.summary import summarise
from local import processes
from tests.support.bench import load_result

REPO = Path(__file__).resolve().parents[2]
LATENCY_KEYS = {"p50", "p90", "p95", "p99", "max", "mean"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--duration", "1", "--rounds", "1", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = list(out.glob("*-smoke.json"))
    assert len(files) == 1, files
    result: dict[str, Any] = json.loads(files[0].read_text())
    result["_png"] = files[0].with_suffix(".png")
    return result


@pytest.mark.slow
def test_a_smoke_run_writes_results_in_the_schema_the_report_reads(smoke: dict[str, Any]) -> None:
    assert smoke["schema"] == 2 and smoke["smoke"] is True
    assert {"cpus", "loadavg_before", "loadavg_after", "load_generator"} <= set(smoke["machine"])
    [run] = smoke["runs"]
    assert (run["scenario"], run["target"], run["rows_per_request"], run["body"]) == (
        "single_row",
        "constant",
        1,
        "fixed",
    )
    assert run["requests"] > 0 and run["rps"] > 0 and run["errors"]["status"] == 0
    assert set(run["latency_ms"]) == LATENCY_KEYS
    lat = run["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    summary = smoke["summary"]["single_row"]["constant"]
    assert summary["rps"] == run["rps"] and summary["rounds"] == 1
    server = smoke["servers"]["constant"]
    assert server["startup_s"] > 0
    assert len(server["rss_per_worker_mb"]) == smoke["plan"]["workers"], "one RSS figure per worker"
    assert all(mb > 0 for mb in server["rss_per_worker_mb"])
    assert smoke["_png"].stat().st_size > 10_000, "the chart was drawn"


@pytest.mark.slow
def test_a_smoke_run_leaves_no_server_behind(smoke: dict[str, Any]) -> None:
    port = smoke["servers"]["constant"]["port"]
    assert not processes.port_in_use(port), f"the constant endpoint still listens on {port}"


def test_medians_over_rounds_resist_one_disturbed_round() -> None:
    rounds = [load_result("service", "single_row", rps, 10, p50=3) for rps in (3000, 900, 3100)]
    summary = summarise(rounds)["single_row"]["service"]
    assert summary["rps"] == 3000 and summary["rps_spread"] == [900, 3100] and summary["rounds"] == 3


def test_the_readme_block_is_replaced_between_its_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{report.README_START}\nold table\n{report.README_END}\nafter\n")
    assert report.update_readme(readme, f"{report.README_START}\nnew table\n{report.README_END}")
    assert readme.read_text() == f"# title\n\nbefore\n{report.README_START}\nnew table\n{report.README_END}\nafter\n"
    unmarked = tmp_path / "OTHER.md"
    unmarked.write_text("no markers\n")
    assert not report.update_readme(unmarked, "x")
    assert unmarked.read_text() == "no markers\n"
