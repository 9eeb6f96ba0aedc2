"""What the training CLI records on a version at registration, for the inference service to check before loading.

- `serving.model_digest` (version tag): a digest of the model's files as the registry serves them back. The
  service refuses a version whose files do not hash to it, so writing to the artifact bucket alone cannot swap
  the code a pod loads (service/core/trust.py).
- `serving.contract` (version tag, and registered-model tag at the first registration): the input columns and
  the shape of one row's output. Every inference worker checks a version against the registered model's
  contract, so the fleet reaches one verdict per version (service/core/refs.py).

The digest is the service's `directory_digest` rule; the training image ships without service/, so it is
written here again, and tests/training/test_seal.py holds the two to one answer.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow.artifacts
from mlflow.models import Model, ModelSignature
from mlflow.tracking import MlflowClient

DIGEST_TAG = "serving.model_digest"
CONTRACT_TAG = "serving.contract"


def directory_digest(path: Path) -> str:
    """`sha256:<hex>` over every file under `path`: its relative POSIX path, size and sha256, in path order."""
    outer = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix().encode()
        inner = hashlib.sha256()
        with file.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(relative + b"\0" + file.stat().st_size.to_bytes(8, "big") + inner.digest())
    return f"sha256:{outer.hexdigest()}"


def contract(
    signature: ModelSignature, output_shape: tuple[int, ...], *, frame_outputs: bool = False
) -> dict[str, Any]:
    """The contract as the service computes it (service/core/refs.py `contract`, kept equal by
    tests/training/test_seal_contract.py): the inputs in signature order (named columns, or the one tensor as
    `tensor <dtype> [shape]`), one row's output shape, and `output_type` when the outputs are not numbers (a
    classifier's string labels, booleans, or "record": a DataFrame's rows, with its `output_fields`)."""
    inputs = signature.inputs
    if inputs.is_tensor_spec():
        described = [
            {"name": spec.name or "", "type": f"tensor {spec.type} {[int(d) for d in spec.shape]}"}
            for spec in inputs.inputs
        ]
    else:
        described = [{"name": spec.name, "type": getattr(spec.type, "name", str(spec.type))} for spec in inputs.inputs]
    terms: dict[str, Any] = {"inputs": described, "output_shape": list(output_shape)}
    kind = signature_output_type(signature, frame_outputs=frame_outputs)
    if kind == "record":
        terms["output_shape"] = []  # one record per row
        terms["output_type"] = kind
        terms["output_fields"] = [
            {"name": spec.name, "type": _FIELD_KINDS.get(getattr(spec.type, "name", ""), "number")}
            for spec in signature.outputs.inputs
        ]
    elif kind != "number":
        terms["output_type"] = kind
    return terms


# A DataFrame output's column types as the service names a record's fields (service/core/outputs.py).
_FIELD_KINDS = {"string": "string", "boolean": "boolean"}


def signature_output_type(signature: ModelSignature, *, frame_outputs: bool = False) -> str:
    """The outputs' type ("string", "boolean", "record" or "number") as the signature declares it
    (infer_signature records string labels as a `str` tensor, a DataFrame's outputs as named columns). Only a
    model that can return a DataFrame (`frame_outputs`: a PythonModel) answers records, one per row; a
    scikit-learn classifier's `predict_proba` returns an array even when its signature names the classes."""
    outputs = signature.outputs
    if outputs is None:
        return "number"
    if outputs.is_tensor_spec():
        kinds = {spec.type.kind for spec in outputs.inputs}
        return "string" if kinds <= {"U", "S", "O"} else "boolean" if kinds == {"b"} else "number"
    if frame_outputs and len(outputs.inputs) > 1 and all(spec.name for spec in outputs.inputs):
        return "record"
    names = {getattr(spec.type, "name", str(spec.type)) for spec in outputs.inputs}
    return "string" if names == {"string"} else "boolean" if names == {"boolean"} else "number"


def signature_output_shape(signature: ModelSignature) -> tuple[int, ...]:
    """One row's output shape as the signature declares it: a tensor's trailing dimensions, k columns as (k,)."""
    outputs = signature.outputs
    if outputs is None:
        raise ValueError("the model's signature declares no outputs")
    if outputs.is_tensor_spec():
        return tuple(int(d) for d in outputs.inputs[0].shape[1:])
    return () if len(outputs.inputs) == 1 else (len(outputs.inputs),)


def contract_of(meta: Model, what: str) -> dict[str, Any]:
    """The contract of a logged model (its MLmodel): from its signature, records only for a PythonModel."""
    if meta.signature is None:
        raise ValueError(f"{what} has no signature: the service cannot serve it")
    pyfunc = meta.flavors.get("python_function", {})
    frames = pyfunc.get("loader_module") == "mlflow.pyfunc.model"
    return contract(meta.signature, signature_output_shape(meta.signature), frame_outputs=frames)


def seal(client: MlflowClient, tracking_uri: str, name: str, version: str, terms: dict[str, Any] | None = None) -> str:
    """Record the version's digest and contract; the registered model's contract too if it has none yet.

    The digest is taken over the files downloaded back from the registry exactly as the service downloads
    them; `terms` (the contract) is read from the downloaded model's signature when not given. Returns the
    digest.
    """
    uri = client.get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri)
        digest = directory_digest(Path(path))
        if terms is None:
            terms = contract_of(Model.load(path), f"{name} version {version}")
    text = json.dumps(terms, separators=(",", ":"))
    client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    client.set_model_version_tag(name, version, CONTRACT_TAG, text)
    if CONTRACT_TAG not in (client.get_registered_model(name).tags or {}):
        client.set_registered_model_tag(name, CONTRACT_TAG, text)
    return digest
