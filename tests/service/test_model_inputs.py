"""Input columns beyond numbers: string (categorical) and datetime columns, served as `mlflow models serve` serves
them, and hostile values for them answered 4xx, never 5xx.

Models are built here (trained in well under a second), logged as a team logs them, sealed as the training CLI
seals them, and served over the session's real MLflow server and Redis; the reference answer is MLflow's own
pyfunc prediction (tests/support/models.py `mlflow_answer`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from local import servers
from service.core.cache import canonical_row, row_keys
from tests.support.models import PIP_REQUIREMENTS, mlflow_answer, register, seal_version
from tests.support.serving import cache_settled, metric, serving, settings_for


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
