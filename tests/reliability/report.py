"""Write the figures of the last reliability run (build/reliability/results.json) into docs/reliability.md.

`python -m tests.reliability.report` replaces the table between the two markers of the doc; `--check` only
says whether the doc's table matches the results (exit 1 when it does not).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "build" / "reliability" / "results.json"
DOC = REPO / "docs" / "reliability.md"
BEGIN = "<!-- results:begin (python -m tests.reliability.report) -->"
END = "<!-- results:end -->"

# results key -> (scenario, test file)
ROWS = {
    "1_sustained_load": ("1. Sustained load (wrk, 64 clients, 30 s, 2 workers)", "test_sustained_load.py"),
    "2_redis_lost": ("2. Redis killed under load, restarted", "test_redis_lost.py"),
    "2_redis_misconfigured_wrong_password": ("2. Redis: wrong password at start", "test_redis_lost.py"),
    "2_redis_misconfigured_tls_unknown_ca": ("2. Redis: `rediss://` without its CA at start", "test_redis_lost.py"),
    "2_redis_misconfigured_plaintext_to_tls": ("2. Redis: `redis://` to a TLS port at start", "test_redis_lost.py"),
    "3_registry_lost": ("3. MLflow killed under load, cold start while down", "test_registry_lost.py"),
    "4_bad_promotion": ("4. Alias moved to corrupt / incompatible / NaN versions", "test_bad_promotion.py"),
    "5_rolling_restart_keepalive": ("5. SIGTERM a worker + SIGHUP reload (keep-alive)", "test_rolling_restart.py"),
    "5_rolling_restart_connection_close": (
        "5. SIGTERM a worker + SIGHUP reload (new connection per request)",
        "test_rolling_restart.py",
    ),
    "5_rolling_restart_sigkill": ("5. SIGKILL a worker", "test_rolling_restart.py"),
    "6_hostile_schemathesis": ("6. schemathesis over the OpenAPI document", "test_hostile_input.py"),
    "6_hostile_oversized": ("6. Oversized bodies", "test_hostile_input.py"),
    "6_hostile_slowloris": ("6. 200 slowloris connections", "test_hostile_input.py"),
    "7_mlflow_exposure_anonymous": ("7. MLflow: anonymous calls", "test_mlflow_exposure.py"),
    "7_mlflow_exposure_read_only": ("7. MLflow: read-only user writes", "test_mlflow_exposure.py"),
    "7_mlflow_exposure_service": ("7. MLflow: service as the read-only user", "test_mlflow_exposure.py"),
}
_COLUMNS = ("requests", "errors", "p99_ms")
_SKIPPED = {"recorded_at", "p50_ms", "rps", "socket_errors"}


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "/".join(_value(v) for v in value)
    return str(value)


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| Scenario | Requests | Errors | p99 ms | Other figures | Test |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for key, (title, test) in ROWS.items():
        figures = results.get(key)
        if figures is None:
            lines.append(f"| {title} | | | | not run yet | `{test}` |")
            continue
        cells = [_value(figures[c]) if c in figures else "" for c in _COLUMNS]
        other = "; ".join(f"{k}: {_value(v)}" for k, v in figures.items() if k not in _SKIPPED and k not in _COLUMNS)
        if "rps" in figures:
            other = f"{figures['rps']} req/s; {other}"
        lines.append(f"| {title} | {' | '.join(cells)} | {other.replace('|', '/')} | `{test}` |")
    stamps = sorted({f["recorded_at"] for f in results.values() if "recorded_at" in f})
    if stamps:
        lines.append("")
        lines.append(f"Recorded {stamps[0]} to {stamps[-1]} (UTC).")
    return "\n".join(lines)


def render(doc: str, results: dict[str, dict[str, Any]]) -> str:
    head, sep, rest = doc.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} section")
    return f"{head}{BEGIN}\n{table(results)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if not RESULTS.exists():
        print(f"{RESULTS} does not exist: run `make test-reliability` first", file=sys.stderr)
        return 1
    results = json.loads(RESULTS.read_text())
    doc = DOC.read_text()
    updated = render(doc, results)
    if "--check" in argv:
        if updated != doc:
            print(f"{DOC} does not show the figures of {RESULTS}: run python -m tests.reliability.report")
            return 1
        return 0
    DOC.write_text(updated)
    print(f"wrote the figures of {len(results)} scenarios into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
