"""Drop-in parity with `mlflow models serve` (MLflow 3.17.2): one real `mlflow models serve` process and the service,
on the same registered model version, get the same requests and must answer alike.

The requests are those of MLflow's own scoring-server tests (mlflow/mlflow tests/pyfunc/test_scoring_server.py:
malformed and non-object JSON, both formats in the wrong orientation, an invalid `dataframe_split`, an
incompatible frame, an empty CSV, records and split with and without a charset, an unsupported content type and
an unknown content-type parameter, TF-serving `instances`, ignored `params`, ScoringServerClient's `invoke` and
`get_version`), plus every format and content type (Parquet included) and the hostile cases. Same
status, media type, body shape, values (rtol 1e-9), `error_code`, `error_class` and `sqlstate` — except the
cases in DIFFERENCES, which are the README's parity table ("Running the service"), each asserted as documented.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from sklearn.linear_model import LinearRegression

from local import processes
from tests.support.models import register_sklearn
from tests.support.serving import serving, settings_for

NAME = "svc_parity_lr"
MAX_ROWS = 1000

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def version(tracking: str, linear: LinearRegression, diabetes: Any) -> str:
    return register_sklearn(NAME, linear, diabetes[0])


@pytest.fixture(scope="module")
def mlflow_serve(
    tracking: str, version: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[processes.Process, str]]:
    """`mlflow models serve -m models:/<name>/<version> --env-manager local` on a free loopback port, started (not
    yet ready: it loads while the service does). One process for the module, stopped by its PID (process group)."""
    state = tmp_path_factory.mktemp("mlflow-serve")
    env = {
        "MLFLOW_TRACKING_URI": tracking,
        # It starts `uvicorn` by name: this venv's must come first.
        "PATH": f"{processes.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    port = processes.free_port()
    argv = [str(processes.VENV_BIN / "mlflow"), "models", "serve", "-m", f"models:/{NAME}/{version}",
            "--env-manager", "local", "-h", processes.HOST, "-p", str(port), "-w", "1"]  # fmt: skip
    proc = processes.spawn("mlflow-models-serve", argv, state, env=env, cwd=state)
    try:
        yield proc, f"http://{processes.HOST}:{port}"
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def service(
    tracking: str, version: str, mlflow_serve: tuple[processes.Process, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The service on the same version, loading while `mlflow models serve` starts."""
    settings = settings_for(tracking, NAME, tmp_path_factory.mktemp("parity"), max_batch_rows=MAX_ROWS)
    with serving(settings) as client:
        yield client


@pytest.fixture(scope="module")
def reference(mlflow_serve: tuple[processes.Process, str]) -> Iterator[httpx.Client]:
    proc, url = mlflow_serve
    processes.wait_until(proc, lambda: processes.http_ok(f"{url}/ping"), 90, "mlflow models serve")
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


JS = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"


def _cases(features: pd.DataFrame) -> dict[str, tuple[str, str | bytes]]:
    """(content type, body) per case."""
    rows = features.head(2)
    row = rows.iloc[0].to_dict()
    cols, values = list(row), list(row.values())
    no_bmi = {k: v for k, v in row.items() if k != "bmi"}
    incompatible = pd.DataFrame(np.array(range(10)))  # MLflow's test: a frame of the wrong shape
    return {
        # every format and content type
        "split": (JS, json.dumps({"dataframe_split": rows.to_dict(orient="split")})),
        "split-charset": (JS + "; charset=UTF-8", json.dumps({"dataframe_split": rows.to_dict(orient="split")})),
        "records": (JS, json.dumps({"dataframe_records": rows.to_dict(orient="records")})),
        "records-charset": (JS + "; charset=UTF-8", json.dumps({"dataframe_records": rows.to_dict(orient="records")})),
        "instances": (JS, json.dumps({"instances": rows.to_dict(orient="records")})),
        "inputs-records": (JS, json.dumps({"inputs": rows.to_dict(orient="records")})),
        "inputs-columns": (JS, json.dumps({"inputs": rows.to_dict(orient="list")})),
        "csv": (CSV, rows.to_csv(index=False)),
        "csv-charset": (CSV + "; charset=utf-8", rows.to_csv(index=False)),
        "parquet": (PARQUET, _parquet(rows)),
        "extra-column": (JS, json.dumps({"dataframe_records": [{**row, "zzz": 1.0}]})),
        "numeric-string": (JS, json.dumps({"dataframe_records": [{**row, "bmi": "0.5"}]})),
        "boolean": (JS, json.dumps({"dataframe_records": [{**row, "bmi": True}]})),
        "integer": (JS, json.dumps({"dataframe_records": [{**row, "bmi": 1}]})),
        "params-ignored": (JS, json.dumps({"dataframe_split": rows.to_dict(orient="split"), "params": {"x": "v"}})),
        # MLflow's error tests
        "malformed-json": (JS, "this is,,,, not valid json"),
        "json-number": (JS, json.dumps(1)),
        "json-string": (JS, json.dumps("1")),
        "json-list": (JS, json.dumps([1])),
        "no-format": (JS, json.dumps({"not": "a serialized dataframe"})),
        "two-formats": (JS, json.dumps({"dataframe_records": [], "dataframe_split": {"data": []}})),
        "records-as-split": (JS, json.dumps({"dataframe_records": rows.to_dict(orient="split")})),
        "split-as-records": (JS, json.dumps({"dataframe_split": rows.to_dict(orient="records")})),
        "split-invalid-frame": (JS, json.dumps({"dataframe_split": {"index": [1, 2], "data": [[1], [2], [3]]}})),
        "incompatible-frame": (JS, json.dumps({"dataframe_split": incompatible.to_dict(orient="split")})),
        "csv-empty": (CSV, ""),
        "unsupported-type": ("not_a_supported_content_type", rows.to_json(orient="split")),
        "unknown-parameter": (JS + "; something=something", rows.to_json(orient="split")),
        "latin-1": (JS + "; charset=latin-1", "{}"),
        "xml": ("application/xml", "<a/>"),
        "instances-positional": (JS, json.dumps({"instances": rows.to_numpy().tolist()})),
        # schema errors and bad values
        "missing-column": (JS, json.dumps({"dataframe_records": [no_bmi]})),
        "csv-missing-column": (CSV, "age,sex\n1,2\n"),
        "duplicate-column": (JS, json.dumps({"dataframe_split": {"columns": [*cols, "age"], "data": [[*values, 5]]}})),
        "numeric-column-name": (JS, json.dumps({"dataframe_split": {"columns": [0, *cols[1:]], "data": [values]}})),
        "string": (JS, json.dumps({"dataframe_records": [{**row, "bmi": "x"}]})),
        "null": (JS, json.dumps({"dataframe_records": [{**row, "bmi": None}]})),
        "nan": (JS, json.dumps({"dataframe_records": [{**row, "bmi": float("nan")}]})),
        "infinity": (JS, json.dumps({"dataframe_records": [{**row, "bmi": float("inf")}]})),
        "empty": (JS, json.dumps({"dataframe_records": []})),
        "records-not-list": (JS, json.dumps({"dataframe_records": {"a": 1}})),
        "split-no-columns": (JS, json.dumps({"dataframe_split": {"data": [values]}})),
        "invalid-utf8": (JS, b'{"dataframe_records": [{"age": "\xff"}]}'),
        "garbage-parquet": (PARQUET, b"not parquet"),
        "overflowing-output": (JS, json.dumps({"dataframe_records": [row, {**row, "age": 1e308}]})),
        # hostile: MLflow answers these with 500
        "nesting-bomb": (JS, "[" * 5000 + "]" * 5000),
        "list-column-name": (JS, json.dumps({"dataframe_split": {"columns": [["age"], *cols[1:]], "data": [values]}})),
        "huge-integer": (JS, '{"dataframe_records": [{"age": 1' + "0" * 5000 + "}]}"),
        # limits MLflow does not have
        "too-many-rows": (JS, json.dumps({"dataframe_records": [row] * (MAX_ROWS + 1)})),
    }


CASES = list(_cases(pd.DataFrame({"x": [0.0]})))

# The README's parity table ("Running the service"): case -> (MLflow's status, the service's, why).
DIFFERENCES: dict[str, tuple[int, int, str]] = {
    "nesting-bomb": (500, 400, "MLflow's JSON parser raises RecursionError"),
    "list-column-name": (500, 400, "MLflow hashes the name (TypeError: unhashable)"),
    "huge-integer": (500, 400, "Python refuses integers of more than 4300 digits"),
    "too-many-rows": (200, 413, "SERVING_MAX_BATCH_ROWS; MLflow has no limit"),
}


def _json(response: Any) -> Any:
    # json.loads, not response.json(): MLflow writes non-finite predictions as Infinity/NaN tokens.
    return json.loads(response.text)


@pytest.mark.parametrize("case", CASES)
def test_invocations_answers_as_mlflow_models_serve_does(
    service: TestClient, reference: httpx.Client, diabetes: Any, case: str
) -> None:
    content_type, body = _cases(diabetes[0])[case]
    headers = {"Content-Type": content_type}
    ours = service.post("/invocations", content=body, headers=headers)
    theirs = reference.post("/invocations", content=body, headers=headers)
    if case in DIFFERENCES:
        mlflow_status, our_status, _ = DIFFERENCES[case]
        assert (theirs.status_code, ours.status_code) == (mlflow_status, our_status), (ours.text, theirs.text[:300])
        assert {"error_code", "message"} <= set(_json(ours))
        return
    assert ours.status_code == theirs.status_code, (ours.text[:300], theirs.text[:300])
    media = ours.headers["content-type"].split(";")[0]
    assert media == theirs.headers["content-type"].split(";")[0]
    if media != "application/json":
        return  # 415 answers are plain text on both
    mine, expected = _json(ours), _json(theirs)
    if theirs.status_code == 200:
        assert set(mine) == set(expected) == {"predictions"}
        np.testing.assert_allclose(mine["predictions"], expected["predictions"], rtol=1e-9)
        return
    expected.pop("stack_trace", None)
    assert set(mine) == set(expected), (mine, expected)
    for key in ("error_code", "error_class", "sqlstate"):
        assert mine.get(key) == expected.get(key), (key, mine, expected)


def test_ping_and_version_answer_alike(service: TestClient, reference: httpx.Client) -> None:
    for path in ("/ping", "/version"):
        ours, theirs = service.get(path), reference.get(path)
        assert (ours.status_code, ours.text) == (theirs.status_code, theirs.text), path


def test_mlflows_scoring_server_client_works_against_the_service(
    service: TestClient, reference: httpx.Client, diabetes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ScoringServerClient (what mlflow's own tests and `mlflow.deployments` use) talks HTTP through `requests`:
    the service's answers are routed to its test client."""
    import requests

    def through_service(method: str) -> Any:
        def call(url: str, **kwargs: Any) -> Any:
            path = url.split("://", 1)[1].split("/", 1)[1]
            if "data" in kwargs:
                kwargs["content"] = kwargs.pop("data")
            return getattr(service, method)(f"/{path}", **kwargs)

        return call

    rows = diabetes[0].head(5)
    theirs = ScoringServerClient(processes.HOST, reference.base_url.port)
    expected_version, expected = theirs.get_version(), theirs.invoke(rows).get_predictions()
    monkeypatch.setattr(requests, "get", through_service("get"))
    monkeypatch.setattr(requests, "post", through_service("post"))
    ours = ScoringServerClient("service", 80)
    assert ours.get_version() == expected_version
    np.testing.assert_allclose(ours.invoke(rows).get_predictions(), expected, rtol=1e-9)


def test_the_readme_parity_table_lists_every_documented_difference() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for case, (mlflow_status, our_status, _) in DIFFERENCES.items():
        assert f"| {case} | {mlflow_status} | {our_status} |" in readme, case
