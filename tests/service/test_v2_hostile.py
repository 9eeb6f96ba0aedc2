"""Hostile Open Inference Protocol bodies (the pattern of test_hostile.py): wrong datatypes, shapes that
disagree with their data, lying binary sizes, truncated binary, nesting and size bombs. Every case is a 4xx in the
protocol's `{"error": "<message>"}` form naming what is wrong, never a 5xx, and the service stays ready.

The wire format is kserve/open-inference-protocol specification/protocol/inference_rest.md and Triton's
docs/protocol/extension_binary_data.md (the header's length in `Inference-Header-Content-Length`, each binary
input's byte count in `parameters.binary_data_size`).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

from service.core.loader import LoadedModel
from tests.service.test_v2 import NAME, client_for, loaded

MAX_BODY = 1_048_576
MAX_ROWS = 100
INFER = f"/v2/models/{NAME}/infer"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, diabetes: tuple[pd.DataFrame, pd.Series]) -> LoadedModel:
    return loaded(tmp_path_factory.mktemp("v2-hostile") / "model", LinearRegression().fit(*diabetes), diabetes[0])


@pytest.fixture(scope="module")
def client(model: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return client_for(
        model, tmp_path_factory.mktemp("v2-hostile-app"), max_body_bytes=MAX_BODY, max_batch_rows=MAX_ROWS
    )


def _tensor(**changes: Any) -> dict[str, Any]:
    return {"name": "x", "shape": [1, 10], "datatype": "FP64", "data": [[0.01] * 10], **changes}


def _json(*inputs: dict[str, Any], **extra: Any) -> tuple[bytes, dict[str, str]]:
    return json.dumps({"inputs": list(inputs), **extra}).encode(), {"Content-Type": "application/json"}


def _binary(header: dict[str, Any], data: bytes, length: str | None = None) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + data, {"Inference-Header-Content-Length": length if length is not None else str(len(head))}


def _bin_input(size: int, datatype: str = "FP64", shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": "x", "shape": shape or [1, 10], "datatype": datatype, "parameters": {"binary_data_size": size}}


ROW = np.full(10, 0.01).astype("<f8").tobytes()

CASES: dict[str, tuple[tuple[bytes, dict[str, str]], int, str]] = {
    # (body and headers, status, a fragment the error must contain)
    "not-json": ((b"{nope", {}), 400, "not valid JSON"),
    "not-an-object": ((b"[1, 2]", {}), 400, "JSON object"),
    "no-inputs": ((b'{"inputs": []}', {}), 400, '"inputs"'),
    "input-not-object": (_json("x"), 400, "input 0"),  # type: ignore[arg-type]
    "unknown-datatype": (_json(_tensor(datatype="FP128")), 400, "FP128"),
    "strings-as-fp64": (_json(_tensor(data=[["a"] * 10])), 400, "strings"),
    "nulls-in-data": (_json(_tensor(data=[[None] * 10])), 400, "input 'x'"),
    "booleans-among-numbers": (_json(_tensor(data=[[True] + [0.01] * 9])), 400, "true/false"),
    "floats-as-int64": (_json(_tensor(datatype="INT64", data=[[0.5] * 10])), 400, "non-integers"),
    "int8-out-of-range": (_json(_tensor(datatype="INT8", data=[[300] * 10])), 400, "INT8's range"),
    "huge-integer": (_json(_tensor(data=[[10**400] * 10])), 400, "input 'x'"),
    "nan-literal": (
        (b'{"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP64", "data": [NaN,1,1,1,1,1,1,1,1,1]}]}', {}),
        400,
        "not finite",
    ),  # noqa: E501
    "fp16-overflow-to-inf": (_json(_tensor(datatype="FP16", data=[[1e6] * 10])), 400, "not finite"),
    "shape-data-mismatch": (_json(_tensor(shape=[2, 10])), 400, "holds 20 values"),
    "ragged-data": (_json(_tensor(data=[[0.1] * 10, [0.1] * 9], shape=[2, 10])), 400, "input 'x'"),
    "wrong-width": (_json(_tensor(shape=[1, 9], data=[[0.1] * 9])), 400, "9 columns"),
    "three-dims": (_json(_tensor(shape=[1, 10, 1])), 400, "shape"),
    "negative-shape": (_json(_tensor(shape=[-1, 10])), 400, "shape"),
    "boolean-shape": (_json(_tensor(shape=[True, 10])), 400, "shape"),
    "zero-rows": (_json(_tensor(shape=[0, 10], data=[])), 400, "no rows"),
    "too-many-rows": (_json(_tensor(shape=[MAX_ROWS + 1, 10], data=[[0.1] * 10] * (MAX_ROWS + 1))), 413, "limit"),
    "huge-shape-claim": (_json(_tensor(shape=[1, 10**12])), 400, "input 'x'"),
    "bytes-for-numbers": (_json(_tensor(datatype="BYTES", data=[["1"] * 10])), 400, "cannot hold"),
    "bool-for-float-column": (_json(_tensor(datatype="BOOL", data=[[True] * 10])), 400, "cannot hold"),
    "unknown-column-input": (
        _json({"name": "nope", "shape": [1], "datatype": "FP64", "data": [1.0]}),
        400,
        "unknown input 'nope'",
    ),
    "missing-column": (_json({"name": "age", "shape": [1], "datatype": "FP64", "data": [1.0]}), 400, "missing input"),
    "id-not-string": (_json(_tensor(), id=5), 400, '"id"'),
    "parameters-not-object": (_json(_tensor(), parameters=[1]), 400, '"parameters"'),
    "binary-flag-not-bool": (_json(_tensor(), parameters={"binary_data_output": "yes"}), 400, "binary_data_output"),
    "unknown-output": (_json(_tensor(), outputs=[{"name": "proba"}]), 400, "unknown output"),
    "nested-bomb": (
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}]}",
            {},
        ),
        400,
        "",
    ),
    # The binary extension
    "header-length-not-a-number": (_binary({"inputs": [_bin_input(80)]}, ROW, length="abc"), 400, "Inference-Header"),
    "header-length-of-5000-digits": (
        _binary({"inputs": [_bin_input(80)]}, ROW, length="9" * 5000),
        400,
        "Inference-Header",
    ),
    "header-length-beyond-body": (_binary({"inputs": [_bin_input(80)]}, ROW, length="99999"), 400, "only"),
    "header-length-cuts-json": (_binary({"inputs": [_bin_input(80)]}, ROW, length="10"), 400, "not valid JSON"),
    "size-larger-than-data": (_binary({"inputs": [_bin_input(800)]}, ROW), 400, "truncated"),
    "truncated-binary": (_binary({"inputs": [_bin_input(80)]}, ROW[:-1]), 400, "input 'x'"),
    "size-smaller-than-shape": (_binary({"inputs": [_bin_input(40)]}, ROW[:40]), 400, "take 80"),
    "bytes-left-over": (_binary({"inputs": [_bin_input(80)]}, ROW + b"\0" * 8), 400, "add up to 80"),
    "negative-size": (_binary({"inputs": [_bin_input(-8)]}, ROW), 400, "binary_data_size"),
    "size-not-integer": (_binary({"inputs": [_bin_input("80")]}, ROW), 400, "binary_data_size"),  # type: ignore[arg-type]
    "data-and-binary": (
        _binary({"inputs": [{**_bin_input(80), "data": [[0.0] * 10]}]}, ROW),
        400,
        "both",
    ),
    "binary-nan": (_binary({"inputs": [_bin_input(80)]}, np.full(10, np.nan).tobytes()), 400, "not finite"),
    "binary-bool-byte-2": (
        _binary({"inputs": [_bin_input(10, "BOOL")]}, b"\x02" * 10),
        400,
        "BOOL",
    ),
    "bytes-length-lies": (
        _binary({"inputs": [_bin_input(8, "BYTES", [1, 1])]}, struct.pack("<I", 1000) + b"abcd"),
        400,
        "claims 1000 bytes",
    ),
    "bytes-shape-claims-a-trillion": (
        _binary({"inputs": [_bin_input(8, "BYTES", [1, 10**12])]}, struct.pack("<I", 4) + b"abcd"),
        400,
        "at least",
    ),
    "bytes-not-utf8": (
        _binary({"inputs": [_bin_input(6, "BYTES", [1, 1])]}, struct.pack("<I", 2) + b"\xff\xfe"),
        400,
        "UTF-8",
    ),
    "binary-without-header-length": (
        (json.dumps({"inputs": [_bin_input(80)]}).encode() + ROW, {}),
        400,
        "not valid JSON",
    ),  # noqa: E501
    "over-the-body-limit": (_binary({"inputs": [_bin_input(MAX_BODY)]}, b"\0" * MAX_BODY), 413, "limit"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_v2_bodies_are_4xx_naming_the_fault_never_5xx(client: TestClient, case: str) -> None:
    (body, headers), status, fragment = CASES[case]
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error"} and isinstance(payload["error"], str)
    assert fragment in payload["error"]
    assert client.get("/v2/health/ready").status_code == 200


def test_every_hostile_case_is_a_4xx_also_on_the_versioned_route(client: TestClient, model: LoadedModel) -> None:
    for (body, headers), _, _ in CASES.values():
        response = client.post(f"/v2/models/{NAME}/versions/{model.version}/infer", content=body, headers=headers)
        assert 400 <= response.status_code < 500, response.text


def test_a_valid_binary_request_still_answers_after_the_hostile_ones(client: TestClient, tmp_path: Path) -> None:
    """The control: the same shapes, honestly sized, are answered (so the cases above fail for their fault)."""
    body, headers = _binary({"inputs": [_bin_input(80)]}, ROW)
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["shape"] == [1]
