"""What may be deserialised: a model version is code, so only what the platform trusts is loaded.

Before anything in a downloaded version is opened, its directory must hash to the digest the training CLI
recorded on the version at registration (tag `serving.model_digest`): whoever can write to the artifact bucket
but not to the registry cannot swap a file. Then only the MLmodel file (YAML, no code) is read, and the version
is opened only if its format cannot run code at load time:

- scikit-learn models saved in the skops format are loaded with `skops.io.load` and the service's own list of
  trusted types (`SERVING_SKOPS_TRUSTED_TYPES`). MLflow's own loader takes that list from the model's MLmodel
  file, so a crafted model could trust anything (mlflow/sklearn/__init__.py `_load_pyfunc`, MLflow 3.17.2).
- every other format (pickle, cloudpickle: python_function models, sklearn saved as pickle) executes code when
  loaded, and is refused unless `SERVING_ALLOW_PICKLE_MODELS` opts in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DIGEST_TAG = "serving.model_digest"
# Types a tree ensemble saved by the training CLI needs beyond skops' defaults (training/config.py).
DEFAULT_SKOPS_TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)


class Untrusted(Exception):
    """The version may not be loaded: its digest does not match, or its format can run code."""


class NotSealed(Untrusted):
    """The version carries no digest tag yet. The training CLI registers a version, then records its digest: a
    service following `models:/<name>/latest` can see the version in between, so this is retried, not final."""


@dataclass(frozen=True)
class TrustPolicy:
    skops_trusted_types: tuple[str, ...] = DEFAULT_SKOPS_TRUSTED_TYPES
    allow_pickle: bool = False
    require_digest: bool = True


def directory_digest(path: Path) -> str:
    """`sha256:<hex>` over every file under `path`: its relative POSIX path, size and sha256, in path order.

    training/registry.py computes the same (the training image ships without service/); a test holds the two
    to one answer.
    """
    outer = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix().encode()
        inner = hashlib.sha256()
        with file.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(relative + b"\0" + file.stat().st_size.to_bytes(8, "big") + inner.digest())
    return f"sha256:{outer.hexdigest()}"


def verify_digest(path: Path, recorded: str | None, policy: TrustPolicy) -> None:
    if recorded is None:
        if policy.require_digest:
            raise NotSealed(
                f"no {DIGEST_TAG} tag: register versions with the training CLI, which records it "
                "(or set SERVING_REQUIRE_MODEL_DIGEST=false)"
            )
        return
    actual = directory_digest(path)
    if actual != recorded:
        raise Untrusted(f"its files hash to {actual}, not to the {recorded} recorded at registration")


# The methods MLflow's sklearn flavor lets `pyfunc_predict_fn` name (mlflow/sklearn/__init__.py@v3.17.2,
# `_SklearnModelWrapper._SUPPORTED_CUSTOM_PREDICT_FN`), besides predict.
PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")


class SklearnModel:
    """What MLflow's sklearn flavor hands `PyFuncModel`: predict, the methods `pyfunc_predict_fn` may name (as
    bound methods of the estimator, as MLflow's wrapper sets them), and the raw estimator."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        for name in PREDICT_FNS[1:]:
            if (fn := getattr(estimator, name, None)) is not None:
                setattr(self, name, fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.estimator.predict(data)

    def get_raw_model(self) -> Any:
        return self.estimator


def load_pyfunc(path: Path, meta: Any, policy: TrustPolicy) -> Any:
    """The version as an `mlflow.pyfunc.PyFuncModel`, loaded only in a way that runs no code of its own."""
    import mlflow.pyfunc

    pyfunc = meta.flavors.get("python_function") or {}
    sklearn = meta.flavors.get("sklearn") or {}
    loader = pyfunc.get("loader_module")
    fmt = sklearn.get("serialization_format", "pickle") if sklearn else "cloudpickle"
    if loader == "mlflow.sklearn" and fmt == "skops":
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        data = pyfunc.get("model_path") or sklearn.get("pickled_model")
        if not data:
            raise Untrusted("the sklearn flavor names no model file")
        file = (path / data).resolve()
        if not file.is_relative_to(path.resolve()) or not file.is_file():
            raise Untrusted(f"the model file {data!r} is not a file inside the model")
        try:
            estimator = skops.io.load(file, trusted=list(policy.skops_trusted_types))
        except UntrustedTypesFoundException as e:
            raise Untrusted(f"the skops file holds types the service does not trust: {e}") from e
        predict_fn = pyfunc.get("predict_fn", "predict")
        if predict_fn not in PREDICT_FNS:
            raise Untrusted(f"the python_function flavor names predict_fn {predict_fn!r}; supported: {PREDICT_FNS}")
        return mlflow.pyfunc.PyFuncModel(model_meta=meta, model_impl=SklearnModel(estimator), predict_fn=predict_fn)
    if not policy.allow_pickle:
        raise Untrusted(
            f"its format ({loader or 'no python_function loader'}, {fmt}) runs code when loaded; "
            "only scikit-learn models in the skops format are loaded unless SERVING_ALLOW_PICKLE_MODELS is true"
        )
    return mlflow.pyfunc.load_model(str(path))
