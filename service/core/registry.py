"""The MLflow model registry, as the service uses it: resolve a reference to a version, read the registered
model's contract, download a version through the tracking server (proxied artifacts: no cloud credentials here).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import mlflow.artifacts
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from service.core.refs import CONTRACT_TAG, ModelRef, VersionRef, parse_contract


class AliasNotSet(LookupError):
    """The registry answered: the alias (or the registered model) does not exist. Not an outage."""


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


class ModelRegistryClient:
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
