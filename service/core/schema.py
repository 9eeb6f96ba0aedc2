"""The model's input schema as the service uses it: named columns of a numeric, boolean, string or datetime kind.

Built from the MLflow signature the model was logged with; requests are validated against it and rows are
laid out in its column order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["float", "int", "bool", "str", "datetime"]
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
}


class UnsupportedSignature(ValueError):
    """The model's signature is missing or has inputs this service cannot validate."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # MLflow's type name: double, float, long, integer, boolean, string, datetime

    @property
    def kind(self) -> Kind:
        return KINDS[self.type]


@dataclass(frozen=True)
class InputSchema:
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def numeric(self) -> bool:
        """Every column is a number or a boolean: rows are a float64 matrix. A string or datetime column makes
        them an object matrix (`str`, `datetime64[ns]` there, floats elsewhere), served through pyfunc."""
        return all(c.kind in NUMERIC_KINDS for c in self.columns)

    @property
    def all_float(self) -> bool:
        return all(c.kind == "float" for c in self.columns)

    @classmethod
    def from_signature(cls, signature: Any) -> InputSchema:
        """From an `mlflow.models.ModelSignature`; only named columns of the kinds in KINDS are accepted."""
        if signature is None or signature.inputs is None:
            raise UnsupportedSignature("the model was logged without an input signature")
        inputs = signature.inputs
        if inputs.is_tensor_spec():
            raise UnsupportedSignature("the model's signature is tensor-based; the service needs named columns")
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
        return cls(tuple(columns))

    def incompatibility(self, other: InputSchema) -> str | None:
        """Why a client of `other` would break against this schema, or None when it would not."""
        if self.columns == other.columns:
            return None
        if self.names != other.names:
            return f"input columns changed from {list(other.names)} to {list(self.names)}"
        changed = [
            f"{a.name}: {b.type} -> {a.type}" for a, b in zip(self.columns, other.columns, strict=True) if a != b
        ]
        return f"input column types changed ({', '.join(changed)})"

    def describe(self) -> list[dict[str, str]]:
        return [{"name": c.name, "type": c.type} for c in self.columns]
