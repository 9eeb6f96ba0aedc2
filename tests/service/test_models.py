"""Models teams register beyond numeric regressors, served as `mlflow models serve` serves them.

Each model is built here (trained in well under a second), logged as a team logs it
(`mlflow.sklearn.log_model(..., signature=infer_signature(X, model.predict(X)))`), sealed as the training CLI
seals it, and served over the session's real MLflow server and Redis. The reference answer is MLflow's own:
`mlflow.pyfunc.load_model(uri).predict(frame)`, which is what `mlflow models serve` computes, rendered as its
scoring server renders a numpy result (mlflow/pyfunc/scoring_server/__init__.py@v3.17.2, `predictions_to_json`:
`{"predictions": result.tolist()}`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.models import infer_signature
from prometheus_client import CollectorRegistry
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from local import servers
from service.core.cache import fits
from service.core.loader import LoadedModel, ModelRejected, validate
from service.core.predict import predict
from service.core.predictors import NativePredictor
from service.core.refs import contract, parse_contract
from service.core.schema import Column, InputSchema
from service.core.shadow import Shadow, ShadowJob
from tests.support.models import PIP_REQUIREMENTS, mlflow_answer, register, seal_version
from tests.support.serving import cache_settled, metric, serving, settings_for

LABELS = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return features, LABELS[target.to_numpy()]


@pytest.fixture(scope="module")
def classifier(iris: tuple[pd.DataFrame, np.ndarray]) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(*iris)


@pytest.fixture(scope="module")
def label_client(
    tracking: str,
    classifier: LogisticRegression,
    iris: tuple[pd.DataFrame, np.ndarray],
    redis_server: servers.RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, str, str]]:
    name = "svc_models_iris_labels"
    features = iris[0]
    version = register(name, classifier, features, classifier.predict(features))
    settings = settings_for(
        tracking,
        name,
        tmp_path_factory.mktemp("labels"),
        cache_enabled=True,
        cache_url=redis_server.url,
        cache_key_prefix=f"test-{secrets.token_hex(3)}:",
    )
    with serving(settings) as client:
        yield client, name, version


def test_a_classifier_with_string_labels_is_served_through_pyfunc(
    label_client: tuple[TestClient, str, str], iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Before: rejected at load with `TypeError("unsupported operand type(s) for -: 'str' and 'str'")` (the
    vetting subtracted outputs). Labels go through pyfunc, stated in /health."""
    client, name, version = label_client
    model = client.get("/health").json()["model"]
    assert (model["version"], model["flavor"], model["output_type"]) == (version, "pyfunc", "string")
    frame = iris[0].iloc[::10]
    expected = mlflow_answer(name, version, frame)
    assert set(expected) == set(LABELS), "the rows cover every class"
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    answer = client.post("/invocations", json={"dataframe_split": split})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected}
    records = client.post("/invocations", json={"dataframe_records": frame.to_dict(orient="records")})
    assert records.json() == {"predictions": expected}
    typed = client.post("/predict", json={"instances": frame.to_dict(orient="records")})
    assert typed.status_code == 200, typed.text
    assert typed.json()["predictions"] == expected
    assert all(isinstance(v, str) for v in typed.json()["predictions"])


def test_string_labels_are_answered_from_the_cache(
    label_client: tuple[TestClient, str, str], iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """A label is stored and read back as a label (before, only finite numbers fit a cached row's output)."""
    client, name, version = label_client
    frame = iris[0].iloc[[1, 60, 120]] + 0.01 * secrets.randbelow(1000)
    body = {"dataframe_records": frame.to_dict(orient="records")}
    first = client.post("/invocations", json=body).json()
    cache_settled(client)
    hits = metric(client, "serving_cache_hits_total")
    second = client.post("/invocations", json=body).json()
    assert second == first == {"predictions": mlflow_answer(name, version, frame)}
    assert metric(client, "serving_cache_hits_total") == hits + 3


def test_the_cache_holds_labels_for_a_label_model_and_nothing_else() -> None:
    """A stored value is served only if it is one row's output of the model's type: a label for a classifier,
    a finite number for a regressor, never one for the other (a number is not a label, "1" is not a number)."""
    assert fits("setosa", (), "string") and fits(["a", "b"], (2,), "string")
    assert not fits(1.0, (), "string") and not fits(True, (), "string") and not fits(None, (), "string")
    assert not fits("1", (), "number") and not fits("setosa", ()) and fits(1.5, ())
    assert fits(True, (), "boolean") and not fits(1, (), "boolean")


def test_a_label_that_reads_as_a_number_is_not_a_non_finite_output(
    iris: tuple[pd.DataFrame, np.ndarray],
) -> None:
    """numpy reads the string "nan" as NaN: a classifier whose class is called "nan" must still be answered."""
    features = iris[0].head(2)
    model = LogisticRegression(max_iter=500).fit(iris[0], np.where(iris[1] == "setosa", "nan", "inf"))
    loaded = LoadedModel(
        name="m", version="1", alias="a", run_id=None, flavor="pyfunc",
        schema=InputSchema(tuple(Column(c, "double") for c in features.columns)),
        predictor=NativePredictor(model, InputSchema(tuple(Column(c, "double") for c in features.columns))),
        output_shape=(), output_kind="string", directory=Path("."), load_seconds=0.0,
    )  # fmt: skip
    answer = asyncio.run(predict(loaded, features.to_numpy(), None, offload_min_rows=1000))
    assert answer.values == ["nan", "nan"]


def test_a_string_output_breaks_a_numeric_contract() -> None:
    """One verdict per version: a registered model whose contract (recorded before output types were) says
    numbers refuses a version answering labels; the same columns with labels recorded accept it."""
    schema = InputSchema((Column("x", "double"),))
    numeric = parse_contract('{"inputs": [{"name": "x", "type": "double"}], "output_shape": []}', "tag")
    assert contract(schema, ()) == numeric
    assert contract(schema, (), "string") != numeric
    labels = parse_contract(
        '{"inputs": [{"name": "x", "type": "double"}], "output_shape": [], "output_type": "string"}', "tag"
    )
    assert contract(schema, (), "string") == labels
    with pytest.raises(ValueError, match="output_type"):
        parse_contract('{"inputs": [], "output_shape": [], "output_type": "tensor"}', "tag")


def test_probabilities_are_served_when_the_model_was_logged_to_answer_them(
    tracking: str,
    classifier: LogisticRegression,
    iris: tuple[pd.DataFrame, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`pyfunc_predict_fn="predict_proba"` makes MLflow's pyfunc answer probability vectors
    (mlflow/sklearn/__init__.py@v3.17.2: the python_function flavor's `predict_fn`, called by `PyFuncModel`).
    Before, the service's own skops loader always called `predict`: it answered labels, and the version broke
    its own (3,)-per-row contract."""
    name = "svc_models_iris_proba"
    features = iris[0]
    version = register(
        name, classifier, features, classifier.predict_proba(features), pyfunc_predict_fn="predict_proba"
    )
    frame = features.iloc[::25]
    expected = mlflow_answer(name, version, frame)
    assert np.asarray(expected).shape == (len(frame), 3)
    with serving(settings_for(tracking, name, tmp_path_factory.mktemp("proba"))) as client:
        model = client.get("/health").json()["model"]
        assert (model["version"], model["flavor"], model["output_type"]) == (version, "pyfunc", "number")
        split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
        answer = client.post("/invocations", json={"dataframe_split": split})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": expected}
        typed = client.post("/predict", json={"inputs": frame.to_numpy().tolist()})
        assert typed.status_code == 200, typed.text
        assert typed.json()["predictions"] == expected


def label_model(estimator: Any, columns: list[str], version: str, kind: str) -> LoadedModel:
    schema = InputSchema(tuple(Column(c, "double") for c in columns))
    return LoadedModel(
        name="m", version=version, alias="a", run_id=None, flavor="pyfunc", schema=schema,
        predictor=NativePredictor(estimator, schema), output_shape=(), output_kind=kind,
        directory=Path("."), load_seconds=0.0,
    )  # fmt: skip


def test_a_version_answering_labels_cannot_replace_one_answering_numbers(
    classifier: LogisticRegression, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Without a recorded contract, the serving version's is kept: same columns and shape, but labels where
    numbers were served, is a contract change (before, validation refused every label as "non-numeric")."""
    features = iris[0]
    regressor = LinearRegression().fit(features, np.arange(len(features), dtype=float))
    serving_numbers = label_model(regressor, list(features.columns), "1", "number")
    labels = label_model(classifier, list(features.columns), "2", "string")
    probe = features.head(3).to_numpy()
    assert validate(labels, probe, None) == ()
    with pytest.raises(ModelRejected, match="outputs string values; serving version's are number"):
        validate(labels, probe, serving_numbers)


def test_the_shadow_compares_labels_by_equality(
    classifier: LogisticRegression, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """A label challenger in shadow is scored 0 where it agrees with the champion and 1 where it does not
    (before, both answers were cast to float64 and every label pair counted as a challenger error)."""
    features = iris[0]
    champion = label_model(classifier, list(features.columns), "1", "string")
    other = LogisticRegression(max_iter=500).fit(features, np.where(iris[1] == "setosa", "setosa", "versicolor"))
    challenger = label_model(other, list(features.columns), "2", "string")
    rows = features.iloc[[0, 60, 130]].to_numpy()
    answer = champion.predictor.predict(rows).tolist()
    assert answer == ["setosa", "versicolor", "virginica"]
    registry = CollectorRegistry()
    Shadow(fraction=1.0, queue_size=1, log_sample=0.0, registry=registry).compare(
        ShadowJob(rows, champion, answer, challenger, None)
    )
    labels = {"champion_version": "1", "challenger_version": "2"}
    assert not registry.get_sample_value("serving_shadow_challenger_errors_total", {"challenger_version": "2"})
    assert registry.get_sample_value("serving_shadow_abs_difference_count", labels) == 3
    assert registry.get_sample_value("serving_shadow_abs_difference_sum", labels) == 1.0


def test_a_model_without_a_signature_is_served_from_its_input_example_through_pyfunc(
    tracking: str,
    classifier: LogisticRegression,
    iris: tuple[pd.DataFrame, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`signature=False` logs no signature (mlflow/sklearn/__init__.py@v3.17.2 `save_model`); `mlflow models
    serve` still serves it. Before: refused ("the model was logged without an input signature"). Now its
    columns come from its input example, it goes through pyfunc, and both the log and /health say so."""
    name = "svc_models_iris_unsigned"
    features = iris[0]
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            classifier,
            name="model",
            registered_model_name=name,
            signature=False,
            input_example=features.head(3),
            pip_requirements=PIP_REQUIREMENTS,
        )
    version = str(info.registered_model_version)
    seal_version(name, version, infer_signature(features, classifier.predict(features)), LABELS[:1])
    MlflowClient().set_registered_model_alias(name, "production", version)
    frame = features.iloc[::30]
    expected = mlflow_answer(name, version, frame)
    with serving(settings_for(tracking, name, tmp_path_factory.mktemp("unsigned"))) as client:
        model = client.get("/health").json()["model"]
        assert (model["version"], model["flavor"]) == (version, "pyfunc")
        assert "without a signature" in model["path_reason"]
        answer = client.post("/invocations", json={"dataframe_records": frame.to_dict(orient="records")})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": expected}
    assert any("logged without a signature" in r.getMessage() for r in caplog.records)
