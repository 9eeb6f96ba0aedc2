"""The training data: the diabetes dataset that ships with scikit-learn, its split, fingerprint and feature statistics.

`feature_stats` is the reference the inference service's drift monitor compares live traffic with (PSI); its
schema is documented in docs/operations.md and must only change together with that monitor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
TARGET = "target"
DATASET = "sklearn.datasets.load_diabetes"
STATS_SCHEMA_VERSION = 1
STATS_BINS = 10


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def load_split(test_size: float, seed: int) -> Split:
    """The diabetes data as float64 columns `FEATURES`, split reproducibly by `seed`."""
    frame = load_diabetes(as_frame=True).frame
    x = frame.loc[:, list(FEATURES)].astype("float64")
    y = frame[TARGET].astype("float64")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed)
    return Split(x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test)


def fingerprint(x: pd.DataFrame, y: pd.Series) -> str:
    """sha256 over the column names, then the features and target as little-endian float64, row-major."""
    digest = hashlib.sha256()
    digest.update(("\x1f".join(map(str, x.columns)) + "\x1e" + str(y.name)).encode())
    digest.update(np.ascontiguousarray(x.to_numpy(dtype="<f8")).tobytes())
    digest.update(np.ascontiguousarray(y.to_numpy(dtype="<f8")).tobytes())
    return digest.hexdigest()


def bin_index(values: np.ndarray[Any, Any], edges: list[float]) -> np.ndarray[Any, Any]:
    """The bin of each value: the number of interior edges at or below it (outer edges are open-ended)."""
    return np.searchsorted(np.asarray(edges[1:-1], dtype="float64"), values, side="right")


def feature_stats(x: pd.DataFrame, bins: int = STATS_BINS) -> dict[str, Any]:
    """Per-feature count, mean, std, min, max, quantile bin edges and the training fraction in each bin.

    The interior edges are the distinct deciles (10 %..90 %), so a continuous feature gets `bins` bins and a
    feature with few distinct values (such as `sex`) gets fewer; `bin_index` is the one binning rule.
    """
    features: dict[str, Any] = {}
    for name in x.columns:
        values = x[name].to_numpy(dtype="float64")
        interior = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = [float(values.min()), *map(float, interior), float(values.max())]
        counts = np.bincount(bin_index(values, edges), minlength=len(edges) - 1)
        features[str(name)] = {
            "count": int(values.size),
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)),
            "min": float(values.min()),
            "max": float(values.max()),
            "bin_edges": edges,
            "bin_fractions": [float(c) / values.size for c in counts],
        }
    return {
        "schema_version": STATS_SCHEMA_VERSION,
        "dataset": DATASET,
        "rows": int(len(x)),
        "bins": bins,
        "binning": "bin = number of bin_edges[1:-1] <= value; the first and last bins are open-ended",
        "features": features,
    }
