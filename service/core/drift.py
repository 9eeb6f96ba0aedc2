"""Input drift: recent rows compared with the training-set statistics logged with the champion.

Each worker copies every validated input row into a window of `window_rows` rows. When a window is full it is
compared, feature by feature, with the champion's `feature_stats.json` (schema in docs/operations.md):

- PSI (population stability index) over exactly the training bins: a value's bin is the number of interior
  edges at or below it, the outer bins are open-ended, fractions are floored at 1e-4 so empty bins stay finite;
- the out-of-range ratio: the fraction of the window outside the training [min, max].

The result of the last full window is what `GET /drift`, `/health` and the gauges report; the window then
starts again (tumbling windows, so each row counts once). A feature whose PSI exceeds the threshold is drifted.
The reference follows the champion: a new champion's statistics are used from the next window on.
Requests' rows reach the window in batches (`FOLD_ROWS` rows, and before anything reads the monitor), so a
one-row request adds a reference to a list rather than paying numpy's per-call cost for a copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge

from service.core.loader import LoadedModel
from service.core.schema import NUMERIC_KINDS
from service.core.telemetry import ReadHook, Tally
from service.core.validation import Matrix, numeric_view

log = logging.getLogger(__name__)

PSI_FLOOR = 1e-4
STATS_SCHEMA_VERSION = 1
# Rows held back before they are copied into the window: numpy's cost per call, not per row, is what a one-row
# request would pay for its copy.
FOLD_ROWS = 256


class NoReference(ValueError):
    """The model's feature statistics cannot serve as a drift reference; the message names the field."""


@dataclass(frozen=True)
class FeatureReference:
    name: str
    column: int  # position in the model's input rows
    interior_edges: np.ndarray[Any, np.dtype[np.float64]]
    expected: np.ndarray[Any, np.dtype[np.float64]]  # training fraction per bin, floored
    minimum: float
    maximum: float


@dataclass(frozen=True)
class Reference:
    """The champion's training statistics, laid out for its input columns."""

    model: str
    version: str
    rows: int
    features: tuple[FeatureReference, ...]

    @classmethod
    def of(cls, model: LoadedModel) -> Reference:
        stats = model.feature_stats
        if stats is None:
            raise NoReference(f"{model.name} version {model.version} was logged without feature_stats.json")
        if stats.get("schema_version") != STATS_SCHEMA_VERSION:
            raise NoReference(f"feature_stats.json schema_version {stats.get('schema_version')!r} is not 1")
        features = stats.get("features")
        if not isinstance(features, dict):
            raise NoReference("feature_stats.json has no 'features' object")
        out = []
        for column, spec in enumerate(model.schema.columns):
            name = spec.name
            # Numeric features only: a string column has no bins (numeric_view reads it as NaN).
            if name in features and spec.kind in NUMERIC_KINDS:
                out.append(_feature(name, column, features[name]))
        if not out:
            raise NoReference(f"feature_stats.json describes none of the input columns {list(model.schema.names)}")
        return cls(model.name, model.version, int(stats.get("rows", 0)), tuple(out))

    @cached_property
    def layout(self) -> Layout:
        return Layout.of(self.features)


@dataclass(frozen=True)
class Layout:
    """The features side by side, for `evaluate` to treat all of them in one numpy call per statistic: their
    columns in the window, their training ranges, and their bins one after the other (feature i's are
    `spans[i]` of `expected`; `starts` shifts its bin numbers there)."""

    columns: np.ndarray[Any, np.dtype[np.intp]]
    minimum: np.ndarray[Any, np.dtype[np.float64]]  # (features, 1)
    maximum: np.ndarray[Any, np.dtype[np.float64]]
    starts: np.ndarray[Any, np.dtype[np.intp]]  # (features, 1)
    spans: tuple[tuple[int, int], ...]
    expected: np.ndarray[Any, np.dtype[np.float64]]

    @classmethod
    def of(cls, features: tuple[FeatureReference, ...]) -> Layout:
        sizes = [len(f.expected) for f in features]
        ends = np.cumsum(sizes)
        starts = ends - sizes
        return cls(
            columns=np.array([f.column for f in features], dtype=np.intp),
            minimum=np.array([[f.minimum] for f in features]),
            maximum=np.array([[f.maximum] for f in features]),
            starts=starts.astype(np.intp).reshape(-1, 1),
            spans=tuple((int(a), int(b)) for a, b in zip(starts, ends, strict=True)),
            expected=np.concatenate([f.expected for f in features]),
        )


def _feature(name: str, column: int, spec: Any) -> FeatureReference:
    where = f"feature_stats.json features.{name}"
    try:
        edges = np.asarray(spec["bin_edges"], dtype=np.float64)
        fractions = np.asarray(spec["bin_fractions"], dtype=np.float64)
        minimum, maximum = float(spec["min"]), float(spec["max"])
    except (KeyError, TypeError, ValueError) as e:
        raise NoReference(f"{where}: needs numeric bin_edges, bin_fractions, min and max ({e!r})") from e
    if edges.ndim != 1 or len(edges) < 2 or len(fractions) != len(edges) - 1:
        raise NoReference(f"{where}: bin_fractions must have one entry per bin (len(bin_edges) - 1)")
    if np.any(np.diff(edges) < 0) or not np.isfinite(edges).all() or not np.isfinite(fractions).all():
        raise NoReference(f"{where}: bin_edges must be finite and non-decreasing")
    return FeatureReference(name, column, edges[1:-1], np.maximum(fractions, PSI_FLOOR), minimum, maximum)


def psi(values: np.ndarray[Any, Any], feature: FeatureReference) -> float:
    """Population stability index of `values` against the feature's training bins."""
    counts = np.bincount(np.searchsorted(feature.interior_edges, values, side="right"), minlength=len(feature.expected))
    actual = np.maximum(counts / max(len(values), 1), PSI_FLOOR)
    return float(np.sum((actual - feature.expected) * np.log(actual / feature.expected)))


@dataclass(frozen=True)
class FeatureDrift:
    psi: float
    out_of_range_ratio: float
    mean: float
    std: float
    minimum: float
    maximum: float

    def describe(self, threshold: float) -> dict[str, Any]:
        return {
            "psi": round(self.psi, 6),
            "out_of_range_ratio": round(self.out_of_range_ratio, 6),
            "mean": self.mean,
            "std": self.std,
            "min": self.minimum,
            "max": self.maximum,
            "drifted": self.psi > threshold,
        }


@dataclass(frozen=True)
class WindowResult:
    reference: Reference
    rows: int
    at: datetime
    features: dict[str, FeatureDrift]

    def drifted(self, threshold: float) -> list[str]:
        return [name for name, f in self.features.items() if f.psi > threshold]


def evaluate(window: Matrix, reference: Reference) -> WindowResult:
    """Each feature's PSI, out-of-range ratio and summary statistics over a full window.

    Per feature these are `psi()` and numpy's mean, std, min and max of its column; here the columns are
    transposed once so each feature's values are contiguous, and every statistic is one call over all of them
    (numpy reduces each row of a block as it reduces that row alone: the figures are the same, a test compares
    them). Only the bin search and the PSI's final sum stay per feature.
    """
    layout = reference.layout
    values = np.ascontiguousarray(window[:, layout.columns].T)
    n = values.shape[1]
    outside = np.count_nonzero((values < layout.minimum) | (values > layout.maximum), axis=1)
    means, lows, highs = values.mean(axis=1), values.min(axis=1), values.max(axis=1)
    stds = values.std(axis=1, ddof=1) if n > 1 else np.zeros(len(values))
    bins = np.empty(values.shape, dtype=np.intp)
    for i, f in enumerate(reference.features):
        bins[i] = np.searchsorted(f.interior_edges, values[i], side="right")
    bins += layout.starts
    counts = np.bincount(bins.ravel(), minlength=len(layout.expected))
    actual = np.maximum(counts / max(n, 1), PSI_FLOOR)
    terms = (actual - layout.expected) * np.log(actual / layout.expected)
    features = {}
    for i, f in enumerate(reference.features):
        start, stop = layout.spans[i]
        features[f.name] = FeatureDrift(
            psi=float(np.add.reduce(terms[start:stop])),
            out_of_range_ratio=int(outside[i]) / n,
            mean=float(means[i]),
            std=float(stds[i]),
            minimum=float(lows[i]),
            maximum=float(highs[i]),
        )
    return WindowResult(reference, len(window), datetime.now(UTC), features)


class DriftMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # livemax: under several workers, the pod reports its most drifted worker (the one to alert on).
        self.psi = Gauge(
            "serving_drift_psi",
            "PSI of the last full window of inputs against the champion's training bins, by feature.",
            ["feature"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.out_of_range = Gauge(
            "serving_drift_out_of_range_ratio",
            "Fraction of the last full window outside the training [min, max], by feature.",
            ["feature"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.windows = Counter(
            "serving_drift_windows", "Windows of inputs compared with the training statistics.", registry=registry
        )


class DriftMonitor:
    """Tumbling windows of input rows, compared with the champion's training statistics when full."""

    def __init__(self, window_rows: int, threshold: float, registry: CollectorRegistry) -> None:
        self.window_rows = window_rows
        self.threshold = threshold
        # A scrape sees every window the rows held back complete; the gauges, 2 per feature and window (a window
        # per request at 1000 rows), are written at flushes.
        ReadHook(registry, self.flush)
        self._tally = Tally()
        self.metrics = DriftMetrics(registry)
        self._gauges: dict[str, tuple[Any, Any]] = {}  # feature -> its bound PSI and out-of-range gauges
        self._window: Matrix | None = None
        self._filled = 0
        self._reference: Reference | None = None
        self._reference_of: tuple[str, str] | None = None  # the champion (name, version) it was built for
        self.reference_error: str | None = None
        self._last: WindowResult | None = None
        self.windows = 0
        self._pending: list[Matrix] = []  # rows not yet in the window, all for `_pending_for`
        self._pending_rows = 0
        self._pending_for: LoadedModel | None = None

    @property
    def enabled(self) -> bool:
        return self.window_rows > 0

    def reference_for(self, champion: LoadedModel) -> Reference | None:
        """The champion's reference, built once per version; None (with the reason kept) when it has none."""
        key = (champion.name, champion.version)
        if key == self._reference_of:
            return self._reference
        self._reference_of = key
        try:
            self._reference, self.reference_error = Reference.of(champion), None
        except NoReference as e:
            self._reference, self.reference_error = None, str(e)
            log.warning("no drift reference for the champion", extra={"version": champion.version, "error": str(e)})
        return self._reference

    def observe(self, rows: Matrix, champion: LoadedModel) -> None:
        """Add validated input rows (in the champion's column order). They reach the window, and each window is
        evaluated as it fills, once FOLD_ROWS rows are held or anything reads the monitor."""
        if not self.enabled:
            return
        if champion is not self._pending_for:
            self.fold()
            self._pending_for = champion
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= FOLD_ROWS:
            self.fold()

    def flush(self) -> None:
        """Fold the rows held back, then write the metrics of the windows they completed."""
        self.fold()
        self._tally.flush()

    def fold(self) -> None:
        """Copy the rows held back into the window, evaluating each window that fills."""
        pending, champion = self._pending, self._pending_for
        if not pending or champion is None:
            return
        self._pending, self._pending_rows = [], 0
        if self.reference_for(champion) is None:
            return
        rows = numeric_view(pending[0] if len(pending) == 1 else np.concatenate(pending), champion.schema)
        width = rows.shape[1]
        if self._window is None or self._window.shape[1] != width:
            self._window = np.empty((self.window_rows, width), dtype=np.float64)
            self._filled = 0
        window = self._window
        start = 0
        while start < len(rows):
            take = min(self.window_rows - self._filled, len(rows) - start)
            window[self._filled : self._filled + take] = rows[start : start + take]
            self._filled += take
            start += take
            if self._filled == self.window_rows:
                self._filled = 0
                self._close(window, champion)

    @property
    def last(self) -> WindowResult | None:
        """The last full window's result (after the rows held back are counted)."""
        self.fold()
        return self._last

    def _close(self, window: Matrix, champion: LoadedModel) -> None:
        reference = self.reference_for(champion)
        if reference is None:
            return
        result = evaluate(window, reference)
        self._last = result
        self.windows += 1
        self._tally.inc(self.metrics.windows)
        for name, f in result.features.items():
            gauges = self._gauges.get(name)
            if gauges is None:
                gauges = self._gauges[name] = (self.metrics.psi.labels(name), self.metrics.out_of_range.labels(name))
            self._tally.set(gauges[0], f.psi)
            self._tally.set(gauges[1], f.out_of_range_ratio)
        drifted = result.drifted(self.threshold)
        if drifted:
            log.warning(
                "input drift",
                extra={"features": drifted, "threshold": self.threshold, "version": reference.version},
            )

    def status(self) -> str:
        last = self.last
        if not self.enabled:
            return "off"
        if last is None:
            return "no_reference" if self.reference_error else "warming_up"
        return "drift" if last.drifted(self.threshold) else "ok"

    def summary(self) -> dict[str, Any]:
        """For /health: a warning, never a reason to be unready."""
        last = self.last
        return {
            "status": self.status(),
            "threshold": self.threshold,
            "drifted": last.drifted(self.threshold) if last else [],
        }

    def describe(self) -> dict[str, Any]:
        """For GET /drift: this worker's last full window, feature by feature."""
        last = self.last
        return {
            **self.summary(),
            "window_rows": self.window_rows,
            "rows_in_current_window": self._filled,
            "windows_evaluated": self.windows,
            "reference_error": self.reference_error,
            "last_window": None
            if last is None
            else {
                "reference": {
                    "model": last.reference.model,
                    "version": last.reference.version,
                    "rows": last.reference.rows,
                },
                "rows": last.rows,
                "evaluated_at": last.at.isoformat(),
                "features": {name: f.describe(self.threshold) for name, f in last.features.items()},
            },
        }
