"""A results file as a chart (PNG, matplotlib) and as the table the README shows between its bench markers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"

COLORS = {
    "service": "#1f77b4",
    "constant": "#7f7f7f",
    "asgi": "#bbbbbb",
    "mlflow": "#d62728",
    "mlserver": "#ff7f0e",
    "bentoml": "#9467bd",
    "litserve": "#8c564b",
}
SHARED = (
    "The run was made on a shared machine: other jobs used the same cores, so absolute figures are lower bounds; "
    "the servers of a scenario were measured side by side in alternating rounds, and each run records the "
    "server's own CPU seconds and the load average (in the JSON), so the ratios are what to read."
)


def chart(result: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["summary"]
    fig, axes = plt.subplots(2, 4, figsize=(24, 10))
    fig.suptitle(
        f"Inference service benchmark, {result['date']} - {result['machine']['cpus']} cores, "
        f"{result['plan']['workers']} workers per server, wrk on the same machine",
        fontsize=12,
    )

    def bars(ax: Any, scenario: str, value: str, title: str, unit: str, log: bool = False) -> None:
        rows = s.get(scenario, {})
        names = list(rows)
        values = [rows[n][value] for n in names]
        colors = [next((c for k, c in COLORS.items() if n.startswith(k)), "#2ca02c") for n in names]
        ax.bar(names, values, color=colors)
        for i, v in enumerate(values):
            ax.annotate(f"{v:,.0f}" if v >= 10 else f"{v:.2f}", (i, v), ha="center", va="bottom", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        if log:
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)

    plan = result["plan"]
    w = max(plan.get("worker_counts") or [plan["workers"]])
    bars(axes[0][0], f"single_row_w{w}", "rps", f"one row per request, {plan['connections']} clients, {w} workers",
         "requests/s", log=True)  # fmt: skip
    bars(axes[0][1], f"single_row_w{w}", "p99_ms", f"one row per request: p99 latency, {w} workers", "ms", log=True)
    bars(axes[0][2], f"batch_1000_w{w}", "rows_per_s", f"1000 rows per request, {plan['batch_connections']} clients, "
         f"{w} workers", "rows/s", log=True)  # fmt: skip
    bars(axes[1][0], "rf_batching", "rps", f"RandomForest 300 trees, {plan['batching_connections']} clients",
         "requests/s")  # fmt: skip
    bars(axes[1][1], "pyfunc_single_row", "rps", "string-label classifier (pyfunc), one row", "requests/s", log=True)
    bars(axes[1][2], "rf_cache", "rps", f"RandomForest: cache hit vs compute, {plan['cache_connections']} clients",
         "requests/s", log=True)  # fmt: skip
    bars(axes[1][3], "rf_onnx", "rps", f"RandomForest: scikit-learn vs ONNX Runtime, {plan['connections']} clients",
         "requests/s", log=True)  # fmt: skip

    ax = axes[0][3]
    sweep = sorted(s.get("sweep", {}).values(), key=lambda r: r["connections"])
    if sweep:
        clients = [r["connections"] for r in sweep]
        ax.plot(clients, [r["rps"] for r in sweep], "o-", color=COLORS["service"], label="requests/s")
        ax.set_xscale("log", base=2)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("requests/s")
        twin = ax.twinx()
        twin.plot(clients, [r["p99_ms"] for r in sweep], "s--", color="#ff7f0e", label="p99 ms")
        twin.plot(clients, [r["cpu_percent"] for r in sweep], "^:", color="#9467bd", label="service CPU %")
        twin.set_ylabel("p99 ms / CPU % of one core")
        ax.set_title("the service (linear, one row): latency curve", fontsize=10)
        lines = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(lines, [str(line.get_label()) for line in lines], fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def table(result: dict[str, Any], chart_path: str) -> str:
    """The README block: the run's conditions, the servers side by side, each target next to its figure, every
    measurement, the chart."""
    m, plan = result["machine"], result["plan"]
    lines = [
        README_START,
        f"Latest run: `{result['date']}` on {m['cpus']} cores ({m['cpu_model'] or 'unknown CPU'}), "
        f"{plan['duration_s']:g} s per run, {plan['rounds']} alternating rounds (medians shown); load average "
        f"{m['loadavg_before'][0]} before, {m['loadavg_after'][0]} after. wrk runs on the same cores as the servers. "
        + SHARED,
    ]
    if result.get("incomplete"):
        lines += ["", f"**This run stopped early** ({result['incomplete'][:300]}); what it measured is shown."]
    lines += side_by_side(result)
    if result["targets"]:
        lines += ["", "Performance targets (ratios from this run):", "",
                  "| target | goal | measured | verdict |", "| --- | --- | --- | --- |"]  # fmt: skip
        for t in result["targets"]:
            verdict = t.get("verdict") or ("met" if t["met"] else "missed")
            shown = verdict if t["met"] or t["met"] is None else f"**{verdict}**"
            lines.append(f"| {t['name']} | {t['goal']} | {t['measured']} | {shown} |")
    unavailable = result.get("unavailable") or {}
    if unavailable:
        lines += ["", "Not measured here (no figure is shown for them):", ""]
        lines += [f"- `{name}`: {why}" for name, why in unavailable.items()]
    lines += ["", "Every scenario (medians; CPU is the server's own process tree, in % of one core):", "",
              "| scenario | server | clients | rows/request | requests/s | rows/s | p50 ms | p95 ms | p99 ms | errors "
              "| CPU % |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    runs = {(r["scenario"], r["target"]): r["rows_per_request"] for r in result["runs"]}
    for scenario, rows in result["summary"].items():
        if scenario == "sweep":
            continue
        for target, v in rows.items():
            lines.append(
                f"| {scenario} | {target} | {v['connections']} | {runs.get((scenario, target), 1)} | {v['rps']:,.0f} "
                f"| {v['rows_per_s']:,.0f} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} | {v['p99_ms']:.2f} "
                f"| {v['errors']} | {v['cpu_percent']:.0f} |"
            )
    sweep = sorted(result["summary"].get("sweep", {}).values(), key=lambda r: r["connections"])
    if sweep:
        lines += ["", "Latency curve of the service (linear model, one row per request, cache off):", "",
                  "| clients | requests/s | p50 ms | p99 ms | service CPU % (of one core) |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        lines += [
            f"| {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_percent']:.0f} |"
            for r in sweep
        ]
    servers = result["servers"]
    if servers:
        lines += ["", "| server | spawn to first answer, s | each worker's start to its model served, s "
                  "| RSS per worker after the run, MB |", "| --- | --- | --- | --- |"]  # fmt: skip
        for name, info in servers.items():
            ready = ", ".join(f"{x:.1f}" for x in info.get("worker_boot_to_ready_s", [])) or "-"
            rss = ", ".join(f"{x:.0f}" for x in info["rss_per_worker_mb"])
            lines.append(f"| {name} | {info['startup_s']:.1f} | {ready} | {rss} |")
    lines += _onnx(result)
    lines += ["", f"![benchmark]({chart_path})", README_END]
    return "\n".join(lines)


def side_by_side(result: dict[str, Any]) -> list[str]:
    """Per worker count: every server's single-row and 1000-row figures, and how far the service is ahead."""
    s, plan, lines = result["summary"], result["plan"], []
    counts = sorted(int(k.rsplit("_w", 1)[1]) for k in s if k.startswith("single_row_w"))
    for w in counts:
        single, batch = s.get(f"single_row_w{w}", {}), s.get(f"batch_1000_w{w}", {})
        demo, computed = single.get("service-demo"), batch.get("service")
        lines += ["", f"{w} worker{'s' if w > 1 else ''} per server, one row per request at {plan['connections']} "
                  f"clients and 1000 rows per request at {plan['batch_connections']}:", "",
                  "| server | requests/s | p99 ms | CPU % | requests/s per core | service (cache on) is "
                  "| 1000-row rows/s | service (cache off) is |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
        for name in dict.fromkeys([*single, *batch]):
            one, many = single.get(name), batch.get(name)
            cells = ["-"] * 7
            if one:
                cells[:4] = [f"{one['rps']:,.0f}", f"{one['p99_ms']:.1f}", f"{one['cpu_percent']:.0f}",
                             f"{one['rps_per_core']:,.0f}"]  # fmt: skip
                if demo and one["rps"] > 0:
                    cells[4] = f"{demo['rps'] / one['rps']:.2f}x"
            if many:
                cells[5] = f"{many['rows_per_s']:,.0f}"
                if computed and many["rows_per_s"] > 0:
                    cells[6] = f"{computed['rows_per_s'] / many['rows_per_s']:.2f}x"
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _onnx(result: dict[str, Any]) -> list[str]:
    onnx = result.get("onnx", {}).get("models")
    if not onnx:
        return []
    lines = ["", "In-process predict time per call (one thread), scikit-learn against ONNX Runtime (and, for the "
             "linear model, the numpy product the service runs instead):", "",
             "| model | rows | scikit-learn µs | ONNX Runtime µs | speed-up | max abs difference | numpy product µs |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for model, by_rows in onnx.items():
        for n, v in by_rows.items():
            numpy_us = f"{v['numpy_product_us']:,.1f}" if "numpy_product_us" in v else "-"
            lines.append(
                f"| {model} | {n} | {v['sklearn_us']:,.1f} | {v['onnxruntime_us']:,.1f} | {v['speedup']:.1f}x "
                f"| {v['max_abs_diff']:.2g} | {numpy_us} |"
            )
    return lines


def update_readme(readme: Path, block: str) -> bool:
    """Replace the block between the bench markers; False when the README has no markers."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    readme.write_text(text[:start] + block + text[end + len(README_END) :])
    return True


def load(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result
