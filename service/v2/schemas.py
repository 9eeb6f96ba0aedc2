"""The Open Inference Protocol's request and response shapes, for the OpenAPI document only (the codec reads
bodies itself: JSON, or JSON then binary tensors). After kserve/open-inference-protocol's REST specification."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from service.v2.codec import BYTES, DTYPES


class V2Error(BaseModel):
    error: str = Field(description="What is wrong, naming the input, output, model or version at fault.")


class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    ready: bool


class V2ModelReady(BaseModel):
    name: str
    ready: bool


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for the batch dimension.")


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata] = Field(description="One tensor per signature column, in signature order.")
    outputs: list[V2TensorMetadata]


class V2Tensor(BaseModel):
    name: str
    datatype: str = Field(description=f"One of {[*DTYPES, BYTES]}.")
    shape: list[int]
    parameters: dict[str, Any] | None = Field(
        default=None, description="`binary_data_size`: the tensor's bytes follow the JSON header (binary extension)."
    )
    data: list[Any] | None = Field(default=None, description="Values in row-major order, flat or nested.")


class V2RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = Field(default=None, description="`binary_data`: send this output as binary.")


class V2InferRequest(BaseModel):
    id: str | None = Field(default=None, description="Echoed in the response.")
    parameters: dict[str, Any] | None = Field(
        default=None, description="Echoed; `binary_data_output: true` sends outputs as binary by default."
    )
    inputs: list[V2Tensor] = Field(
        description="One [N, k] tensor in signature order, or one [N] tensor per column, named as the column."
    )
    outputs: list[V2RequestedOutput] | None = None


class V2InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[V2Tensor]


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its `$defs` references replaced by the definitions (in `openapi_extra`, a `#/$defs`
    reference would point at the OpenAPI document's root, where there are none)."""
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


INFER_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON inference request; with the binary tensor data extension, the JSON header (its "
        "length in the Inference-Header-Content-Length header) followed by the inputs' bytes.",
        "content": {
            "application/json": {"schema": _inlined(V2InferRequest.model_json_schema())},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
