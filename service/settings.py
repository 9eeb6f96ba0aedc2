"""The service's settings, from `SERVING_*` environment variables (or arguments, in tests).

Parsed when `create_app()` runs, never at import. Secrets (the Redis URL with its AUTH token, MLflow
credentials) can come from files, as Kubernetes mounts them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.core.aliases import RULE, is_alias
from service.core.cachecost import CacheMode
from service.core.refs import ModelRef, parse_contract
from service.core.split import Weights, WeightsError, parse_weights
from service.core.trust import DEFAULT_SKOPS_TRUSTED_TYPES, TrustPolicy


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
    """A full model URI instead of name + alias, as `mlflow models serve -m` takes a registered model:
    `models:/<name>@<alias>`, `models:/<name>/<version>` (pinned), `models:/<name>/latest` (the highest version,
    followed), or a stage such as `models:/<name>/Production` (with a warning: MLflow 3 deprecates stages, use an
    alias). Responses name the reference by its kind: `alias`, `stage` or `version_ref`."""

    reload_interval_s: float = Field(default=30.0, gt=0)
    """Seconds between two checks of the alias in each worker."""

    model_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "serving-models")
    """Where model versions are downloaded (one directory each, removed when replaced); under /tmp so the root
    filesystem can stay read-only."""

    retire_grace_s: float = Field(default=30.0, ge=0)
    """Seconds a replaced version's files are kept after the swap, for requests still holding it; then they
    are removed in a worker thread."""

    load_retry_max_s: float = Field(default=300.0, gt=0)
    """Longest wait before retrying a version that failed to load (download cut, I/O error): the wait doubles
    from reload_interval_s (2 s while nothing is loaded) up to this. A version found invalid is never retried."""

    expected_contract: str | None = None
    """The contract every version must keep, as JSON: {"inputs": [{"name": "age", "type": "double"}, ...],
    "output_shape": []}. Unset: the registered model's tag `serving.contract`, which the training CLI records
    at the first registration."""

    skops_trusted_types: tuple[str, ...] = DEFAULT_SKOPS_TRUSTED_TYPES
    """Types trusted when loading a skops file, beyond skops' own safe defaults (JSON list). The service's own
    list: the one a model's MLmodel file carries is ignored (a crafted model could trust anything)."""

    allow_pickle_models: bool = False
    """Load models whose format runs code when loaded (pickle, cloudpickle: python_function models, sklearn
    saved as pickle). Off: only scikit-learn models in the skops format are loaded."""

    require_model_digest: bool = True
    """Refuse a version without the digest the training CLI records at registration (tag
    `serving.model_digest`); a version whose files do not hash to its recorded digest is refused either way."""

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
    """Cache predictions in Redis, per row, keyed by the model version's immutable identity (its model uuid)."""

    cache_url: SecretStr | None = None
    """Redis URL, e.g. rediss://:<token>@host:6379/0 (with its AUTH token: a secret)."""

    cache_url_file: Path | None = None
    """File holding the Redis URL (a mounted Kubernetes secret); used when cache_url is not set."""

    cache_ca_cert: Path | None = None
    """CA bundle that signed the Redis server certificate, for rediss:// (default: the system's CAs)."""

    cache_signing_key: SecretStr | None = None
    """Secret (at least 32 characters) keying the HMAC that signs every cached value: a value that does not
    verify is a miss, so whoever can write to Redis cannot choose predictions. Every worker and pod sharing the
    cache needs the same one. Required with the cache on."""

    cache_signing_key_file: Path | None = None
    """File holding cache_signing_key (a mounted Kubernetes secret); used when cache_signing_key is not set."""

    cache_max_pending_sets: int = Field(default=64, ge=1)
    """Cache writes (one per request, of its misses) in flight in the background per worker; past this a write
    is skipped and counted (serving_cache_sets_dropped_total): a slow Redis must not pile up tasks."""

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

    cache_mode: CacheMode = "auto"
    """When a request asks the cache: `auto` only where it pays, per model version (a hit must save more than
    the round trip costs, as measured at load and on requests: a linear model never pays for Redis, a forest
    does); `always` on every request; `never` not at all. /health and serving_cache_pays show the verdict."""

    max_body_bytes: int = Field(default=1_048_576, gt=0)
    """Largest request body accepted; larger ones get 413 before being parsed."""

    max_batch_rows: int = Field(default=1000, gt=0)
    """Most rows in one request; more get 413."""

    offload_min_rows: int = Field(default=64, ge=1)
    """Batches of at least this many rows are predicted in a worker thread, off the event loop."""

    fast_lane: bool = True
    """`POST /predict` and `POST /invocations` answered by a plain ASGI handler in front of FastAPI's routing
    (service/fastlane.py): the same answers, byte for byte, at a fraction of the per-request cost. Off: FastAPI's
    routes answer them."""

    batch_enabled: bool = False
    """Adaptive micro-batching: concurrent requests are predicted together, in a worker thread. Worth it for
    models whose per-call cost dwarfs their per-row cost (tree ensembles through sklearn); off for the cheap ones."""

    max_batch_size: int = Field(default=64, ge=1)
    """With batching on: most rows in one batch (a single request with more rows is predicted alone)."""

    max_batch_latency_ms: float = Field(default=5.0, ge=0)
    """With batching on: longest a request waits for others to join its batch, in milliseconds."""

    batch_timeout_s: float = Field(default=10.0, gt=0)
    """With batching on: longest a request waits for its batch's answer; past it the request gets 503
    (model_busy) and its rows are left out of the batch if it has not run yet."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the JSON logs."""

    access_log_sample: float = Field(default=0.0, ge=0.0, le=1.0)
    """Fraction of successful requests written to the access log (0, the default: none; 1: all). An answer with
    status 400 or above is always logged. Every request is in the latency histogram either way; one JSON line
    per request cost more than the model on a single-row prediction."""

    challenger_alias: str = ""
    """Registry alias of a challenger served next to the champion (shadow traffic, A/B split); empty: none. It is
    followed like the champion's alias (same validation; it must also keep the champion's signature), and
    retired when the alias is removed from the registry."""

    shadow_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    """Fraction of the requests the champion answers that the challenger also predicts, off the request path;
    the caller always gets the champion's answer."""

    shadow_queue_size: int = Field(default=64, ge=1)
    """Shadow batches waiting for the challenger in a worker; past this, new ones are dropped and counted."""

    shadow_log_sample: float = Field(default=0.0, ge=0.0, le=1.0)
    """Fraction of the shadow pairs written to the JSON log (both versions, both answers)."""

    ab_weights: str = ""
    """A/B split, e.g. `champion=80,challenger=20`; empty: everything to the champion. The registered model's
    tag `serving.ab_weights`, when set, overrides it without a redeploy (read every reload_interval_s)."""

    ab_key_header: str = Field(default="X-User-Id", pattern=r"^[A-Za-z0-9-]{1,64}$")
    """Request header whose value (hashed) assigns a caller to a variant, the same one every time."""

    ab_unkeyed: Literal["champion", "random"] = "champion"
    """Variant of requests without the key header: the champion (default), or a random draw by the weights."""

    drift_window_rows: int = Field(default=1000, ge=0)
    """Rows per drift window: every this many input rows a worker compares them with the champion's training
    statistics (PSI per feature, out-of-range rate). 0 turns drift monitoring off."""

    drift_threshold: float = Field(default=0.2, gt=0)
    """PSI above which a feature counts as drifted; drift is flagged in /health (status stays ready)."""

    @field_validator("model_uri")
    @classmethod
    def _parse_model_uri(cls, value: str | None) -> str | None:
        if value is not None:
            ModelRef.parse(value)
        return value

    @field_validator("expected_contract")
    @classmethod
    def _parse_expected_contract(cls, value: str | None) -> str | None:
        if value is not None:
            parse_contract(value, "SERVING_EXPECTED_CONTRACT")
        return value

    @field_validator("ab_weights")
    @classmethod
    def _parse_ab_weights(cls, value: str) -> str:
        try:
            parse_weights(value)
        except WeightsError as e:
            raise ValueError(f"SERVING_AB_WEIGHTS: {e}") from e
        return value

    @field_validator("model_alias")
    @classmethod
    def _check_model_alias(cls, value: str) -> str:
        if not is_alias(value):
            raise ValueError(f"SERVING_MODEL_ALIAS {value!r} is not an alias ({RULE})")
        return value

    @field_validator("challenger_alias")
    @classmethod
    def _check_challenger_alias(cls, value: str) -> str:
        if value and not is_alias(value):
            raise ValueError(f"SERVING_CHALLENGER_ALIAS {value!r} is not an alias ({RULE})")
        return value

    @field_validator("drift_window_rows")
    @classmethod
    def _check_drift_window(cls, value: int) -> int:
        if 0 < value < 100:
            raise ValueError("SERVING_DRIFT_WINDOW_ROWS must be 0 (off) or at least 100: PSI over fewer rows is noise")
        return value

    @model_validator(mode="after")
    def _cache_needs_url(self) -> Settings:
        if self.cache_enabled and self.cache_url is None and self.cache_url_file is None:
            raise ValueError("SERVING_CACHE_ENABLED is true: set SERVING_CACHE_URL or SERVING_CACHE_URL_FILE")
        if self.cache_enabled and self.cache_signing_key is None and self.cache_signing_key_file is None:
            raise ValueError(
                "SERVING_CACHE_ENABLED is true: set SERVING_CACHE_SIGNING_KEY or SERVING_CACHE_SIGNING_KEY_FILE"
            )
        if self.cache_signing_key is not None and len(self.cache_signing_key.get_secret_value()) < 32:
            raise ValueError("SERVING_CACHE_SIGNING_KEY must hold at least 32 characters")
        return self

    @model_validator(mode="after")
    def _ca_cert_needs_tls(self) -> Settings:
        # The CA bundle verifies a TLS server; over redis:// it would be ignored and the AUTH token sent in clear.
        # A URL from a file is checked when the cache connects (PredictionCache.connect refuses it the same way).
        url = self.cache_url.get_secret_value() if self.cache_url is not None else None
        if self.cache_ca_cert is not None and url is not None and not url.startswith("rediss://"):
            raise ValueError("SERVING_CACHE_CA_CERT is set but SERVING_CACHE_URL is not rediss:// (TLS)")
        return self

    @model_validator(mode="after")
    def _variants_need_a_challenger(self) -> Settings:
        if self.challenger_alias:
            ref = self.model_ref()
            if ref.alias == self.challenger_alias:
                raise ValueError(f"SERVING_CHALLENGER_ALIAS must differ from the champion's alias ({ref.alias})")
            return self
        if self.shadow_fraction > 0:
            raise ValueError("SERVING_SHADOW_FRACTION is above 0: set SERVING_CHALLENGER_ALIAS")
        if self.weights().challenger > 0:
            raise ValueError("SERVING_AB_WEIGHTS gives the challenger a share: set SERVING_CHALLENGER_ALIAS")
        return self

    def model_ref(self) -> ModelRef:
        if self.model_uri:
            return ModelRef.parse(self.model_uri)
        return ModelRef(self.model_name, alias=self.model_alias)

    def challenger_ref(self) -> ModelRef | None:
        """The challenger: the champion's registered model at `challenger_alias`."""
        return ModelRef(self.model_ref().name, alias=self.challenger_alias) if self.challenger_alias else None

    def trust_policy(self) -> TrustPolicy:
        return TrustPolicy(
            skops_trusted_types=self.skops_trusted_types,
            allow_pickle=self.allow_pickle_models,
            require_digest=self.require_model_digest,
        )

    def contract(self) -> dict[str, Any] | None:
        return parse_contract(self.expected_contract, "SERVING_EXPECTED_CONTRACT") if self.expected_contract else None

    def weights(self) -> Weights:
        return parse_weights(self.ab_weights)

    def resolved_cache_signing_key(self) -> bytes:
        if self.cache_signing_key is not None:
            return self.cache_signing_key.get_secret_value().encode()
        if self.cache_signing_key_file is not None:
            key = self.cache_signing_key_file.read_text().strip()
            if len(key) < 32:
                raise ValueError(f"{self.cache_signing_key_file} must hold at least 32 characters")
            return key.encode()
        raise ValueError("no cache signing key: set SERVING_CACHE_SIGNING_KEY or SERVING_CACHE_SIGNING_KEY_FILE")

    def resolved_cache_url(self) -> str | None:
        if self.cache_url is not None:
            return self.cache_url.get_secret_value()
        if self.cache_url_file is not None:
            return self.cache_url_file.read_text().strip()
        return None
