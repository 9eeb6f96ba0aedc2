"""Open Inference Protocol (V2) request bodies for the benchmark: one FP64 `[N, k]` tensor, JSON or binary.

The binary body follows Triton's binary tensor data extension (triton-inference-server/server,
docs/protocol/extension_binary_data.md): a JSON header naming the input's `parameters.binary_data_size`, then the
tensor's bytes, little-endian and row-major; the header's length travels in the `Inference-Header-Content-Length`
HTTP header, so it is returned beside the bytes (wrk sends it with every request, bench/post.lua).

MLServer 1.7.1 reads V2 over REST as JSON only (SeldonIO/MLServer issue 324, "Add support for binary data in
payloads in http requests", open): its leg of the V2 scenario is the JSON body of bench/peers.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.load import Body

INPUT = "X"  # the name MLServer's scikit-learn runtime and tritonclient examples give a single input
HEADER = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"


def binary_body(rows: Sequence[Sequence[float]]) -> tuple[bytes, int]:
    """The request for `rows` as one binary FP64 tensor, and the length of its JSON header."""
    matrix = np.ascontiguousarray(np.asarray(rows, dtype="<f8"))
    if matrix.ndim != 2:
        raise ValueError(f"rows must be a matrix, got shape {matrix.shape}")
    data = matrix.tobytes(order="C")
    size = {"binary_data_size": len(data)}
    spec = {"name": INPUT, "shape": list(matrix.shape), "datatype": "FP64", "parameters": size}
    header = json.dumps({"inputs": [spec]}, separators=(",", ":")).encode()
    return header + data, len(header)


def write_binary_body(path: Path, rows: Sequence[Sequence[float]], route: str) -> Body:
    """The binary request written to `path`, as a Body wrk sends to `route` with its headers."""
    payload, header_length = binary_body(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    headers = (("Content-Type", BINARY_CONTENT_TYPE), (HEADER, str(header_length)))
    return Body(rows=len(rows), path=path, headers=headers, route=route)
