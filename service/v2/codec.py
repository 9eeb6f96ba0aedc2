"""Open Inference Protocol (KServe V2) bodies to a matrix in the signature's column order, and predictions back.

Plain Python and numpy, no web framework. The protocol is KServe's "Open Inference Protocol" REST API
(kserve/open-inference-protocol, specification/protocol/inference_rest.md) with Triton's binary tensor data
extension (triton-inference-server/server, docs/protocol/extension_binary_data.md):

- a request body is a JSON header, optionally followed by binary tensor data; the header's length is then the
  `Inference-Header-Content-Length` header, and each binary input names its byte count in its
  `parameters.binary_data_size`, in the order of `inputs`. Fixed-size datatypes are little-endian, row-major;
  BYTES elements are each a 4-byte little-endian length then the bytes.
- the inputs are one `[N, k]` tensor whose columns are the signature's, in its order, or one `[N]` (or `[N, 1]`)
  tensor per signature column, named as the column.
- an output is sent as binary when its `parameters.binary_data` is true, or, when it does not say, when the
  request's `parameters.binary_data_output` is true.

Binary tensors are read by `numpy.frombuffer`, and JSON `data` by one `numpy.array` call: no Python work per
value, except for BYTES (strings) and datetime columns, which go through the same per-value checks as `/predict`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from service.core.errors import PayloadTooLarge
from service.core.schema import Column, InputSchema
from service.core.validation import EXACT_INT, INT_RANGES, Matrix, decode_json, to_matrix
from service.v2.errors import InvalidTensor

# The protocol's tensor datatypes and their little-endian numpy types (BYTES is length-prefixed, variable size).
DTYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
BYTES = "BYTES"
# MLflow column types as the protocol's datatypes (what model metadata announces for each column).
COLUMN_DATATYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": BYTES,
    "datetime": BYTES,
    "binary": BYTES,
}
OUTPUT_NAME = "predict"  # MLServer's scikit-learn runtime names its output so (mlserver_sklearn, PREDICT_OUTPUT)
OUTPUT_DATATYPES = {"number": "FP64", "string": BYTES, "boolean": "BOOL"}
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class InferRequest:
    rows: Matrix
    id: str | None
    parameters: dict[str, Any] | None
    outputs: dict[str, bool]  # requested output name -> sent as binary


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray[Any, Any]  # of `shape`; BYTES as an object array of str


# ------------------------------------------------------------------------------------------ requests


def parse_infer(body: bytes, header_length: str | None, schema: InputSchema, max_rows: int) -> InferRequest:
    """An inference request (JSON, or JSON then binary tensors) as validated rows; InvalidTensor names the input."""
    if header_length is None:
        header, binary = body, memoryview(b"")
    else:
        # Digits only, and few (int() refuses over 4300 digits with a ValueError).
        if not header_length.isdigit() or len(header_length) > 18:
            raise InvalidTensor(f"Inference-Header-Content-Length must be a number of bytes, got {header_length!r}")
        size = int(header_length)
        if size > len(body):
            raise InvalidTensor(
                f"Inference-Header-Content-Length is {size} bytes but the body has only {len(body)} bytes"
            )
        header, binary = body[:size], memoryview(body)[size:]
    payload = decode_json(header)
    if not isinstance(payload, dict):
        raise InvalidTensor('the inference request must be a JSON object with "inputs"')
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidTensor('"id" must be a string')
    parameters = _parameters(payload.get("parameters"), "the request")
    default_binary = _flag(parameters, "binary_data_output", "the request")
    outputs = _requested_outputs(payload.get("outputs"), default_binary)
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidTensor('"inputs" must be a non-empty list of tensors')
    booleans = b"true" in header or b"false" in header
    tensors = []
    offset = 0
    for i, spec in enumerate(inputs):
        tensor, offset = _tensor(spec, i, binary, offset, max_rows, booleans)
        tensors.append(tensor)
    if offset != len(binary):
        raise InvalidTensor(
            f"the binary tensor data has {len(binary)} bytes; the inputs' binary_data_size add up to {offset}"
        )
    return InferRequest(to_rows(tensors, schema), request_id, parameters, outputs)


def _parameters(value: Any, owner: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise InvalidTensor(f'"parameters" of {owner} must be an object')
    return value


def _flag(parameters: dict[str, Any] | None, key: str, owner: str) -> bool:
    value = (parameters or {}).get(key, False)
    if not isinstance(value, bool):
        raise InvalidTensor(f'parameter "{key}" of {owner} must be true or false')
    return value


def _requested_outputs(value: Any, default_binary: bool) -> dict[str, bool]:
    if value is None:
        return {OUTPUT_NAME: default_binary}
    if not isinstance(value, list):
        raise InvalidTensor('"outputs" must be a list of {"name": ...} objects')
    wanted: dict[str, bool] = {}
    for spec in value:
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str):
            raise InvalidTensor('every entry of "outputs" must be an object with a "name"')
        if name != OUTPUT_NAME:
            raise InvalidTensor(f"unknown output '{name[:64]}': the model has the output '{OUTPUT_NAME}'")
        parameters = _parameters(spec.get("parameters"), f"output '{name}'")
        binary = (parameters or {}).get("binary_data", default_binary)
        if not isinstance(binary, bool):
            raise InvalidTensor(f"parameter \"binary_data\" of output '{name}' must be true or false")
        wanted[name] = binary
    return wanted


def _tensor(
    spec: Any, index: int, binary: memoryview, offset: int, max_rows: int, booleans: bool
) -> tuple[Tensor, int]:
    """Input `index` of the request, and the offset of the next binary input."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise InvalidTensor(f'input {index} must be an object with a "name"')
    name: str = spec["name"][:64]
    label = f"input '{name}'"
    datatype = spec.get("datatype")
    if datatype != BYTES and datatype not in DTYPES:
        raise InvalidTensor(f"{label}: datatype {str(datatype)[:20]!r} is not one of {[*DTYPES, BYTES]}")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 2 or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidTensor(f"{label}: shape must be [N] or [N, k] with non-negative integers")
    if shape[0] == 0:
        raise InvalidTensor(f"{label}: shape {shape} has no rows; send at least one")
    if shape[0] > max_rows:
        raise PayloadTooLarge(f"{label} has {shape[0]} rows; the limit is {max_rows} per request", field=name)
    count = math.prod(shape)
    parameters = _parameters(spec.get("parameters"), label) or {}
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in spec:
            raise InvalidTensor(f'{label} has neither "data" nor parameters.binary_data_size')
        values = _from_json(spec["data"], datatype, count, label, booleans)
    else:
        if "data" in spec:
            raise InvalidTensor(f'{label} has both "data" and parameters.binary_data_size')
        if type(size) is not int or size < 0:
            raise InvalidTensor(f"{label}: binary_data_size must be a non-negative integer")
        if offset + size > len(binary):
            raise InvalidTensor(
                f"{label}: binary_data_size is {size} bytes but only {len(binary) - offset} bytes of binary "
                "data are left (truncated body?)"
            )
        values = _from_binary(binary[offset : offset + size], datatype, count, label)
        offset += size
    return Tensor(name, datatype, tuple(shape), values.reshape(shape)), offset


def _from_binary(chunk: memoryview, datatype: str, count: int, label: str) -> np.ndarray[Any, Any]:
    if datatype == BYTES:
        return _bytes_elements(chunk, count, label)
    dtype = np.dtype(DTYPES[datatype])
    if len(chunk) != count * dtype.itemsize:
        raise InvalidTensor(
            f"{label}: binary_data_size is {len(chunk)} bytes; {count} {datatype} values take {count * dtype.itemsize}"
        )
    if datatype == "BOOL":
        raw = np.frombuffer(chunk, dtype=np.uint8)
        if (raw > 1).any():
            raise InvalidTensor(f"{label}: a BOOL element must be the byte 0 or 1")
        return raw.astype(bool)
    return np.frombuffer(chunk, dtype=dtype)


def _bytes_elements(chunk: memoryview, count: int, label: str) -> np.ndarray[Any, Any]:
    """BYTES in the binary extension: each element a 4-byte little-endian length, then that many bytes."""
    if count * 4 > len(chunk):  # before allocating for `count` elements the shape may only claim
        raise InvalidTensor(f"{label}: {count} BYTES elements take at least {count * 4} bytes; {len(chunk)} were sent")
    out = np.empty(count, dtype=object)
    position, end = 0, len(chunk)
    for i in range(count):
        if position + 4 > end:
            raise InvalidTensor(f"{label}: the binary data ends before BYTES element {i} of {count}")
        (length,) = _LENGTH.unpack_from(chunk, position)
        position += 4
        if position + length > end:
            raise InvalidTensor(f"{label}: BYTES element {i} claims {length} bytes; fewer are left")
        try:
            out[i] = str(chunk[position : position + length], "utf-8")
        except UnicodeDecodeError as e:
            raise InvalidTensor(f"{label}: BYTES element {i} is not UTF-8 text") from e
        position += length
    if position != end:
        raise InvalidTensor(f"{label}: {end - position} bytes are left after its {count} BYTES elements")
    return out


def _from_json(data: Any, datatype: str, count: int, label: str, booleans: bool) -> np.ndarray[Any, Any]:
    """`data`, flat or nested in row-major order, as one numpy array: numpy infers the kind of every value at
    once, and a kind other than the datatype's (a string among numbers, a null, a ragged list) is refused.
    `booleans`: the JSON holds a boolean somewhere (numpy reads [1, true] as [1, 1]), so types are checked too."""
    if not isinstance(data, list):
        raise InvalidTensor(f'{label}: "data" must be a list of values')
    if datatype == BYTES:
        # Strings only (numpy would turn a number among strings into its text), checked one by one: BYTES values
        # are read one by one anyway.
        try:
            strings = np.array(data, dtype=object).reshape(-1)
        except ValueError as e:
            raise InvalidTensor(f'{label}: "data" is not a BYTES tensor: {e}'[:300]) from e
        if strings.size != count:
            raise InvalidTensor(f'{label}: the shape holds {count} values; "data" has {strings.size}')
        if not all(type(v) is str for v in strings):
            raise InvalidTensor(f'{label}: "data" of a BYTES tensor must hold strings only')
        return strings
    try:
        values = np.array(data)
    except (ValueError, OverflowError) as e:  # ragged nesting; an integer beyond every numpy type
        raise InvalidTensor(f'{label}: "data" is not a {datatype} tensor: {e}'[:300]) from e
    if values.size != count:
        raise InvalidTensor(f'{label}: the shape holds {count} values; "data" has {values.size}')
    kind = values.dtype.kind
    expected = "b" if datatype == "BOOL" else "iu" if datatype[0] in "IU" else "iuf"
    if count and kind not in expected:
        raise InvalidTensor(f'{label}: "data" holds {_kind_name(kind)}, not {datatype} values')
    if kind in "iu" and datatype[0] in "IU":
        info = np.iinfo(DTYPES[datatype])
        if count and (values.min() < info.min or values.max() > info.max):
            raise InvalidTensor(f"{label}: a value is outside {datatype}'s range [{info.min}, {info.max}]")
    if kind != "b" and booleans and any(type(v) is bool for v in np.array(data, dtype=object).reshape(-1)):
        raise InvalidTensor(f'{label}: "data" holds true/false among {datatype} values')
    return values.reshape(-1).astype(DTYPES[datatype])


def _kind_name(kind: str) -> str:
    return {"b": "booleans", "U": "strings", "O": "mixed values or nulls", "f": "non-integers"}.get(kind, kind)


# --------------------------------------------------------------------------------- tensors to rows


def to_rows(tensors: Sequence[Tensor], schema: InputSchema) -> Matrix:
    """One [N, k] tensor (signature order) or one tensor per column, as the rows `/predict` would validate."""
    if schema.tensor is not None or any(c.kind == "bytes" for c in schema.columns):
        # Not mapped onto V2 tensors yet: /predict and /invocations serve these models.
        raise InvalidTensor(
            "this model's signature (a tensor, or a binary column) is served over /predict and /invocations, "
            "not yet over the Open Inference Protocol"
        )
    names = schema.names
    if len(tensors) == 1 and len(tensors[0].shape) == 2 and not (len(names) == 1 and tensors[0].name == names[0]):
        (tensor,) = tensors
        if tensor.shape[1] != len(names):
            raise InvalidTensor(
                f"input '{tensor.name}' has {tensor.shape[1]} columns; the model takes {len(names)}: {list(names)}"
            )
        columns = [(tensor, tensor.values[:, j]) for j in range(len(names))]
    else:
        by_name = {t.name: t for t in tensors}
        if len(by_name) != len(tensors):
            raise InvalidTensor("an input is named twice")
        if unknown := [t.name for t in tensors if t.name not in names]:
            raise InvalidTensor(
                f"unknown input '{unknown[0]}': the inputs are one [N, {len(names)}] tensor or one tensor per "
                f"column named {list(names)}"
            )
        if missing := [n for n in names if n not in by_name]:
            raise InvalidTensor(f"missing input '{missing[0]}': the model takes {list(names)}")
        rows = {t.shape[0] for t in tensors}
        for t in tensors:
            if len(t.shape) == 2 and t.shape[1] != 1:
                raise InvalidTensor(f"input '{t.name}' has shape {list(t.shape)}; a column's shape is [N] or [N, 1]")
        if len(rows) != 1:
            raise InvalidTensor(f"the inputs have different numbers of rows: {sorted(rows)}")
        columns = [(by_name[n], by_name[n].values.reshape(-1)) for n in names]
    if not schema.numeric:
        # String and datetime columns: the same per-value checks as /predict's positional rows.
        for column, (tensor, _) in zip(schema.columns, columns, strict=True):
            _check_datatype(column, tensor)
        lists = [values.tolist() for _, values in columns]
        return to_matrix([list(row) for row in zip(*lists, strict=True)], schema, lenient=False)
    matrix = np.empty((len(columns[0][1]), len(columns)), dtype=np.float64)
    for j, (column, (tensor, values)) in enumerate(zip(schema.columns, columns, strict=True)):
        _check_datatype(column, tensor)
        matrix[:, j] = _numeric_column(column, tensor, values)
    return matrix


def _check_datatype(column: Column, tensor: Tensor) -> None:
    textual = column.kind in ("str", "datetime")
    if textual != (tensor.datatype == BYTES) or (column.kind != "bool" and tensor.datatype == "BOOL"):
        raise InvalidTensor(
            f"input '{tensor.name}': datatype {tensor.datatype} cannot hold column '{column.name}' ({column.type}); "
            f"send {COLUMN_DATATYPES[column.type]}",
            field=tensor.name,
        )


def _numeric_column(column: Column, tensor: Tensor, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A column as float64, refused (naming input, column and row) where `/predict` would refuse its value."""
    out = values.astype(np.float64)
    finite = np.isfinite(out)
    bad: np.ndarray[Any, Any] | None = None
    why = ""
    if not finite.all():
        bad, why = ~finite, "is not finite"
    elif column.kind == "int":
        low, high = INT_RANGES[column.type]
        whole = out == np.floor(out)
        # Compared as integers where the tensor holds integers: float64 would round 2**53 + 1 into range.
        inside = (values >= low) & (values <= high) if values.dtype.kind in "iu" else (out >= low) & (out <= high)
        if not (whole & inside).all():
            bad, why = ~(whole & inside), f"is not an integer in [{low}, {high}] (exact in float64 up to 2^53)"
    elif column.kind == "bool":
        if not ((out == 0) | (out == 1)).all():
            bad, why = (out != 0) & (out != 1), "is not a boolean (BOOL, or 0 or 1)"
    elif values.dtype.kind in "iu" and (np.abs(values.astype(np.float64)) > EXACT_INT).any():
        bad, why = np.abs(out) > EXACT_INT, "is beyond 2^53, where float64 would change it"
    if bad is None:
        return out
    row = int(np.argmax(bad))
    raise InvalidTensor(
        f"input '{tensor.name}', column '{column.name}', row {row}: {values[row].item()!r} {why}",
        row=row,
        field=tensor.name,
    )


# --------------------------------------------------------------------------------- responses


def output_tensor(values: list[Any], kind: str) -> tuple[str, np.ndarray[Any, Any]]:
    """The predictions as the output tensor: its datatype and an array of shape [N, *per-row shape]."""
    datatype = OUTPUT_DATATYPES.get(kind, BYTES)
    dtype = {BYTES: object, "BOOL": bool}.get(datatype, np.float64)
    return datatype, np.asarray(values, dtype=dtype)


def encode_response(
    header: dict[str, Any], datatype: str, array: np.ndarray[Any, Any], outputs: dict[str, bool]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it (None: JSON only).

    `outputs`: the requested outputs and whether each goes as binary (an empty request list: no outputs).
    """
    tensors: list[dict[str, Any]] = []
    data = b""
    for name, binary in outputs.items():
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        flat = array.reshape(-1)
        if not binary:
            output["data"] = [_text(v) for v in flat] if datatype == BYTES else flat
        else:
            if datatype == BYTES:
                data = b"".join(_LENGTH.pack(len(e)) + e for e in (_text(v).encode() for v in flat))
            else:
                data = flat.astype(DTYPES[datatype]).tobytes()
            output["parameters"] = {"binary_data_size": len(data)}
        tensors.append(output)
    json_header = orjson.dumps({**header, "outputs": tensors}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not data and not any(outputs.values()):
        return json_header, None
    return json_header + data, len(json_header)


def _text(value: Any) -> str:
    """A BYTES output element: a label as it is, a record (a DataFrame output's row) as its JSON."""
    return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
