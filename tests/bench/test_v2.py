"""The Open Inference Protocol bench scenario: the binary V2 body as the service's own codec reads it, and its targets.

The body follows Triton's binary tensor data extension (triton-inference-server/server@r24.08,
docs/protocol/extension_binary_data.md): JSON header, then the tensor's little-endian bytes, the header's length
in `Inference-Header-Content-Length`. It is decoded here with service/v2/codec.py, the parser the service runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.load import Body, LoadResult
from bench.run import _diabetes_rows
from bench.summary import summarise
from bench.targets import evaluate
from bench.v2 import HEADER, binary_body, write_binary_body
from service.core.errors import MalformedBody
from service.core.schema import Column, InputSchema
from service.v2.codec import parse_infer
from service.v2.errors import InvalidTensor
from tests.support.bench import load_result
from training.data import FEATURES

SCHEMA = InputSchema(tuple(Column(name, "double") for name in FEATURES))


def test_the_binary_body_decodes_to_the_same_1000_by_k_matrix_with_the_services_codec() -> None:
    rows = _diabetes_rows(1000)
    payload, header_length = binary_body(rows)
    request = parse_infer(payload, str(header_length), SCHEMA, max_rows=1000)
    assert request.rows.shape == (1000, len(FEATURES))
    np.testing.assert_array_equal(request.rows, np.asarray(rows, dtype=np.float64))
    # 8 bytes per FP64 value after the header, nothing else: a body the service would refuse as "lying" otherwise.
    assert len(payload) - header_length == 1000 * len(FEATURES) * 8


def test_the_header_length_is_what_the_codec_needs_one_byte_off_is_refused() -> None:
    payload, header_length = binary_body(_diabetes_rows(3))
    with pytest.raises((MalformedBody, InvalidTensor)):
        parse_infer(payload, str(header_length + 1), SCHEMA, max_rows=1000)


def test_the_written_body_carries_its_route_and_headers_to_wrk(tmp_path: Path) -> None:
    rows = _diabetes_rows(2)
    body = write_binary_body(tmp_path / "v2.bin", rows, "/v2/models/linear_regression/infer")
    payload, header_length = binary_body(rows)
    assert body.path is not None and body.path.read_bytes() == payload
    assert body.rows == 2 and body.route == "/v2/models/linear_regression/infer"
    args = body.wrk_args()
    assert args[:2] == ["file", str(body.path)]
    assert f"{HEADER}: {header_length}" in args[2:] and "Content-Type: application/octet-stream" in args[2:]
    assert Body(rows=1, path=tmp_path / "x.json").wrk_args() == ["file", str(tmp_path / "x.json")]


def v2_result(target: str, scenario: str, rows_per_s: float) -> LoadResult:
    return load_result(target, scenario, rows_per_s / 1000, 9.0, rows=1000, p50=5.0, connections=4)


def v2_verdicts(binary: float, invocations: float, mlserver: float | None, **unavailable: str) -> dict[str, Any]:
    measured = {"service-v2-binary": binary, "service": invocations, "mlserver-sklearn": mlserver}
    runs = [v2_result(target, "v2_batch_1000_w2", rate) for target, rate in measured.items() if rate is not None]
    got = {t["name"]: t for t in evaluate(summarise(runs), {}, unavailable)}
    return {n: t for n, t in got.items() if n.startswith("1000-row batches, V2")}


def test_v2_binary_must_reach_3x_json_invocations_and_beat_mlserver() -> None:
    got = v2_verdicts(binary=300_000, invocations=90_000, mlserver=40_000)
    x = got["1000-row batches, V2 binary vs JSON /invocations, 2 workers"]
    assert x["met"] is True and x["measured"].startswith("3.3x (300,000 vs 90,000 rows/s)")
    ahead = got["1000-row batches, V2 binary vs MLServer's V2 (JSON), 2 workers"]
    assert ahead["met"] is True and ahead["measured"].startswith("7.5x")


def test_a_v2_shortfall_says_by_how_much_and_a_tie_is_not_ahead() -> None:
    got = v2_verdicts(binary=150_000, invocations=100_000, mlserver=150_000)
    x = got["1000-row batches, V2 binary vs JSON /invocations, 2 workers"]
    assert x["met"] is False and x["verdict"] == "missed by 50% (50% of the goal)"
    assert got["1000-row batches, V2 binary vs MLServer's V2 (JSON), 2 workers"]["met"] is False


def test_mlserver_absent_is_not_measured_never_met() -> None:
    got = v2_verdicts(binary=300_000, invocations=90_000, mlserver=None, **{"mlserver-sklearn": "no wheel"})
    ahead = got["1000-row batches, V2 binary vs MLServer's V2 (JSON), 2 workers"]
    assert ahead["met"] is None and ahead["verdict"] == "not measured" and "no wheel" in ahead["measured"]


def test_only_v2_runs_no_other_scenario(tmp_path: Path) -> None:
    from bench.run import Bench, Plan

    bench = Bench(Plan(only="v2", warmup_s=0), tmp_path, say=lambda _: None)
    assert bench.wants("v2_batch_1000_w1") and not bench.wants("batch_1000_w1") and not bench.wants("rf_cache")
    # No target is started: a scenario that is not wanted must not reach one (a KeyError otherwise).
    bench.ab("single_row_w1", [("service", Body(rows=1, path=tmp_path / "one.json"))], 1)
    assert bench.runs == []
