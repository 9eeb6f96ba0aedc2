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
import json
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
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from local import servers
from service.core.cache import canonical_row, fits, row_keys
from service.core.model import LoadedModel, ModelRejected, contract, parse_contract, validate
from service.core.predict import NativePredictor, predict
from service.core.schema import Column, InputSchema
from service.core.shadow import Shadow, ShadowJob
from tests.service.conftest import PIP_REQUIREMENTS, cache_settled, metric, seal_version, serving, settings_for

LABELS = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return features, LABELS[target.to_numpy()]


@pytest.fixture(scope="module")
def classifier(iris: tuple[pd.DataFrame, np.ndarray]) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(*iris)


def register(
    name: str, model: Any, features: pd.DataFrame, outputs: Any, *, input_example: bool = False, **options: Any
) -> str:
    """Log, register, seal and alias `model` as a team would (signature from its own outputs); the version."""
    signature = infer_signature(features, outputs)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            signature=signature,
            input_example=features.head(3) if input_example else None,
            pip_requirements=PIP_REQUIREMENTS,
            **options,
        )
    version = str(info.registered_model_version)
    seal_version(name, version, signature, np.asarray(outputs)[:1])
    MlflowClient().set_registered_model_alias(name, "production", version)
    return version


def mlflow_answer(name: str, version: str, frame: pd.DataFrame) -> list[Any]:
    """What `mlflow models serve -m models:/<name>/<version>` answers on /invocations for `frame`."""
    result = mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(frame)
    return list(np.asarray(result).tolist())


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


def housing(n: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    """Rows with a string (categorical) column between numeric ones; the target depends on all three."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "rooms": rng.integers(1, 6, n).astype("int64"),
            "area": rng.normal(50, 10, n),
        }
    )
    target = frame.rooms * 10 + frame.area + frame.city.map({"paris": 30.0, "lyon": 10.0, "nice": 20.0})
    return frame, target


def categorical_pipeline(estimator: Any) -> Pipeline:
    encode = ColumnTransformer([("city", OneHotEncoder(), ["city"])], remainder="passthrough")
    return make_pipeline(encode, estimator)


@pytest.fixture(scope="module")
def categorical_client(
    tracking: str, redis_server: servers.RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str, str, pd.DataFrame]]:
    name = "svc_models_housing"
    features, target = housing()
    model = categorical_pipeline(LinearRegression()).fit(features, target)
    version = register(name, model, features, model.predict(features), input_example=True)
    settings = settings_for(
        tracking,
        name,
        tmp_path_factory.mktemp("categorical"),
        cache_enabled=True,
        cache_url=redis_server.url,
        cache_key_prefix=f"test-{secrets.token_hex(3)}:",
    )
    with serving(settings) as client:
        yield client, name, version, features


def test_a_pipeline_with_a_string_column_is_served_through_pyfunc(
    categorical_client: tuple[TestClient, str, str, pd.DataFrame],
) -> None:
    """Before: refused at load ("column 'city' has type string; supported: boolean, double, float, integer,
    long"). The input schema takes MLflow's `string` columns (mlflow/types/schema.py@v3.17.2 DataType.string);
    such a model is served through pyfunc, which hands it a typed DataFrame, and /health says why."""
    client, name, version, features = categorical_client
    model = client.get("/health").json()["model"]
    assert (model["version"], model["flavor"]) == (version, "pyfunc")
    assert "string or datetime input columns" in model["path_reason"]
    assert {"name": "city", "type": "string"} in model["inputs"]
    frame = features.iloc[5:15]
    expected = mlflow_answer(name, version, frame)
    records = frame.to_dict(orient="records")
    split = {"columns": list(frame.columns), "data": [list(r.values()) for r in records]}
    for body in ({"dataframe_split": split}, {"dataframe_records": records}, {"inputs": records}):
        answer = client.post("/invocations", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": expected}
    typed = client.post("/predict", json={"instances": records})
    assert typed.status_code == 200, typed.text
    assert typed.json()["predictions"] == expected
    cache_settled(client)
    hits = metric(client, "serving_cache_hits_total")
    assert client.post("/predict", json={"instances": records}).json()["predictions"] == expected
    assert metric(client, "serving_cache_hits_total") == hits + len(records)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, "expected a string (string), got 1"),
        (True, "expected a string (string), got true"),
        (None, "null is not a value"),
        (["paris"], "expected a string (string), got a list of 1"),
        ({"a": "paris"}, "expected a string (string), got an object of 1 keys"),
    ],
)
def test_a_wrong_value_in_a_string_column_is_refused_naming_row_and_field(
    categorical_client: tuple[TestClient, str, str, pd.DataFrame], value: Any, expected: str
) -> None:
    """A number is not read as a category (MLflow's schema enforcement refuses it too), and the error names
    the row and field as for numeric columns."""
    client = categorical_client[0]
    rows = [{"city": "paris", "rooms": 2, "area": 40.0}, {"city": value, "rooms": 3, "area": 50.0}]
    for path, body, status in (
        ("/predict", {"instances": rows}, 422),
        ("/invocations", {"dataframe_records": rows}, 400),  # MLflow's BAD_REQUEST
    ):
        answer = client.post(path, json=body)
        assert answer.status_code == status, (path, answer.text)
        text = answer.text
        assert expected in text and "row 1" in text and "city" in text, (path, text)


@pytest.mark.parametrize(
    "city",
    ["", "rome", "x" * 5000, "\ud800", "pa\u0000ris", "paris ", "PARIS", "\u202eparis", "1e308", "NaN"],
)
def test_hostile_strings_get_a_4xx_never_a_5xx(
    categorical_client: tuple[TestClient, str, str, pd.DataFrame], city: str
) -> None:
    """Strings the model never saw (OneHotEncoder(handle_unknown="error") raises ValueError) are the caller's
    fault: 422 on /predict, 4xx in MLflow's format on /invocations (`mlflow models serve` answers any predict
    error with 400 BAD_REQUEST, mlflow/pyfunc/scoring_server/__init__.py@v3.17.2). Before: a 500."""
    client = categorical_client[0]
    rows = [{"city": city, "rooms": 2, "area": 40.0}]
    body = json.dumps({"instances": rows}).encode()  # the standard library writes a lone surrogate as \\ud800
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    mlflow_body = json.dumps({"dataframe_records": rows}).encode()
    answer = client.post("/invocations", content=mlflow_body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error_code"] == "BAD_REQUEST"


def test_cache_keys_for_mixed_rows_are_canonical_and_typed() -> None:
    """Types, order of keys in the request and -0.0 are normalised before hashing; "1", 1 and true never share
    a key, and strings cannot be cut two ways."""
    rows = np.array([["1", 1.0], ["1", -0.0], ["1", 0.0], ["ab", 1.0]], dtype=object)
    keys = row_keys("p:", "m", rows)
    assert keys[1] == keys[2] and len(set(keys)) == 3
    assert canonical_row(["1"]) != canonical_row([1.0])
    assert canonical_row([True]) == canonical_row([1.0]), "a boolean column holds 0.0/1.0, as before"
    assert canonical_row(["ab", "c"]) != canonical_row(["a", "bc"])
    assert canonical_row(["\ud800"]) != canonical_row(["\ufffd"])


def test_a_classifier_pipeline_on_a_string_column_answers_labels_as_mlflow_does(
    tracking: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Both item kinds at once: string inputs, string outputs."""
    name = "svc_models_housing_labels"
    features, target = housing()
    labels = np.where(target > target.median(), "dear", "cheap")
    model = categorical_pipeline(LogisticRegression(max_iter=500)).fit(features, labels)
    version = register(name, model, features, model.predict(features), input_example=True)
    frame = features.iloc[:12]
    expected = mlflow_answer(name, version, frame)
    with serving(settings_for(tracking, name, tmp_path_factory.mktemp("housing-labels"))) as client:
        answer = client.post("/invocations", json={"dataframe_records": frame.to_dict(orient="records")})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": expected}
        assert set(expected) == {"dear", "cheap"}


class SeasonalModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A model of a datetime feature: half the day of the year plus `x`."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return (model_input["when"].dt.dayofyear * 0.5 + model_input["x"]).to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def datetime_client(
    tracking: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str, str, pd.DataFrame]]:
    name = "svc_models_seasonal"
    features = pd.DataFrame(
        {"when": pd.to_datetime(["2026-01-01T00:00:00", "2026-03-15T06:30:00", "2026-12-31T00:00:00"]), "x": 1.0}
    )
    signature = infer_signature(features, SeasonalModel().predict(None, features))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=SeasonalModel(),
            registered_model_name=name,
            signature=signature,
            input_example=features,
            pip_requirements=PIP_REQUIREMENTS,
        )
    version = str(info.registered_model_version)
    seal_version(name, version, signature, np.zeros(1))
    MlflowClient().set_registered_model_alias(name, "production", version)
    settings = settings_for(tracking, name, tmp_path_factory.mktemp("seasonal"), allow_pickle_models=True)
    with serving(settings) as client:
        yield client, name, version, features


def test_a_datetime_column_is_served_as_mlflow_serves_it(
    datetime_client: tuple[TestClient, str, str, pd.DataFrame],
) -> None:
    """Before: refused at load ("column 'when' has type datetime"). ISO 8601 strings become datetime64[ns], as
    MLflow's schema enforcement converts an object column for a `datetime` column
    (mlflow/models/utils.py@v3.17.2 `_enforce_mlflow_datatype`)."""
    client, name, version, features = datetime_client
    model = client.get("/health").json()["model"]
    assert {"name": "when", "type": "datetime"} in model["inputs"] and model["flavor"] == "pyfunc"
    expected = mlflow_answer(name, version, features)
    rows = [{"when": w.isoformat(), "x": 1.0} for w in features["when"]]
    answer = client.post("/invocations", json={"dataframe_records": rows})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected}
    typed = client.post("/predict", json={"instances": rows})
    assert typed.json()["predictions"] == expected


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("now", "expected an ISO 8601 date-time"),
        ("", "expected an ISO 8601 date-time"),
        (20260101, "expected an ISO 8601 date-time"),
        (None, "null is not a value"),
        ("2026-01-01T00:00:00+02:00", "has a timezone"),
        ("9999-12-31", "outside datetime64[ns]'s range"),
        ("0001-01-01", "outside datetime64[ns]'s range"),
        ("2026-02-30", "expected an ISO 8601 date-time"),
        ("x" * 3000, "expected an ISO 8601 date-time"),
    ],
)
def test_hostile_datetimes_get_a_4xx_naming_row_and_field(
    datetime_client: tuple[TestClient, str, str, pd.DataFrame], when: Any, message: str
) -> None:
    """pandas' own parser reads "now" and "" (NaT): the service reads ISO 8601 only, naive, in range."""
    client = datetime_client[0]
    rows = [{"when": "2026-01-01", "x": 1.0}, {"when": when, "x": 1.0}]
    for path, body in (("/predict", {"instances": rows}), ("/invocations", {"dataframe_records": rows})):
        answer = client.post(path, json=body)
        assert 400 <= answer.status_code < 500, (path, answer.text)
        assert message in answer.text and "row 1" in answer.text and "when" in answer.text, (path, answer.text)


def test_datetime_cache_keys_are_typed() -> None:
    """A date-time is keyed by its nanoseconds, tagged: never the key of the number or string it resembles."""
    stamp = np.datetime64("2026-01-01", "ns")
    assert canonical_row([stamp]) == canonical_row([np.datetime64("2026-01-01T00:00:00", "us")])
    assert canonical_row([stamp]) != canonical_row([float(stamp.astype(np.int64))])
    assert canonical_row([stamp]) != canonical_row(["2026-01-01"])


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
