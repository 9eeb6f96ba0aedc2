"""Loading and vetting a registered model version.

`load_version` downloads a version (service/core/registry.py), checks its digest and format before opening
anything (service/core/trust.py), opens it, picks the predict path (service/core/predictors.py) and validates it
before anyone may serve it: it must predict its probe rows (its input example) with finite outputs, and keep the
contract (service/core/refs.py).

`ModelRejected` is the version's fault and final (digest, format, contract, output). Anything else (the
registry unreachable, a download cut, an import or I/O error while loading) is a failure to load, retried.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.models import Model

from service.core.onnx import onnx_if_agrees
from service.core.outputs import fields_of, first_non_finite_record
from service.core.predictors import NativePredictor, Predictor, PyfuncPredictor, output_kind
from service.core.proba import proba_predictor
from service.core.probe import input_example, signature_from_example, tensor_example
from service.core.refs import VersionRef, contract
from service.core.registry import ModelRegistryClient
from service.core.schema import InputSchema, UnsupportedSignature
from service.core.trust import DIGEST_TAG, NotSealed, TrustPolicy, Untrusted, load_pyfunc, verify_digest
from service.core.validation import Matrix

log = logging.getLogger(__name__)

# The training-set statistics the training CLI logs inside the model (docs/operations.md): the drift reference.
FEATURE_STATS = Path("extra_files") / "feature_stats.json"


class ModelRejected(Exception):
    """A version that was fetched but may not serve; `reason` says why."""

    def __init__(self, version: str, reason: str) -> None:
        super().__init__(f"version {version} rejected: {reason}")
        self.version = version
        self.reason = reason


class LoadFailed(Exception):
    """The version could not be loaded for a reason that may pass (I/O, memory, a missing import): retried."""


@dataclass(frozen=True)
class LoadedModel:
    """A validated model version, ready to serve. Never mutated: a reload replaces it whole."""

    name: str
    version: str
    alias: str
    run_id: str | None
    flavor: str  # "onnx" (ONNX Runtime), "sklearn" (native numpy path) or "pyfunc"
    schema: InputSchema
    predictor: Predictor
    output_shape: tuple[int, ...]  # per row: () for one number, (k,) for k outputs
    directory: Path  # this version's own download directory, removed when the version is replaced
    load_seconds: float
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    feature_stats: dict[str, Any] | None = None  # the training-set statistics logged with it, if any
    output_kind: str = "number"  # what one output value is: "number", "string" (labels), "boolean" or "record"
    output_fields: tuple[tuple[str, str], ...] = ()  # a record's (name, kind) fields: a DataFrame's columns
    proba: LoadedModel | None = None  # the classifier's predict_proba (`/predict?output=proba`), if it has one
    path_reason: str | None = None  # why the version is served through pyfunc rather than a native path
    uid: str = ""  # immutable identity: the MLmodel's model_uuid (version numbers are reused by MLflow)
    source: str | None = None  # the registry's source URI of the version: with the number, which version it is

    @property
    def cache_key(self) -> str:
        """Who computed a cached answer: the version's immutable identity and the predict path it took."""
        return f"{self.name}:{self.version}:{self.uid}:{self.flavor}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "flavor": self.flavor,
            "output_type": self.output_kind,
            **({"output_fields": dict(self.output_fields)} if self.output_fields else {}),
            **({"params": [p.name for p in self.schema.params]} if self.schema.params else {}),
            "proba": self.proba is not None,
            "path_reason": self.path_reason,
            "model_uuid": self.uid,
            "inputs": self.schema.describe(),
            "loaded_at": self.loaded_at.isoformat(),
            "load_seconds": round(self.load_seconds, 3),
        }


def load_version(
    registry: ModelRegistryClient,
    version: VersionRef,
    alias: str,
    model_dir: Path,
    serving: LoadedModel | None,
    policy: TrustPolicy,
    expected: dict[str, Any] | None = None,
) -> LoadedModel:
    """Download `version` into its own directory under `model_dir`, check, open and validate it.

    `expected`: the contract set in the settings; otherwise the registered model's recorded one, and only when
    none is recorded, `serving`'s. Blocking (network, files): call it from a worker thread. The directory is
    removed on any failure.
    """
    started = time.monotonic()
    if expected is None:
        expected = registry.contract(version.name)
    dst = model_dir / f"{_safe(version.name)}-v{version.version}-{secrets.token_hex(4)}"
    try:
        path = registry.download(version, dst)
        try:
            verify_digest(path, version.tags.get(DIGEST_TAG), policy)
            model, probe = open_model(path, version, alias, started, policy)
            shape = validate(model, probe, None if expected is not None else serving, expected)
            model = replace(model, output_shape=shape, directory=dst)
        except (ModelRejected, LoadFailed):
            raise
        except NotSealed as e:
            raise LoadFailed(f"version {version.version} is not sealed yet: {e}") from e
        except Untrusted as e:
            raise ModelRejected(version.version, f"not trusted: {e}") from e
        except (OSError, MemoryError, ImportError) as e:
            raise LoadFailed(f"version {version.version} failed to load: {e!r}") from e
        except Exception as e:
            raise ModelRejected(version.version, f"cannot be loaded: {e!r}") from e
    except BaseException:
        shutil.rmtree(dst, ignore_errors=True)
        raise
    return model


def open_model(
    path: Path, version: VersionRef, alias: str, started: float, policy: TrustPolicy | None = None
) -> tuple[LoadedModel, Matrix]:
    """Load a downloaded (and digest-checked) model directory; returns it with the rows to validate it on."""
    meta = Model.load(str(path))
    unsigned = meta.signature is None or meta.signature.inputs is None
    try:
        signature = signature_from_example(meta, path, version.version) if unsigned else meta.signature
        schema = InputSchema.from_signature(signature)
    except UnsupportedSignature as e:
        raise ModelRejected(version.version, str(e)) from e
    pyfunc_model = load_pyfunc(path, meta, policy or TrustPolicy())
    stats = _feature_stats(path)
    probe = tensor_example(meta, path, schema.tensor) if schema.tensor else input_example(meta, path, schema, stats)
    slow = PyfuncPredictor(pyfunc_model, schema)
    try:
        reference = np.asarray(slow.predict(probe))
    except Exception as e:
        raise ModelRejected(version.version, f"fails to predict its input example: {e!r}") from e
    kind = output_kind(reference)
    fields = fields_of(reference) if kind == "record" else ()
    if kind is None:
        raise ModelRejected(
            version.version, f"returns outputs of dtype {reference.dtype}: numbers, strings or booleans are served"
        )
    predictor: Predictor = slow
    flavor = "pyfunc"
    # The native path takes a float64 matrix and serves numeric outputs only (regressors, probabilities):
    # string inputs and labels stay with pyfunc, which hands the model a typed DataFrame.
    path_reason = None
    if unsigned:
        path_reason = "logged without a signature: input columns and types inferred from its input example"
    elif "sklearn" not in meta.flavors:
        path_reason = "not a scikit-learn model"
    elif schema.tensor is not None:
        path_reason = "a tensor-based signature: the model takes the array"
    elif schema.params:
        path_reason = "a params schema: params are passed to pyfunc's predict"
    elif not schema.numeric:
        path_reason = "string or datetime input columns: the model takes a typed DataFrame"
    elif kind != "number":
        path_reason = f"{kind} outputs"
    else:
        fast = _native_if_equal(pyfunc_model, schema, probe, reference)
        if fast is not None:
            predictor, flavor = fast, "sklearn"
        else:
            path_reason = "the native path does not give pyfunc's answer on the input example"
    if schema.numeric and not unsigned and not schema.params:
        onnx = onnx_if_agrees(path, schema, probe, predictor)
        if onnx is not None:
            predictor, flavor, path_reason = onnx, "onnx", None
    loaded = LoadedModel(
        name=version.name,
        version=version.version,
        alias=alias,
        run_id=version.run_id,
        flavor=flavor,
        schema=schema,
        predictor=predictor,
        output_shape=(),
        output_kind=kind,
        output_fields=fields,
        path_reason=path_reason,
        directory=path,
        load_seconds=time.monotonic() - started,
        feature_stats=stats,
        uid=str(getattr(meta, "model_uuid", None) or f"{version.run_id}:{version.source}"),
        source=version.source,
    )
    if (proba := proba_predictor(meta, pyfunc_model, schema, probe)) is not None:
        # A model of its own: its own cache keys (the flavor is in them) and numeric outputs.
        answers = replace(loaded, predictor=proba[0], flavor="sklearn-proba", output_kind="number", output_fields=())
        loaded = replace(loaded, proba=replace(answers, output_shape=proba[1], path_reason="predict_proba"))
    return loaded, probe


def _feature_stats(path: Path) -> dict[str, Any] | None:
    """The drift reference logged inside the model; a model without one (or with a broken one) still serves."""
    try:
        stats = json.loads((path / FEATURE_STATS).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("the model's feature_stats.json is unreadable; no drift reference", extra={"error": repr(e)})
        return None
    return stats if isinstance(stats, dict) else None


def _native_if_equal(
    pyfunc_model: Any, schema: InputSchema, probe: Matrix, slow_out: np.ndarray[Any, Any]
) -> Predictor | None:
    """The native sklearn path, if it gives pyfunc's numbers (`slow_out`) on the probe rows; None (use pyfunc)
    otherwise. Compared by type first: a numeric answer is never subtracted from a label."""
    try:
        fast = NativePredictor(pyfunc_model.get_raw_model(), schema)
        fast_out = np.asarray(fast.predict(probe))
    except Exception as e:  # noqa: BLE001 - any failure of the fast path means "use pyfunc"
        log.warning("native sklearn path unusable, serving through pyfunc", extra={"error": repr(e)})
        return None
    if (
        output_kind(fast_out) != "number"
        or fast_out.shape != slow_out.shape
        or not np.allclose(fast_out, slow_out, rtol=1e-12, atol=0.0)
    ):
        log.warning("native sklearn path disagrees with pyfunc, serving through pyfunc")
        return None
    return fast


def validate(
    model: LoadedModel, probe: Matrix, serving: LoadedModel | None, expected: dict[str, Any] | None = None
) -> tuple[int, ...]:
    """Raise ModelRejected unless `model` predicts `probe` finitely and keeps the contract.

    The contract is `expected` when given (the registered model's, or the setting's), else `serving`'s schema
    and output shape. Returns the shape of one row's output.
    """
    if expected is None and serving is not None and (reason := model.schema.incompatibility(serving.schema)):
        raise ModelRejected(model.version, f"signature incompatible with serving version {serving.version}: {reason}")
    try:
        out = np.asarray(model.predictor.predict(probe))
    except Exception as e:
        raise ModelRejected(model.version, f"fails to predict its input example: {e!r}") from e
    if out.ndim == 0 or out.shape[0] != len(probe):
        raise ModelRejected(model.version, f"returned shape {out.shape} for {len(probe)} example rows")
    # By type: numbers must be finite, labels must all be labels; values of two types are never subtracted.
    kind = output_kind(out)
    if kind != model.output_kind:
        raise ModelRejected(
            model.version, f"returns {kind or out.dtype} outputs on its input example, {model.output_kind} at load"
        )
    if kind == "record" and first_non_finite_record(out.tolist()) is not None:
        raise ModelRejected(model.version, "returns non-finite outputs on its input example")
    if kind == "number" and not np.isfinite(out.astype(np.float64)).all():
        raise ModelRejected(model.version, "returns non-finite outputs on its input example")
    shape = tuple(int(d) for d in out.shape[1:])
    if expected is not None:
        own = contract(model.schema, shape, model.output_kind, model.output_fields)
        if own != expected:
            raise ModelRejected(
                model.version, f"breaks the registered model's contract: {_json(expected)} expected, {_json(own)}"
            )
    elif serving is not None and shape != serving.output_shape:
        raise ModelRejected(
            model.version, f"output shape per row {shape} differs from serving version's {serving.output_shape}"
        )
    elif serving is not None and (kind, model.output_fields) != (serving.output_kind, serving.output_fields):
        raise ModelRejected(model.version, f"outputs {_kind(model)} values; serving version's are {_kind(serving)}")
    return shape


def _kind(model: LoadedModel) -> str:
    return f"{model.output_kind} {dict(model.output_fields)}" if model.output_fields else model.output_kind


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
