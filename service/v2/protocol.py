"""The Open Inference Protocol's operations over the one data plane: the same model, variant choice, cache,
batcher, drift, metrics and errors as `/predict` (the FastAPI routes in service/v2/routes.py only carry them).

The served model is the champion's registered model name; its version is the champion's (and, while one is
loaded, the challenger's). An unversioned inference request is split between them as `/predict` is; a versioned
one is answered by that version, or 404 naming the versions serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio.to_thread

from service import __version__
from service.core.loader import LoadedModel
from service.core.split import CHALLENGER, CHAMPION
from service.core.variants import Choice
from service.dataplane import OFFLOAD_BODY_BYTES, DataPlane, Reply, model_headers
from service.v2.codec import (
    BYTES,
    COLUMN_DATATYPES,
    OUTPUT_DATATYPES,
    OUTPUT_NAME,
    encode_response,
    output_tensor,
    parse_infer,
)
from service.v2.errors import ModelNotFound

# numpy dtype names of tensor signatures (service/core/schema.py TENSOR_DTYPES) as the protocol's datatypes.
TENSOR_DATATYPES = {
    "float64": "FP64", "float32": "FP32", "float16": "FP16", "int64": "INT64", "int32": "INT32", "int16": "INT16",
    "int8": "INT8", "uint64": "UINT64", "uint32": "UINT32", "uint16": "UINT16", "uint8": "UINT8", "bool": "BOOL",
}  # fmt: skip

SERVER_NAME = "inference-service"
EXTENSIONS = ["binary_tensor_data"]
ENDPOINT = "v2"  # the label of the predictions metric


def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS}


def serving(plane: DataPlane) -> list[LoadedModel]:
    """The versions answering now: the champion, then the challenger while it is loaded and compatible."""
    champion = plane.model()
    challenger = plane.variants.live_challenger(champion)
    return [champion] if challenger is None else [champion, challenger]


def find(plane: DataPlane, name: str, version: str | None) -> LoadedModel:
    """The served version `name` (at `version`) names; ModelNotFound naming what is served, 503 while nothing is."""
    models = serving(plane)
    champion = models[0]
    if name != champion.name:
        raise ModelNotFound(f"unknown model '{name[:100]}': this service serves '{champion.name}'")
    if version is None:
        return champion
    for model in models:
        if model.version == version:
            return model
    versions = " and ".join(m.version for m in models)
    raise ModelNotFound(
        f"model '{name}' version '{version[:40]}' is not serving; the serving version is {versions}"
        if len(models) == 1
        else f"model '{name}' version '{version[:40]}' is not serving; the serving versions are {versions}"
    )


def model_metadata(plane: DataPlane, name: str, version: str | None) -> dict[str, Any]:
    """Inputs as one tensor per signature column (an [N, k] tensor in signature order is accepted too)."""
    model = find(plane, name, version)
    versions = [m.version for m in serving(plane)] if version is None else [model.version]
    datatype = OUTPUT_DATATYPES.get(model.output_kind, BYTES)
    return {
        "name": model.name,
        "versions": versions,
        "platform": f"mlflow_{model.flavor}",
        "inputs": _inputs(model),
        "outputs": [{"name": OUTPUT_NAME, "datatype": datatype, "shape": [-1, *model.output_shape]}],
    }


def _inputs(model: LoadedModel) -> list[dict[str, Any]]:
    tensor = model.schema.tensor
    if tensor is not None:
        datatype = TENSOR_DATATYPES.get(tensor.dtype, BYTES)
        return [{"name": tensor.name or "input", "datatype": datatype, "shape": list(tensor.shape)}]
    return [{"name": c.name, "datatype": COLUMN_DATATYPES[c.type], "shape": [-1]} for c in model.schema.columns]


def model_ready(plane: DataPlane, name: str, version: str | None) -> dict[str, Any]:
    model = find(plane, name, version)
    return {"name": model.name, "ready": True}


async def infer(plane: DataPlane, name: str, version: str | None, body: bytes, headers: Mapping[str, str]) -> Reply:
    """An inference request: parsed against the answering version's signature, predicted through the data plane."""
    if version is None:
        find(plane, name, None)
        choice = plane.choose(headers)
    else:
        model = find(plane, name, version)
        # Pinned: the named version answers, with no fallback to another one.
        choice = Choice(CHAMPION if model is plane.variants.champion.current else CHALLENGER, model)
    schema, max_rows = choice.model.schema, plane.settings.max_batch_rows
    header_length = headers.get("inference-header-content-length")
    if len(body) >= OFFLOAD_BODY_BYTES:
        request = await anyio.to_thread.run_sync(parse_infer, body, header_length, schema, max_rows)
    else:
        request = parse_infer(body, header_length, schema, max_rows)
    variant, result = await plane.serve(choice, request.rows, ENDPOINT)
    model = result.model
    head: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if request.id is not None:
        head["id"] = request.id
    if request.parameters is not None:
        head["parameters"] = request.parameters
    datatype, array = output_tensor(result.values, model.output_kind)
    content, header_size = encode_response(head, datatype, array, request.outputs)
    reply_headers = model_headers(model, variant)
    if header_size is None:
        return Reply(200, content, headers=reply_headers)
    reply_headers["Inference-Header-Content-Length"] = str(header_size)
    return Reply(200, content, "application/octet-stream", reply_headers)
