"""The Open Inference Protocol spoken by a client nobody here wrote: NVIDIA's `tritonclient[http]` (PyPI), against
the real service under Gunicorn (started as `make demo` starts it: tests/support/gunicorn.py `gunicorn`), over
a model registered on the session's MLflow server.

tritonclient builds and parses the wire format itself (tritonclient/http/_utils.py `_get_inference_request`,
_infer_result.py `InferResult`, at 2.73.0): the JSON header, `Inference-Header-Content-Length`, the inputs'
`binary_data_size` and the outputs' `binary_data` flags, and `binary_data_output` when no output is named.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as httpclient
from sklearn.linear_model import LinearRegression
from tritonclient.utils import InferenceServerException

from local import servers
from tests.support.gunicorn import Service, serving_registered
from tests.support.serving import wait_for

NAME = "svc_v2_triton"


@pytest.fixture(scope="module")
def service(
    mlflow_server: servers.MlflowServer,
    redis_server: servers.RedisServer,
    diabetes: tuple[pd.DataFrame, pd.Series],
    linear: LinearRegression,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    state: Path = tmp_path_factory.mktemp("v2-clients")
    with serving_registered(
        mlflow_server.url, NAME, linear, diabetes[0], state, workers=1, cache_url=redis_server.url
    ) as running:
        yield running


@pytest.fixture(scope="module")
def triton(service: Service) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(url=service.url.removeprefix("http://"), network_timeout=30.0)
    yield client
    client.close()


@pytest.fixture(scope="module")
def rows(diabetes: tuple[pd.DataFrame, pd.Series]) -> np.ndarray:
    return diabetes[0].head(50).to_numpy(dtype=np.float64)


def _predict(service: Service, rows: np.ndarray) -> np.ndarray:
    """What `/predict` answers for the same rows: the V2 answers must be these."""
    response = service.post("/predict", json={"inputs": rows.tolist()})
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["predictions"])


def test_tritonclient_sees_a_live_ready_server_and_the_models_signature(
    triton: httpclient.InferenceServerClient, diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(NAME)
    assert not triton.is_model_ready("no_such_model")
    metadata = triton.get_model_metadata(NAME)
    assert metadata["name"] == NAME and metadata["versions"] == ["1"]
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        (c, "FP64", [-1]) for c in diabetes[0].columns
    ]
    assert metadata["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers_a_matrix_as_predict_answers(
    triton: httpclient.InferenceServerClient, service: Service, rows: np.ndarray, binary: bool
) -> None:
    tensor = httpclient.InferInput("x", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    output = httpclient.InferRequestedOutput("predict", binary_data=binary)
    result = triton.infer(NAME, [tensor], outputs=[output], request_id="r-42")
    np.testing.assert_array_equal(result.as_numpy("predict"), _predict(service, rows))
    response = result.get_response()
    assert (response["id"], response["model_name"], response["model_version"]) == ("r-42", NAME, "1")
    assert ("parameters" in response["outputs"][0]) is binary  # binary_data_size only on binary outputs


def test_tritonclient_infers_one_binary_tensor_per_column_with_default_binary_outputs(
    triton: httpclient.InferenceServerClient,
    service: Service,
    rows: np.ndarray,
    diabetes: tuple[pd.DataFrame, pd.Series],
) -> None:
    """No outputs named: tritonclient asks for every output as binary (`binary_data_output: true`)."""
    inputs = []
    for j, column in enumerate(diabetes[0].columns):
        tensor = httpclient.InferInput(column, [len(rows)], "FP64")
        tensor.set_data_from_numpy(np.ascontiguousarray(rows[:, j]), binary_data=True)
        inputs.append(tensor)
    result = triton.infer(NAME, inputs, model_version="1")
    np.testing.assert_array_equal(result.as_numpy("predict"), _predict(service, rows))
    assert "parameters" in result.get_response()["outputs"][0]


def test_tritonclient_gets_the_protocols_errors(triton: httpclient.InferenceServerClient, rows: np.ndarray) -> None:
    tensor = httpclient.InferInput("x", [len(rows), 10], "FP32")
    tensor.set_data_from_numpy(rows.astype(np.float32), binary_data=True)
    with pytest.raises(InferenceServerException) as wrong_version:
        triton.infer(NAME, [tensor], model_version="7")
    assert wrong_version.value.status() == "404"
    assert "the serving version is 1" in wrong_version.value.message()
    narrow = httpclient.InferInput("x", [len(rows), 9], "FP64")
    narrow.set_data_from_numpy(np.ascontiguousarray(rows[:, :9]), binary_data=True)
    with pytest.raises(InferenceServerException) as bad_shape:
        triton.infer(NAME, [narrow])
    assert bad_shape.value.status() == "400" and "9 columns" in bad_shape.value.message()


def test_v2_requests_are_counted_and_cached_by_the_same_data_plane(
    triton: httpclient.InferenceServerClient, service: Service, diabetes: tuple[pd.DataFrame, pd.Series]
) -> None:
    """Rows sent over V2 are counted under endpoint="v2" and answered from the version-keyed Redis cache once
    computed, as /predict's are."""
    rows = diabetes[0].tail(20).to_numpy(dtype=np.float64)
    tensor = httpclient.InferInput("x", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=True)
    counted = service.metric("serving_predictions_total", endpoint="v2")
    hits = service.metric("serving_cache_hits_total")
    first = triton.infer(NAME, [tensor]).as_numpy("predict")
    assert service.metric("serving_predictions_total", endpoint="v2") == counted + len(rows)

    def answered_from_cache() -> bool:
        np.testing.assert_array_equal(triton.infer(NAME, [tensor]).as_numpy("predict"), first)
        return service.metric("serving_cache_hits_total") >= hits + len(rows)

    wait_for(answered_from_cache, 10, "V2 rows answered from the cache", interval=0.2)
