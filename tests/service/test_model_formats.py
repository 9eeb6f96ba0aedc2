"""The formats beyond numeric columns, in-process: tensor signatures, params, binary columns, DataFrame (record)
outputs, lists per row and `/predict?output=proba`, each answered as MLflow's own pyfunc answers, and every bad
value a 4xx naming where it is.

The corpus (tests/service/corpus.py) is saved to disk and put into the app's champion holder directly (no
registry: these tests are about the request path); the reference answer is `mlflow.pyfunc.load_model(path)`
predicting the same input. The formats follow MLflow 3.17.2: mlflow/utils/proto_json_utils.py
`parse_tf_serving_input` (inputs/instances), `_dataframe_from_json` (base64 for binary columns in the DataFrame
formats), mlflow/models/utils.py `_enforce_params_schema`, and mlflow/pyfunc/scoring_server `predictions_to_json`
(a DataFrame rendered as records).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core.loader import LoadedModel, ModelRejected, open_model, validate
from service.core.refs import VersionRef
from service.core.trust import TrustPolicy
from tests.service.corpus import KINDS, Saved, save
from tests.service.test_hostile import app_serving

Loaded = tuple[LoadedModel, Saved, TestClient]


def load(saved: Saved, version: str = "1") -> LoadedModel:
    model, probe = open_model(
        saved.path, VersionRef("corpus", version, None), "production", time.monotonic(), TrustPolicy(allow_pickle=True)
    )
    return replace(model, output_shape=validate(model, probe, None))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Loaded]:
    root = tmp_path_factory.mktemp("corpus")
    built: dict[str, Loaded] = {}

    def get(kind: str) -> Loaded:
        if kind not in built:
            saved = save(kind, root / kind)
            model = load(saved)
            client = TestClient(app_serving(model, root / f"{kind}-app"), raise_server_exceptions=False)
            built[kind] = (model, saved, client)
        return built[kind]

    return get


def reference(path: Path, data: Any, params: dict[str, Any] | None = None) -> Any:
    out = mlflow.pyfunc.load_model(str(path)).predict(data, params=params)
    return out.to_dict(orient="records") if hasattr(out, "to_dict") else np.asarray(out).tolist()


def test_every_corpus_model_loads_with_its_output_type(corpus: Callable[[str], Loaded]) -> None:
    """Before: the tensor model was refused ("the model's signature is tensor-based"), the binary one ("type
    binary"), the DataFrame one ("returns outputs of dtype object"); /health now names the path and type."""
    expected = {"tensor": "number", "params": "number", "dataframe": "record", "binary": "number",
                "text": "string", "multi": "number", "labels": "string"}  # fmt: skip
    for kind in KINDS:
        model, _, client = corpus(kind)
        health = client.get("/health").json()["model"]
        assert health["output_type"] == expected[kind], (kind, health)
    assert corpus("multi")[0].output_shape == (3,)


def test_a_tensor_model_answers_inputs_and_instances_as_mlflow_does(corpus: Callable[[str], Loaded]) -> None:
    model, saved, client = corpus("tensor")
    batch = saved.example.tolist()
    expected = reference(saved.path, saved.example)
    for path in ("/predict", "/invocations"):
        for key in ("inputs", "instances"):
            answer = client.post(path, json={key: batch})
            assert answer.status_code == 200, (path, key, answer.text)
            np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-6)
    lenient = client.post("/invocations", json={"inputs": [[["1", 2, True], [0, 0, 0]]]})
    assert lenient.status_code == 200, lenient.text  # numpy's cast reads these, as MLflow's does


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/predict", {"inputs": [[[1, 2, 3], [4, 5]]]}, "inputs[0][1]"),
        ("/predict", {"inputs": [[[1, 2, 3], [4, 5, "6"]]]}, "inputs[0][1][2]"),
        ("/predict", {"inputs": [[[1, 2, 3], [4, 5, True]]]}, "inputs[0][1][2]"),
        ("/predict", {"instances": [[[1, 2, 3], [4, 5, 6]], [1, 2]]}, "instances[1][0]"),
        ("/predict", {"inputs": [[[1, 2, 3], [4, 5, None]]]}, "inputs[0][1][2]"),
        ("/predict", {"inputs": [[[1, 2, 3], [4, 5, 1e39]]]}, "inputs[0][1][2]"),  # beyond float32
        ("/predict", {"inputs": [[[1, 2, 3], [4, 5, [6]]]]}, "inputs[0][1][2]"),
        ("/predict", {"inputs": [[1, 2, 3, 4, 5, 6]]}, "inputs[0]"),
        ("/predict", {"inputs": []}, "inputs"),
        ("/predict", {"inputs": {"a": [1]}}, "inputs"),
        ("/invocations", {"inputs": [[[1, 2, 3], [4, 5, "x"]]]}, "inputs[0][1][2]"),
        ("/invocations", {"dataframe_split": {"columns": ["a"], "data": [[1]]}}, "dataframe_split"),
        ("/invocations", {"instances": [[[1, 2, 3], [4, 5, 6.5]], 7]}, "instances[1]"),
    ],
)
def test_a_bad_tensor_is_a_4xx_naming_its_index(
    corpus: Callable[[str], Loaded], path: str, body: Any, field: str
) -> None:
    """MLflow casts with numpy and answers a shape error without the index; the service names it."""
    client = corpus("tensor")[2]
    answer = client.post(path, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    if path == "/predict":
        assert answer.json()["error"]["field"] == field, answer.text
    else:
        assert field in answer.json()["message"], answer.text


def test_params_reach_the_model_and_bad_ones_are_a_400_naming_the_param(corpus: Callable[[str], Loaded]) -> None:
    """Before: `params` was an unknown key on /predict (422) and ignored on /invocations."""
    _, saved, client = corpus("params")
    rows = saved.example.to_dict(orient="records")
    params = {"scale": 2, "mode": "shift", "offsets": [1.5, 2]}
    expected = reference(saved.path, saved.example, params)
    assert expected != reference(saved.path, saved.example)
    for path, body in (
        ("/predict", {"instances": rows, "params": params}),
        ("/invocations", {"dataframe_records": rows, "params": params}),
        ("/invocations", {"dataframe_records": rows, "params": {**params, "unknown": 1}}),  # ignored, as MLflow
    ):
        answer = client.post(path, json=body)
        assert answer.status_code == 200, (path, answer.text)
        np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-12)
    for bad, name in (
        ({"unknown": 1}, "params.unknown"),
        ({"scale": "2"}, "params.scale"),
        ({"scale": True}, "params.scale"),
        ({"scale": None}, "params.scale"),
        ({"mode": 3}, "params.mode"),
        ({"offsets": 1.0}, "params.offsets"),
        ({"offsets": [1.0, "x"]}, "params.offsets"),
        ([1, 2], "params"),
    ):
        answer = client.post("/predict", json={"instances": rows, "params": bad})
        assert (answer.status_code, answer.json()["error"].get("field")) == (400, name), (bad, answer.text)
        invocation = client.post("/invocations", json={"dataframe_records": rows, "params": bad})
        assert invocation.status_code == (200 if name == "params.unknown" else 400), (bad, invocation.text)


def test_a_dataframe_output_is_rendered_as_records(corpus: Callable[[str], Loaded]) -> None:
    """mlflow/pyfunc/scoring_server predictions_to_json: `_get_jsonable_obj(raw, pandas_orient="records")`."""
    _, saved, client = corpus("dataframe")
    expected = reference(saved.path, saved.example)
    rows = saved.example.to_dict(orient="records")
    for path, body in (("/invocations", {"dataframe_records": rows}), ("/predict", {"instances": rows})):
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == expected
        assert set(expected[0]) == {"label", "score", "flag"}


def test_a_version_whose_dataframe_output_changes_columns_is_refused(
    corpus: Callable[[str], Loaded], tmp_path: Path
) -> None:
    serving = corpus("dataframe")[0]
    renamed = save("dataframe2", tmp_path / "renamed")
    policy = TrustPolicy(allow_pickle=True)
    model, probe = open_model(renamed.path, VersionRef("corpus", "2", None), "production", 0.0, policy)
    with pytest.raises(ModelRejected, match="serving version's are record"):
        validate(model, probe, serving)
    labels = corpus("labels")[0]
    with pytest.raises(ModelRejected, match="outputs string values; serving version's are number"):
        validate(labels, probe_of(labels), replace(labels, output_kind="number"))


def probe_of(model: LoadedModel) -> Any:
    return np.array([[0.1, 0.2], [0.3, -0.4]])


def test_binary_columns_are_decoded_as_mlflow_decodes_them(corpus: Callable[[str], Loaded]) -> None:
    """Base64 in the DataFrame formats and on /predict; the text's own bytes in inputs/instances on
    /invocations, as MLflow's `convert_data_type` hands them on."""
    _, saved, client = corpus("binary")
    frame = saved.example
    encoded = [{"blob": base64.b64encode(b).decode(), "x": x} for b, x in zip(frame.blob, frame.x, strict=True)]
    decoded = reference(saved.path, frame)
    for path, body in (("/predict", {"instances": encoded}), ("/invocations", {"dataframe_records": encoded})):
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == decoded
    as_text = client.post("/invocations", json={"inputs": encoded})
    text_bytes = [len(r["blob"]) + ord(r["blob"][0]) + r["x"] for r in encoded]
    assert as_text.json()["predictions"] == text_bytes
    for blob in ("not base64!", 3, None, ["YQ=="]):
        answer = client.post("/predict", json={"instances": [{"blob": blob, "x": 1.0}]})
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "blob", (blob, answer.text)


def test_text_pipeline_labels_and_probabilities_and_lists_per_row(corpus: Callable[[str], Loaded]) -> None:
    """A pipeline's predict_proba is read by column name from the typed DataFrame (TF-IDF on a string column);
    a multi-output regressor answers one list per row, as MLflow renders a 2-D array."""
    _, saved, client = corpus("text")
    rows = saved.example.to_dict(orient="records")
    answer = client.post("/predict", json={"instances": rows})
    assert answer.json()["predictions"] == reference(saved.path, saved.example)
    proba = client.post("/predict?output=proba", json={"instances": rows})
    assert proba.status_code == 200, proba.text
    pipeline = mlflow.sklearn.load_model(str(saved.path))
    np.testing.assert_allclose(proba.json()["predictions"], pipeline.predict_proba(saved.example), rtol=1e-12)
    assert proba.json()["classes"] == ["neg", "pos"]
    _, saved, client = corpus("multi")
    answer = client.post("/invocations", json={"dataframe_records": saved.example.to_dict(orient="records")})
    np.testing.assert_allclose(answer.json()["predictions"], reference(saved.path, saved.example), rtol=1e-12)
    assert all(len(row) == 3 for row in answer.json()["predictions"])


def test_output_proba_answers_probability_vectors_or_a_400_naming_output(corpus: Callable[[str], Loaded]) -> None:
    _, saved, client = corpus("labels")
    rows = saved.example.to_dict(orient="records")
    answer = client.post("/predict?output=proba", json={"instances": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    estimator = mlflow.sklearn.load_model(str(saved.path))
    np.testing.assert_allclose(body["predictions"], estimator.predict_proba(saved.example), rtol=1e-12)
    assert body["classes"] == ["setosa", "versicolor", "virginica"]
    assert (
        client.post("/predict", json={"instances": rows}).json()["predictions"]
        == estimator.predict(saved.example).tolist()
    )
    _, multi, client = corpus("multi")
    refused = client.post("/predict?output=proba", json={"instances": multi.example.to_dict(orient="records")})
    assert (refused.status_code, refused.json()["error"]["field"]) == (400, "output"), refused.text
    unknown = corpus("labels")[2].post("/predict?output=logits", json={"instances": rows})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (400, "output")


def test_binary_values_have_a_cache_key_encoding_of_their_own() -> None:
    """A binary column's bytes were hashed as `float(value)`: b"1" shared a key with the number 1 (and b"ab"
    raised). They carry their own tag and length now, like strings (service/core/cache.py `canonical_row`)."""
    from service.core.cache import canonical_row

    assert canonical_row([b"1"]) != canonical_row([1.0])
    assert canonical_row([b"1"]) != canonical_row(["1"])
    assert canonical_row([b"ab", b"c"]) != canonical_row([b"a", b"bc"])
