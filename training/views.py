"""The rich tables `status` and `compare` print."""

from __future__ import annotations

from rich.table import Table

from training.registry import KEY_METRICS, Comparison, VersionRow


def status_table(name: str, rows: list[VersionRow]) -> Table:
    table = Table(title=f"{name}", title_justify="left")
    # The key metrics any listed version has: a regression and a classification model each show their own.
    shown = [m for m in KEY_METRICS if any(m in row.metrics for row in rows)] or list(KEY_METRICS[:3])
    for column in ("version", "aliases", "stage", "estimator", *shown, "created (UTC)", "promotions"):
        table.add_column(column, justify="right" if column == "version" or column in shown else "left")
    for row in rows:
        promotions = "\n".join(
            f"@{alias} {p.get('action', '?')} by {p.get('by', '?')} {p.get('at', '?')}"
            for alias, p in sorted(row.promotions.items())
        )
        table.add_row(
            row.version,
            ", ".join(f"@{a}" for a in row.aliases),
            row.stage,
            row.estimator,
            *(_num(row.metrics.get(m)) for m in shown),
            row.created,
            promotions,
        )
    return table


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _text(value: str | None) -> str:
    return "—" if value is None else value


def comparison_tables(name: str, c: Comparison) -> list[Table]:
    a, b = c.versions
    metrics = Table(title=f"{name}: v{a} vs v{b} — metrics", title_justify="left")
    for column in ("metric", f"v{a}", f"v{b}", "delta (b - a)"):
        metrics.add_column(column, justify="left" if column == "metric" else "right")
    for metric, x, y in c.metrics:
        delta = "" if x is None or y is None else f"{y - x:+.4f}"
        metrics.add_row(metric, _num(x), _num(y), delta)
    params = Table(title="parameters, code and data", title_justify="left")
    for column in ("name", f"v{a}", f"v{b}"):
        params.add_column(column)
    for key, left, right in [*c.params, *c.tags]:
        params.add_row(key, _text(left), _text(right), style="" if left == right else "bold yellow")
    return [metrics, params]
