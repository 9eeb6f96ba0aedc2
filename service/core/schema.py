"""The model's input schema as the service uses it: named columns of a numeric, boolean, string, binary or
datetime kind, or one tensor of a numeric dtype and shape; and the params schema, when the signature has one.

Built from the MLflow signature the model was logged with; requests are validated against it and rows are
laid out in its column order (or as the tensor's shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

Kind = Literal["float", "int", "bool", "str", "datetime", "bytes"]
NUMERIC_KINDS = ("float", "int", "bool")

# MLflow column types the service can serve, and how values of each are checked.
KINDS: dict[str, Kind] = {
    "double": "float",
    "float": "float",
    "long": "int",
    "integer": "int",
    "boolean": "bool",
    "string": "str",
    "datetime": "datetime",
    "binary": "bytes",
}


class UnsupportedSignature(ValueError):
    """The model's signature is missing or has inputs this service cannot validate."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # MLflow's type name: double, float, long, integer, boolean, string, datetime, binary

    @property
    def kind(self) -> Kind:
        return KINDS[self.type]


@dataclass(frozen=True)
class Tensor:
    """A tensor-based signature's one input: a numpy dtype name and a shape, -1 for the batch dimension."""

    name: str | None
    dtype: str
    shape: tuple[int, ...]

    def describe(self) -> dict[str, str]:
        return {"name": self.name or "", "type": f"tensor {self.dtype} {list(self.shape)}"}


@dataclass(frozen=True)
class Param:
    """One entry of the signature's params schema: an MLflow type name, a default, and shape None (a scalar)
    or (-1,) (a list)."""

    name: str
    type: str
    default: Any
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class InputSchema:
    columns: tuple[Column, ...]
    tensor: Tensor | None = None  # a tensor-based signature: `columns` is then empty
    params: tuple[Param, ...] = ()

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def number_columns_only(self) -> bool:
        """Every column a float or an integer (no boolean, string, datetime or binary column)."""
        return all(c.kind in ("float", "int") for c in self.columns)

    @cached_property
    def integer_columns(self) -> tuple[tuple[int, str], ...]:
        """The position and MLflow type (long, integer) of each integer column."""
        return tuple((j, c.type) for j, c in enumerate(self.columns) if c.kind == "int")

    @property
    def numeric(self) -> bool:
        """Every column is a number or a boolean: rows are a float64 matrix. A string or datetime column makes
        them an object matrix (`str`, `datetime64[ns]` there, floats elsewhere), served through pyfunc. A tensor
        is not a table of columns: False."""
        return self.tensor is None and all(c.kind in NUMERIC_KINDS for c in self.columns)

    @cached_property
    def binary(self) -> bool:
        return any(c.kind == "bytes" for c in self.columns)

    @property
    def all_float(self) -> bool:
        return self.tensor is None and all(c.kind == "float" for c in self.columns)

    @classmethod
    def from_signature(cls, signature: Any) -> InputSchema:
        """From an `mlflow.models.ModelSignature`: named columns of the kinds in KINDS, or one tensor."""
        if signature is None or signature.inputs is None:
            raise UnsupportedSignature("the model was logged without an input signature")
        inputs = signature.inputs
        params = _params_of(getattr(signature, "params", None))
        if inputs.is_tensor_spec():
            return cls((), tensor=_tensor_of(inputs), params=params)
        columns = []
        for spec in inputs.inputs:
            type_name = getattr(spec.type, "name", str(spec.type))
            if spec.name is None:
                raise UnsupportedSignature("the model's signature has an unnamed column")
            if type_name not in KINDS:
                raise UnsupportedSignature(
                    f"column '{spec.name}' has type {type_name}; supported: {', '.join(sorted(KINDS))}"
                )
            columns.append(Column(spec.name, type_name))
        if not columns:
            raise UnsupportedSignature("the model's signature has no input columns")
        if len({c.name for c in columns}) != len(columns):
            raise UnsupportedSignature("the model's signature names a column twice")
        return cls(tuple(columns), params=params)

    def incompatibility(self, other: InputSchema) -> str | None:
        """Why a client of `other` would break against this schema, or None when it would not."""
        if self.tensor != other.tensor:
            return f"input changed from {other.describe()} to {self.describe()}"
        if self.columns == other.columns:
            return None
        if self.names != other.names:
            return f"input columns changed from {list(other.names)} to {list(self.names)}"
        changed = [
            f"{a.name}: {b.type} -> {a.type}" for a, b in zip(self.columns, other.columns, strict=True) if a != b
        ]
        return f"input column types changed ({', '.join(changed)})"

    def describe(self) -> list[dict[str, str]]:
        if self.tensor is not None:
            return [self.tensor.describe()]
        return [{"name": c.name, "type": c.type} for c in self.columns]


# Tensor dtypes served: numbers and booleans (a row of them hashes to one float64 key); strings and objects are
# not (ragged, unbounded).
TENSOR_DTYPES = (
    "float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool",
)  # fmt: skip
# MLflow's param types (mlflow/types/schema.py@v3.17.2 ParamSpec) this service validates.
PARAM_TYPES = ("string", "boolean", "long", "integer", "double", "float", "datetime")


def _tensor_of(inputs: Any) -> Tensor:
    specs = inputs.inputs
    if len(specs) != 1:
        names = [s.name for s in specs]
        raise UnsupportedSignature(f"the model's signature has {len(specs)} tensors {names}; one tensor is served")
    spec = specs[0]
    dtype, shape = str(spec.type), tuple(int(d) for d in spec.shape)
    if dtype not in TENSOR_DTYPES:
        raise UnsupportedSignature(f"the model's tensor has dtype {dtype}; supported: {', '.join(TENSOR_DTYPES)}")
    if not shape or shape[0] != -1 or any(d < 1 for d in shape[1:]):
        # A variable inner dimension would let two requests' rows of different shapes hash to one cache key.
        raise UnsupportedSignature(
            f"the model's tensor has shape {list(shape)}; served: -1 (the batch) first, fixed sizes after it"
        )
    return Tensor(spec.name, dtype, shape)


def _params_of(schema: Any) -> tuple[Param, ...]:
    if schema is None:
        return ()
    out = []
    for spec in schema.params:
        type_name = getattr(spec.dtype, "name", str(spec.dtype))
        if type_name not in PARAM_TYPES:
            raise UnsupportedSignature(f"param '{spec.name}' has type {type_name}; supported: {', '.join(PARAM_TYPES)}")
        shape = None if spec.shape is None else tuple(int(d) for d in spec.shape)
        if shape not in (None, (-1,)):
            raise UnsupportedSignature(f"param '{spec.name}' has shape {shape}; served: a scalar or (-1,)")
        out.append(Param(spec.name, type_name, spec.default, shape))
    return tuple(out)
