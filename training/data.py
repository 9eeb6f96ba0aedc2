"""The training data: the diabetes dataset that ships with scikit-learn, or a team's own table (`--data`), its
split, fingerprint and feature statistics.

`feature_stats` is the reference the inference service's drift monitor compares live traffic with (PSI); its
schema is documented in docs/operations.md and must only change together with that monitor. It covers the
numeric features only, as the monitor does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from training.tables import DataError, read_table

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
    dataset: str = DATASET
    # MLflow column type of each feature, in column order: "double", "boolean" or "string".
    column_types: dict[str, str] = field(default_factory=dict)

    @property
    def string_columns(self) -> list[str]:
        return [name for name, kind in self.column_types.items() if kind == "string"]

    @property
    def numeric_columns(self) -> list[str]:
        return [name for name, kind in self.column_types.items() if kind != "string"]


@dataclass(frozen=True)
class DataSource:
    """A team's table (`--data`) and the column to predict (`--target`)."""

    uri: str
    target: str


def load_split(test_size: float, seed: int) -> Split:
    """The diabetes data as float64 columns `FEATURES`, split reproducibly by `seed`."""
    frame = load_diabetes(as_frame=True).frame
    x = frame.loc[:, list(FEATURES)].astype("float64")
    y = frame[TARGET].astype("float64")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed)
    return Split(x_train, x_test, y_train, y_test, DATASET, dict.fromkeys(FEATURES, "double"))


def load_table_split(source: DataSource, task: str, test_size: float, seed: int) -> Split:
    """`source`'s table checked for `task` (errors name the flag at fault), split reproducibly by `seed`:
    stratified by class for classification when every class has at least two rows."""
    frame = read_table(source.uri)
    where = f"--data {source.uri}"
    if frame.empty:
        raise DataError(f"{where} has no rows")
    if source.target not in frame.columns:
        columns = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"--target {source.target!r} is not a column of {source.uri} (its columns: {columns})")
    y = _target(frame[source.target], source.target, task)
    x = frame.drop(columns=[source.target])
    if x.shape[1] == 0:
        raise DataError(f"{where} has no feature columns besides --target {source.target!r}")
    column_types = {}
    for name in x.columns:
        if not isinstance(name, str):
            raise DataError(f"{where}: column names must be strings (got {name!r})")
        column_types[name], x[name] = _feature(x[name], where)
    stratify = None
    if task == "classification":
        counts = y.value_counts()
        if counts.min() >= 2 and round(len(y) * test_size) >= len(counts):
            stratify = y
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=test_size, random_state=seed, stratify=stratify
        )
    except ValueError as e:
        raise DataError(f"{where} has {len(frame)} rows: too few to hold out {test_size:.0%} ({e})") from e
    return Split(x_train, x_test, y_train, y_test, source.uri, column_types)


def _target(column: pd.Series, name: str, task: str) -> pd.Series:
    missing = int(column.isna().sum())
    if missing:
        raise DataError(f"--target {name!r} is empty in {missing} of {len(column)} rows")
    if task == "regression":
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            raise DataError(
                f"--target {name!r} is not numeric (e.g. {column.iloc[0]!r}): --task regression predicts numbers; "
                "use --task classification for class labels"
            )
        return column.astype("float64")
    if pd.api.types.is_bool_dtype(column):
        y = column.astype(bool)
    elif pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype="float64")
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise DataError(
                f"--target {name!r} holds non-integer numbers (e.g. {_first_fraction(values)!r}): --task "
                "classification needs class labels (strings or integers); use --task regression for a quantity"
            )
        y = column.astype("int64")
    elif all(isinstance(v, str) for v in column):
        y = column.astype(object)
    else:
        raise DataError(f"--target {name!r} mixes strings with other values: class labels must be of one type")
    if y.nunique() < 2:
        raise DataError(f"--target {name!r} has one class only ({y.iloc[0]!r}): a classifier needs at least two")
    return y


def _first_fraction(values: np.ndarray[Any, Any]) -> float:
    odd = values[~np.isfinite(values) | (values != np.round(values))]
    return float(odd[0])


def _feature(column: pd.Series, where: str) -> tuple[str, pd.Series]:
    """The column's MLflow type and its values as the model is fitted on them."""
    name = column.name
    missing = int(column.isna().sum())
    if missing:
        raise DataError(f"{where}: column {name!r} is empty in {missing} rows; fill or drop them before training")
    if pd.api.types.is_bool_dtype(column):
        return "boolean", column.astype(bool)
    if pd.api.types.is_numeric_dtype(column):
        return "double", column.astype("float64")
    if isinstance(column.dtype, pd.CategoricalDtype) or all(isinstance(v, str) for v in column):
        return "string", column.astype(str).astype(object)
    raise DataError(f"{where}: column {name!r} is {column.dtype}: features must be numbers, booleans or strings")


def fingerprint(x: pd.DataFrame, y: pd.Series) -> str:
    """sha256 over the column names, then the values.

    All-numeric data (booleans as 0/1): the features and target as little-endian float64, row-major. Otherwise
    column by column (features, then the target): a numeric column as little-endian float64, a string column as
    each value's UTF-8 length (4 bytes, big-endian) and bytes.
    """
    digest = hashlib.sha256()
    digest.update(("\x1f".join(map(str, x.columns)) + "\x1e" + str(y.name)).encode())
    columns = [x[name] for name in x.columns] + [y]
    if all(pd.api.types.is_numeric_dtype(c) for c in columns):
        digest.update(np.ascontiguousarray(x.to_numpy(dtype="<f8")).tobytes())
        digest.update(np.ascontiguousarray(y.to_numpy(dtype="<f8")).tobytes())
        return digest.hexdigest()
    for column in columns:
        if pd.api.types.is_numeric_dtype(column):
            digest.update(np.ascontiguousarray(column.to_numpy(dtype="<f8")).tobytes())
            continue
        for value in column:
            encoded = str(value).encode()
            digest.update(len(encoded).to_bytes(4, "big") + encoded)
    return digest.hexdigest()


def bin_index(values: np.ndarray[Any, Any], edges: list[float]) -> np.ndarray[Any, Any]:
    """The bin of each value: the number of interior edges at or below it (outer edges are open-ended)."""
    return np.searchsorted(np.asarray(edges[1:-1], dtype="float64"), values, side="right")


def feature_stats(x: pd.DataFrame, bins: int = STATS_BINS, dataset: str = DATASET) -> dict[str, Any]:
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
        "dataset": dataset,
        "rows": int(len(x)),
        "bins": bins,
        "binning": "bin = number of bin_edges[1:-1] <= value; the first and last bins are open-ended",
        "features": features,
    }
