"""What a bench run records besides the runs themselves: medians per scenario and target, and the machine."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.load import LoadResult


def summarise(runs: list[LoadResult]) -> dict[str, dict[str, Any]]:
    """Per scenario and target (and clients, for the sweep): medians over the rounds, errors summed."""
    groups: dict[tuple[str, str, int], list[LoadResult]] = {}
    for r in runs:
        groups.setdefault((r.scenario, r.target, r.connections), []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for (scenario, target, connections), rs in groups.items():
        key = f"{target}@{connections}" if scenario == "sweep" else target
        out.setdefault(scenario, {})[key] = {
            "connections": connections,
            "rounds": len(rs),
            "rps": _median([r.rps for r in rs]),
            "rows_per_s": _median([r.rows_per_s for r in rs]),
            "p50_ms": _median([r.latency_ms["p50"] for r in rs]),
            "p95_ms": _median([r.latency_ms["p95"] for r in rs]),
            "p99_ms": _median([r.latency_ms["p99"] for r in rs]),
            "errors": sum(r.error_count for r in rs),
            "requests": sum(r.requests for r in rs),
            "cpu_percent": _median([r.cpu_percent for r in rs]),
            # Requests per second per core the server actually used: what survives a busy machine, for sizing.
            "rps_per_core": _median([r.rps / (r.cpu_percent / 100) for r in rs])
            if all(r.cpu_percent for r in rs)
            else 0,
            "rps_spread": [min(r.rps for r in rs), max(r.rps for r in rs)],
        }
    return out


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def machine_facts() -> dict[str, Any]:
    """This machine: cores, CPU model, memory, Python, platform, load average, where the load comes from."""
    model = ""
    try:
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in ln
            ),
            "",
        )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "load_generator": "wrk (bench/post.lua), loopback, on the same cores as the targets",
    }


def system_cpu() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def system_cpu_since(before: tuple[int, int]) -> float:
    """Busy share of all cores since `before`, in % of one core (so 200 % is two cores fully busy)."""
    total, idle = system_cpu()
    dt = total - before[0]
    return 0.0 if dt <= 0 else (dt - (idle - before[1])) / dt * 100 * (os.cpu_count() or 1)
