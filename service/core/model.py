"""Finding, fetching, loading and vetting a registered model version.

`ModelRef` says what to serve (`models:/<name>@<alias>`, normally). `Registry` resolves it to a version through
the MLflow client and downloads that version through the tracking server (proxied artifacts: no cloud
credentials here) into a fresh directory. `load_version` checks its digest and format before opening anything
(service/core/trust.py), opens it, picks the predict path and validates it before anyone may serve it: it must
predict its probe rows (its input example) with finite outputs, and keep the contract.

The contract (input columns and types, shape of one row's output) is a property of the registered model, not of
whatever a worker happens to serve: the training CLI records it at the first registration as the registered
model's tag `serving.contract` (or `SERVING_EXPECTED_CONTRACT` sets it). Every worker of every pod checks a
version against that same contract, even when it serves nothing yet, so the fleet reaches one verdict per
version. Only a registered model with no contract recorded falls back to "the version this worker serves".

`ModelRejected` is the version's fault and final (digest, format, contract, output). Anything else (the
registry unreachable, a download cut, an import or I/O error while loading) is a failure to load, retried.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
import shutil
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from service.core.onnx import onnx_if_agrees
from service.core.outputs import fields_of, first_non_finite_record
from service.core.predict import NativePredictor, Predictor, PyfuncPredictor, output_kind
from service.core.proba import proba_predictor
from service.core.probe import input_example, signature_from_example, tensor_example
from service.core.schema import InputSchema, UnsupportedSignature
from service.core.trust import DIGEST_TAG, NotSealed, TrustPolicy, Untrusted, load_pyfunc, verify_digest
from service.core.validation import Matrix

log = logging.getLogger(__name__)

STAGES = {"production": "Production", "staging": "Staging", "archived": "Archived", "none": "None"}
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<ref>[^/]+))/?$")
# The training-set statistics the training CLI logs inside the model (docs/operations.md): the drift reference.
FEATURE_STATS = Path("extra_files") / "feature_stats.json"
CONTRACT_TAG = "serving.contract"


class AliasNotSet(LookupError):
    """The registry answered: the alias (or the registered model) does not exist. Not an outage."""


class ModelRejected(Exception):
    """A version that was fetched but may not serve; `reason` says why."""

    def __init__(self, version: str, reason: str) -> None:
        super().__init__(f"version {version} rejected: {reason}")
        self.version = version
        self.reason = reason


class LoadFailed(Exception):
    """The version could not be loaded for a reason that may pass (I/O, memory, a missing import): retried."""


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


def configure_mlflow_client(
    timeout_s: float, max_retries: int, username_file: Path | None, password_file: Path | None
) -> None:
    """The MLflow client reads its HTTP settings and credentials from the environment of the process."""
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(timeout_s)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(max_retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    for path, var in ((username_file, "MLFLOW_TRACKING_USERNAME"), (password_file, "MLFLOW_TRACKING_PASSWORD")):
        if path is not None:
            os.environ[var] = path.read_text().strip()


class Registry:
    """The MLflow model registry at `uri` (the tracking server, which also proxies the artifacts)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def resolve(self, ref: ModelRef) -> VersionRef:
        if ref.alias:
            try:
                mv = self.client.get_model_version_by_alias(ref.name, ref.alias)
            except MlflowException as e:
                # MLflow answers a missing alias with INVALID_PARAMETER_VALUE, a missing model with
                # RESOURCE_DOES_NOT_EXIST; anything else (5xx, timeouts) is an outage and raises as it is.
                if e.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
                    raise AliasNotSet(f"{ref.uri} is not set in the registry") from e
                raise
        elif ref.stage or ref.version is None:
            # A stage, or "latest": the highest version (in that stage), as mlflow's _get_latest_model_version.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated; the warning is ours to log
                found = self.client.get_latest_versions(ref.name, stages=[ref.stage] if ref.stage else None)
            if not found:
                where = f" in stage {ref.stage}" if ref.stage else ""
                raise LookupError(f"registered model '{ref.name}' has no version{where}")
            mv = max(found, key=lambda v: int(v.version))
        else:
            mv = self.client.get_model_version(ref.name, str(ref.version))
        return self._version_ref(mv)

    def resolve_version(self, name: str, version: str) -> VersionRef:
        return self._version_ref(self.client.get_model_version(name, version))

    @staticmethod
    def _version_ref(mv: Any) -> VersionRef:
        return VersionRef(
            name=mv.name, version=str(mv.version), run_id=mv.run_id, tags=dict(mv.tags or {}), source=mv.source
        )

    def contract(self, name: str) -> dict[str, Any] | None:
        """The registered model's recorded contract (tag `serving.contract`), None when none is recorded."""
        tags = self.client.get_registered_model(name).tags or {}
        text = tags.get(CONTRACT_TAG)
        return None if text is None else parse_contract(text, f"the tag {CONTRACT_TAG} of registered model {name}")

    def download(self, version: VersionRef, dst: Path) -> Path:
        uri = self.client.get_model_version_download_uri(version.name, version.version)
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=self.uri))


def load_version(
    registry: Registry,
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
