"""The training config: which estimator to fit, on which split, under which registered name, and the promotion gate.

A config is a small YAML file (training/configs/*.yaml). It is validated completely when loaded, so a bad file
fails before any data is touched, with an error naming the file and the key at fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sklearn.base import BaseEstimator, is_classifier
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "linear.yaml"
TASKS = ("regression", "classification")
# What `train --task T` uses when no --config is given.
DEFAULT_CONFIGS = {"regression": DEFAULT_CONFIG, "classification": CONFIG_DIR / "logistic.yaml"}

# A fixed allow-list rather than an import path from the file: a config must not be able to load arbitrary code.
ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "LinearRegression": LinearRegression,
    "Ridge": Ridge,
    "Lasso": Lasso,
    "RandomForestRegressor": RandomForestRegressor,
    "GradientBoostingRegressor": GradientBoostingRegressor,
    "DummyRegressor": DummyRegressor,
    "LogisticRegression": LogisticRegression,
    "RandomForestClassifier": RandomForestClassifier,
    "GradientBoostingClassifier": GradientBoostingClassifier,
    "DummyClassifier": DummyClassifier,
}
CLASSIFIERS = frozenset(name for name, cls in ESTIMATORS.items() if is_classifier(cls()))
# Models are saved in skops format, which loads only allow-listed types. Tree ensembles store their nodes in
# `sklearn.tree._tree.Tree`, which skops does not trust by default because a crafted file could index out of
# bounds; these files are written by this CLI and read back from our own registry, so the type is trusted for them.
SKOPS_TRUSTED_TYPES: dict[str, list[str]] = {
    "RandomForestRegressor": ["sklearn.tree._tree.Tree"],
    "GradientBoostingRegressor": ["sklearn.tree._tree.Tree"],
    "RandomForestClassifier": ["sklearn.tree._tree.Tree"],
    "GradientBoostingClassifier": ["sklearn.tree._tree.Tree"],
}

# Evaluation metrics logged by `train` for each task; True where a lower value is better. ROC AUC is one-vs-rest
# (macro) for more than two classes; log-loss and ROC AUC score the predicted probabilities, the others the labels.
TASK_METRICS: dict[str, dict[str, bool]] = {
    "regression": {"rmse": True, "mse": True, "mae": True, "r2": False},
    "classification": {"accuracy": False, "f1_macro": False, "log_loss": True, "roc_auc": False},
}
METRICS: dict[str, bool] = {name: lower for metrics in TASK_METRICS.values() for name, lower in metrics.items()}
# What `predict` answers in the logged model: labels, or class probabilities (`pyfunc_predict_fn`).
PREDICT_FNS = ("predict", "predict_proba")

MODEL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class ConfigError(ValueError):
    """A training config file is missing, unreadable, or holds a value the CLI cannot use."""


@dataclass(frozen=True)
class GateConfig:
    """How `promote` compares a challenger with the current champion."""

    metric: str = "rmse"
    # Relative: the challenger may be worse than the champion by at most this fraction of the champion's value.
    tolerance: float = 0.0

    @property
    def lower_is_better(self) -> bool:
        return METRICS[self.metric]


@dataclass(frozen=True)
class TrainingConfig:
    source: Path
    model_name: str = "linear_regression"
    estimator: str = "LinearRegression"
    params: Mapping[str, Any] = field(default_factory=dict)
    test_size: float = 0.2
    seed: int = 42
    gate: GateConfig = field(default_factory=GateConfig)
    task: str = "regression"
    predict_fn: str = "predict"

    @property
    def skops_trusted_types(self) -> list[str] | None:
        return SKOPS_TRUSTED_TYPES.get(self.estimator)

    def build_estimator(self) -> BaseEstimator:
        """A fresh, unfitted estimator; `random_state` follows the seed unless the config sets it."""
        cls = ESTIMATORS[self.estimator]
        params = dict(self.params)
        if "random_state" in cls().get_params() and "random_state" not in params:
            params["random_state"] = self.seed
        return cls(**params)


def _mapping(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{where} must be a mapping of names to values (got {value!r})")
    return value


def _reject_unknown(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}"
        )


def validate_model_name(name: str, where: str = "model_name") -> str:
    if not name or not set(name) <= MODEL_NAME_CHARS or len(name) > 256:
        raise ConfigError(f"{where} must be 1-256 letters, digits, '_', '-' or '.' (got {name!r})")
    return name


def parse_config(raw: object, source: Path) -> TrainingConfig:
    """Validate a parsed YAML document; every error names `source` and the key."""
    top = _mapping(raw, f"{source}")
    _reject_unknown(top, {"model_name", "task", "estimator", "data", "gate"}, f"{source}")
    task = top.get("task", "regression")
    if task not in TASKS:
        raise ConfigError(f"{source}: task must be one of {', '.join(TASKS)} (got {task!r})")

    model_name = top.get("model_name", "linear_regression")
    if not isinstance(model_name, str):
        raise ConfigError(f"{source}: model_name must be a string (got {model_name!r})")
    validate_model_name(model_name, f"{source}: model_name")

    estimator_section = _mapping(top.get("estimator"), f"{source}: estimator")
    _reject_unknown(estimator_section, {"class", "params", "predict"}, f"{source}: estimator")
    estimator = estimator_section.get("class", "LinearRegression" if task == "regression" else "LogisticRegression")
    if estimator not in ESTIMATORS:
        raise ConfigError(
            f"{source}: estimator.class {estimator!r} is not a supported estimator; "
            f"choose one of {', '.join(sorted(ESTIMATORS))}"
        )
    if (estimator in CLASSIFIERS) != (task == "classification"):
        kind = "a classifier" if estimator in CLASSIFIERS else "a regressor"
        raise ConfigError(f"{source}: estimator.class {estimator} is {kind}, but task is {task}")
    predict_fn = estimator_section.get("predict", "predict")
    if predict_fn not in PREDICT_FNS or (predict_fn != "predict" and task != "classification"):
        allowed = PREDICT_FNS if task == "classification" else PREDICT_FNS[:1]
        raise ConfigError(f"{source}: estimator.predict must be one of {', '.join(allowed)} (got {predict_fn!r})")
    params = _mapping(estimator_section.get("params"), f"{source}: estimator.params")
    _validate_params(ESTIMATORS[estimator], params, f"{source}: estimator.params")

    data = _mapping(top.get("data"), f"{source}: data")
    _reject_unknown(data, {"test_size", "seed"}, f"{source}: data")
    test_size = data.get("test_size", 0.2)
    if isinstance(test_size, bool) or not isinstance(test_size, int | float) or not 0.05 <= test_size <= 0.5:
        raise ConfigError(f"{source}: data.test_size must be a number between 0.05 and 0.5 (got {test_size!r})")
    seed = data.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"{source}: data.seed must be an integer in [0, 2**32) (got {seed!r})")

    gate_section = _mapping(top.get("gate"), f"{source}: gate")
    _reject_unknown(gate_section, {"metric", "tolerance"}, f"{source}: gate")
    default_metric = next(iter(TASK_METRICS[task])) if task == "regression" else "f1_macro"
    gate = parse_gate(
        gate_section.get("metric", default_metric), gate_section.get("tolerance", 0.0), f"{source}: gate", task
    )

    return TrainingConfig(
        source=source,
        model_name=model_name,
        estimator=estimator,
        params=params,
        test_size=float(test_size),
        seed=seed,
        gate=gate,
        task=task,
        predict_fn=predict_fn,
    )


def parse_gate(metric: object, tolerance: object, where: str = "gate", task: str | None = None) -> GateConfig:
    """A gate on one of `task`'s metrics (any task's when None)."""
    allowed = METRICS if task is None else TASK_METRICS[task]
    if metric not in allowed:
        raise ConfigError(f"{where}.metric must be one of {', '.join(allowed)} (got {metric!r})")
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or not 0 <= tolerance <= 1
    ):
        raise ConfigError(f"{where}.tolerance must be a fraction between 0 and 1 (got {tolerance!r})")
    return GateConfig(metric=str(metric), tolerance=float(tolerance))


def _validate_params(cls: type[BaseEstimator], params: Mapping[str, Any], where: str) -> None:
    known = set(cls().get_params())
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(
            f"{where}: {cls.__name__} has no parameter(s) {', '.join(unknown)}; it accepts {', '.join(sorted(known))}"
        )
    try:
        # scikit-learn checks parameter types and ranges only at fit time; check them now, before any work.
        cls(**params)._validate_params()
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from e


def load_config(path: Path | None = None, task: str | None = None) -> TrainingConfig:
    """Read and validate a config file (the default: training/configs/linear.yaml, or logistic.yaml for
    classification). `task` (the `--task` flag) must be the config's own."""
    if task is not None and task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)} (got {task!r})")
    path = path or DEFAULT_CONFIGS[task or "regression"]
    config = _load(path)
    if task is not None and config.task != task:
        raise ConfigError(
            f"--task {task} does not match {path}, a {config.task} config ({config.estimator}); pass a {task} "
            f"config with --config (e.g. {DEFAULT_CONFIGS[task].relative_to(CONFIG_DIR.parent.parent)})"
        )
    return config


def _load(path: Path) -> TrainingConfig:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    return parse_config(raw, path)
