"""Training configs are validated completely at load, with errors naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import CLASSIFIERS, CONFIG_DIR, ESTIMATORS, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_shipped_configs_load() -> None:
    linear = load_config()
    assert (linear.model_name, linear.estimator, linear.gate.metric) == (
        "linear_regression",
        "LinearRegression",
        "rmse",
    )
    forest = load_config(CONFIG_DIR / "random_forest.yaml")
    assert forest.build_estimator().get_params()["n_estimators"] == 200
    # The seed reaches estimators that take one, unless the config sets random_state itself.
    assert forest.build_estimator().get_params()["random_state"] == forest.seed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("estimator: {class: SVR}", "estimator.class 'SVR' is not a supported estimator; choose one of"),
        ("estimator: {class: os.system}", "is not a supported estimator"),
        (
            "estimator: {class: RandomForestRegressor, params: {trees: 5}}",
            "RandomForestRegressor has no parameter(s) trees",
        ),
        (
            "estimator: {class: RandomForestRegressor, params: {max_depth: -1}}",
            "estimator.params: The 'max_depth' parameter",
        ),
        ("estimator: {class: Ridge, params: [1, 2]}", "estimator.params must be a mapping"),
        ("estimatr: {}", "unknown key(s) estimatr"),
        ("data: {test_size: 0.9}", "data.test_size must be a number between 0.05 and 0.5 (got 0.9)"),
        ("data: {seed: yes}", "data.seed must be an integer"),
        ("gate: {metric: accuracy}", "gate.metric must be one of rmse, mse, mae, r2 (got 'accuracy')"),
        ("gate: {tolerance: 5}", "gate.tolerance must be a fraction between 0 and 1 (got 5)"),
        ("model_name: 'has space'", "model_name must be 1-256 letters"),
        ("[not, a, mapping]", "must be a mapping"),
        ("estimator: {class: [", "is not valid YAML"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config .*missing.yaml"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_every_allowed_estimator_saves_and_loads_in_skops_format(estimator: str, tmp_path: Path) -> None:
    import mlflow.sklearn

    from training.data import load_split
    from training.tracking import pinned_requirements

    task = "classification" if estimator in CLASSIFIERS else "regression"
    config = load_config(write(tmp_path, f"task: {task}\nestimator: {{class: {estimator}}}\n"))
    split = load_split(config.test_size, config.seed)
    # Classifiers learn string labels (above or below the median), as a team's classifier would.
    y = split.y_train.gt(split.y_train.median()).map({True: "high", False: "low"}) if task != "regression" else None
    model = config.build_estimator().fit(split.x_train, split.y_train if y is None else y)
    mlflow.sklearn.save_model(
        model,
        tmp_path / "model",
        serialization_format="skops",
        skops_trusted_types=config.skops_trusted_types,
        pip_requirements=pinned_requirements(),  # inferring them would start a subprocess per model
    )
    loaded = mlflow.sklearn.load_model(str(tmp_path / "model"))
    assert (loaded.predict(split.x_test) == model.predict(split.x_test)).all()
