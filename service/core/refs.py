"""What to serve, by name: a registered model reference, a version of it, and the contract callers rely on.

Pure names, no MLflow and no numpy: `service.settings` reads these, so loading the settings loads no MLflow.
`ModelRef` says what to serve (`models:/<name>@<alias>`, normally); `VersionRef` is the version the registry
resolved it to.

The contract (input columns and types, shape of one row's output) is a property of the registered model, not of
whatever a worker happens to serve: the training CLI records it at the first registration as the registered
model's tag `serving.contract` (or `SERVING_EXPECTED_CONTRACT` sets it). Every worker of every pod checks a
version against that same contract, even when it serves nothing yet, so the fleet reaches one verdict per
version. Only a registered model with no contract recorded falls back to "the version this worker serves".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from service.core.schema import InputSchema

STAGES = {"production": "Production", "staging": "Staging", "archived": "Archived", "none": "None"}
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<ref>[^/]+))/?$")
CONTRACT_TAG = "serving.contract"


def contract(
    schema: InputSchema,
    output_shape: tuple[int, ...],
    output_kind: str = "number",
    output_fields: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """What callers rely on: the input columns (names, types, order), the shape of one row's output and, when
    its values are not numbers, their type (`output_type`: "string" labels, "boolean", "record": a DataFrame's
    rows, whose fields are `output_fields`). Numeric outputs record no type, so contracts recorded before labels
    were served still read the same."""
    terms: dict[str, Any] = {"inputs": schema.describe(), "output_shape": list(output_shape)}
    if output_kind != "number":
        terms["output_type"] = output_kind
    if output_kind == "record":
        terms["output_fields"] = [{"name": n, "type": t} for n, t in output_fields]
    return terms


def parse_contract(text: str, where: str) -> dict[str, Any]:
    """A contract from its JSON text (a tag or a setting); ValueError naming `where` when it is not one."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{where} is not JSON: {e}") from e
    inputs = value.get("inputs") if isinstance(value, dict) else None
    shape = value.get("output_shape") if isinstance(value, dict) else None
    kind = value.get("output_type", "number") if isinstance(value, dict) else None
    fields = value.get("output_fields", []) if isinstance(value, dict) else None
    if (
        not isinstance(inputs, list)
        or not all(isinstance(c, dict) and set(c) == {"name", "type"} for c in inputs)
        or not isinstance(shape, list)
        or not all(isinstance(d, int) for d in shape)
        or kind not in ("number", "string", "boolean", "record")
        or not isinstance(fields, list)
        or not all(isinstance(f, dict) and set(f) == {"name", "type"} for f in fields)
    ):
        raise ValueError(
            f'{where} must be {{"inputs": [{{"name": .., "type": ..}}, ..], "output_shape": [..]}} '
            '(and "output_type": "string", "boolean" or "record" with "output_fields" for outputs that are not '
            "numbers)"
        )
    terms: dict[str, Any] = {"inputs": inputs, "output_shape": shape}
    if kind != "number":
        terms["output_type"] = kind
    if kind == "record":
        terms["output_fields"] = fields
    return terms


@dataclass(frozen=True)
class ModelRef:
    """What to serve: a registered model by alias (the normal case), by legacy stage, a pinned version, or the
    latest version (neither alias, stage nor version), as `mlflow models serve -m models:/...` takes them."""

    name: str
    alias: str | None = None
    stage: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelRef:
        """`models:/name@alias`, `models:/name/<Stage>` (deprecated in MLflow 3), `models:/name/<version>` or
        `models:/name/latest` (case-insensitive, as mlflow/store/artifact/utils/models.py@v3.17.2 reads it)."""
        match = _URI.match(uri.strip())
        if not match:
            raise ValueError(f"'{uri}' is not a registered model URI (models:/<name>@<alias>)")
        name, alias, ref = match["name"], match["alias"], match["ref"]
        if alias:
            return cls(name, alias=alias)
        if ref.isdigit():
            return cls(name, version=ref)
        if ref.lower() == "latest":
            return cls(name)
        if ref.lower() in STAGES:
            return cls(name, stage=STAGES[ref.lower()])
        raise ValueError(
            f"'{uri}': '{ref}' is neither a version number, 'latest' nor a stage ({', '.join(STAGES.values())})"
        )

    @property
    def uri(self) -> str:
        if self.alias:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{self.stage or self.version or 'latest'}"

    @property
    def label(self) -> str:
        """The alias (or stage, or pinned version, or "latest") as responses report it."""
        return self.alias or self.stage or (f"version {self.version}" if self.version else "latest")

    def describe(self) -> dict[str, str]:
        """How responses name the reference: `{"alias": ...}`, `{"stage": ...}`, `{"version_ref": ...}`."""
        if self.alias:
            return {"alias": self.alias}
        if self.stage:
            return {"stage": self.stage}
        return {"version_ref": self.version or "latest"}


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: str
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict, compare=False)
    source: str | None = None
