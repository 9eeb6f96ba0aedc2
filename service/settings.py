"""The service's settings, from `SERVING_*` environment variables (or arguments, in tests).

Parsed when `create_app()` runs, never at import. Secrets (the Redis URL with its AUTH token, MLflow
credentials) can come from files, as Kubernetes mounts them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.core.model import ModelRef


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SERVING_", use_attribute_docstrings=True, validate_by_name=True, extra="forbid", frozen=True
    )

    registry_uri: str = Field(validation_alias=AliasChoices("SERVING_REGISTRY_URI", "MLFLOW_TRACKING_URI"))
    """MLflow tracking server holding the model registry, e.g. http://mlflow:5000 (SERVING_REGISTRY_URI, else
    MLFLOW_TRACKING_URI). Artifacts are fetched through it (`--serve-artifacts`), so no cloud credentials."""

    model_name: str = "linear_regression"
    """Registered model to serve."""

    model_alias: str = "production"
    """Registry alias to serve and follow: moving it promotes (or rolls back) without a redeploy."""

    model_uri: str | None = None
    """Deprecated: a full model URI instead of name + alias. `models:/<name>@<alias>` is accepted; a stage URI
    such as `models:/<name>/Production` too, with a warning (MLflow 3 deprecates stages: use an alias)."""

    reload_interval_s: float = Field(default=30.0, gt=0)
    """Seconds between two checks of the alias in each worker."""

    model_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "serving-models")
    """Where model versions are downloaded (one directory each, removed when replaced); under /tmp so the root
    filesystem can stay read-only."""

    startup_load_timeout_s: float = Field(default=30.0, ge=0)
    """Longest a worker waits at startup for its first model load before it accepts connections. Under Gunicorn
    a worker that is still loading then takes no requests (its siblings do); past this it starts anyway and
    answers 503 until loaded. Keep it under Gunicorn's worker timeout (60 s)."""

    mlflow_timeout_s: float = Field(default=10.0, gt=0)
    """Timeout of each HTTP call to MLflow."""

    mlflow_max_retries: int = Field(default=2, ge=0)
    """Retries of a failed HTTP call to MLflow."""

    mlflow_username_file: Path | None = None
    """File holding the MLflow username (basic auth); sets MLFLOW_TRACKING_USERNAME for the client."""

    mlflow_password_file: Path | None = None
    """File holding the MLflow password (basic auth); sets MLFLOW_TRACKING_PASSWORD for the client."""

    cache_enabled: bool = False
    """Cache predictions in Redis, per row, keyed by model name and version."""

    cache_url: SecretStr | None = None
    """Redis URL, e.g. rediss://:<token>@host:6379/0 (with its AUTH token: a secret)."""

    cache_url_file: Path | None = None
    """File holding the Redis URL (a mounted Kubernetes secret); used when cache_url is not set."""

    cache_ca_cert: Path | None = None
    """CA bundle that signed the Redis server certificate, for rediss:// (default: the system's CAs)."""

    cache_ttl_s: int = Field(default=3600, gt=0)
    """Lifetime of a cached prediction, in seconds."""

    cache_key_prefix: str = ""
    """Prefix of every cache key, so stacks sharing one Redis keep apart (preview stacks use `pr-<N>:`)."""

    cache_timeout_s: float = Field(default=0.1, gt=0)
    """Connect and read timeout of each Redis call: a slow cache must not slow predictions down."""

    cache_breaker_failures: int = Field(default=3, ge=1)
    """Failed Redis calls in a row after which the cache is skipped for cache_breaker_cooldown_s."""

    cache_breaker_cooldown_s: float = Field(default=30.0, gt=0)
    """Seconds the cache is skipped after it failed, before one request tries it again."""

    max_body_bytes: int = Field(default=1_048_576, gt=0)
    """Largest request body accepted; larger ones get 413 before being parsed."""

    max_batch_rows: int = Field(default=1000, gt=0)
    """Most rows in one request; more get 413."""

    offload_min_rows: int = Field(default=64, ge=1)
    """Batches of at least this many rows are predicted in a worker thread, off the event loop."""

    batch_enabled: bool = False
    """Adaptive micro-batching: concurrent requests are predicted together, in a worker thread. Worth it for
    models whose per-call cost dwarfs their per-row cost (tree ensembles through sklearn); off for the cheap ones."""

    max_batch_size: int = Field(default=64, ge=1)
    """With batching on: most rows in one batch (a single request with more rows is predicted alone)."""

    max_batch_latency_ms: float = Field(default=5.0, ge=0)
    """With batching on: longest a request waits for others to join its batch, in milliseconds."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the JSON logs."""

    @field_validator("model_uri")
    @classmethod
    def _parse_model_uri(cls, value: str | None) -> str | None:
        if value is not None:
            ModelRef.parse(value)
        return value

    @model_validator(mode="after")
    def _cache_needs_url(self) -> Settings:
        if self.cache_enabled and self.cache_url is None and self.cache_url_file is None:
            raise ValueError("SERVING_CACHE_ENABLED is true: set SERVING_CACHE_URL or SERVING_CACHE_URL_FILE")
        return self

    def model_ref(self) -> ModelRef:
        if self.model_uri:
            return ModelRef.parse(self.model_uri)
        return ModelRef(self.model_name, alias=self.model_alias)

    def resolved_cache_url(self) -> str | None:
        if self.cache_url is not None:
            return self.cache_url.get_secret_value()
        if self.cache_url_file is not None:
            return self.cache_url_file.read_text().strip()
        return None
