"""`binary` columns: bytes a JSON body carries as text, decoded as `mlflow models serve` decodes them.

MLflow's scoring server base64-decodes a binary column only in the DataFrame formats (`dataframe_split`,
`dataframe_records`: `base64.decodebytes`, mlflow/utils/proto_json_utils.py@v3.17.2 `_dataframe_from_json`);
`inputs` and `instances` (and CSV) hand the model the text's own UTF-8 bytes (`numpy.array(data, dtype=bytes)`
in `convert_data_type`), and Parquet its bytes as stored. `/invocations` does the same, so a client moving from
MLflow gets the same answers. `POST /predict` takes base64 (RFC 4648, padded, nothing else) in every format.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

import numpy as np

from service.core.errors import InvalidRequest
from service.core.schema import Column, InputSchema

Decoding = Literal["base64", "lenient-base64", "utf-8"]
Matrix = np.ndarray[Any, Any]


def binary_text(value: Any, column: Column, row: int) -> Any:
    """A binary column's value as the body holds it (validated: text, or bytes a Parquet reader made)."""
    if isinstance(value, str | bytes):
        return value
    raise InvalidRequest(
        f"row {row}, field '{column.name}': expected base64 text (binary), got a {type(value).__name__}",
        row=row,
        field=column.name,
    )


def decode_binary(rows: Matrix, schema: InputSchema, how: Decoding) -> Matrix:
    """`rows` with each binary column's text replaced by the bytes it stands for (in place); a value that is not
    valid base64 raises naming its row and field."""
    for j, column in enumerate(schema.columns):
        if column.kind != "bytes":
            continue
        for i in range(len(rows)):
            value = rows[i, j]
            if isinstance(value, bytes):
                continue
            try:
                if how == "utf-8":
                    rows[i, j] = value.encode("utf-8", "surrogatepass")
                elif how == "lenient-base64":
                    rows[i, j] = base64.decodebytes(value.encode("utf-8"))
                else:
                    rows[i, j] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as e:
                raise InvalidRequest(
                    f"row {i}, field '{column.name}': not valid base64 ({e})", row=i, field=column.name
                ) from e
    return rows
