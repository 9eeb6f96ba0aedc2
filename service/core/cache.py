"""Per-row prediction cache in Redis, fail-open behind a circuit breaker, holding only what it can vouch for.

A key is `<prefix>pred:<model name>:<version>:<model uuid>:<predict path>:<hash of the row>`. The model's uuid
(MLflow writes a fresh one into every logged model's MLmodel file) is what makes the key immutable: MLflow
numbers versions from 1 again when a registered model is deleted and created again, and the new version 1
must never be answered from the old one's entries. The predict path (sklearn, onnx, pyfunc) is in the key
because two paths may differ in the last bits (ONNX trees compute in float32). Preview stacks sharing one
Redis keep apart by prefix. The row is hashed after normalisation to float64 in signature order, so key order,
`1` vs `1.0` and `-0.0` vs `0.0` in the request do not matter.

A stored value is `<MAC of key and payload>` + the JSON payload, keyed by a secret only the service holds (keyed
BLAKE2b-256, the MAC mode RFC 7693 builds into BLAKE2, at a quarter of HMAC-SHA256's cost per value): whoever can
write to Redis (every preview pod shares dev's) cannot choose a prediction, nor move one entry to another key.
Keys are hashed with BLAKE2b too, one C call per row: a vectorised non-cryptographic hash would let whoever reads
Redis learn it and craft rows that collide with another's. What comes back is served only if its MAC verifies,
it decodes, and it has the shape of one row's output with finite numbers; anything else is a miss, counted by
reason.

A request makes at most one MGET; its misses are written by one command in the background (a script that SETs
each with its TTL: a pipeline of 1000 SETs cost the worker 9x the CPU in redis-py) (at most
`max_pending_sets` in flight per worker; past that a write is dropped and counted), so Redis never delays an
answer by more than the MGET. A request asks the cache at all only where that pays (service/core/cachecost.py:
a linear model computes a row faster than Redis answers); `calibrate` times the model and the round trip when
a version is loaded. Any Redis failure counts against the breaker and the request is answered by the
model; after `failure_threshold` failures in a row the breaker opens and Redis is left alone for `cooldown_s`,
then one call tries it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import anyio.to_thread
import numpy as np
import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.core.cachecost import CALIBRATION_ROWS, CachePolicy, Cost, time_calls
from service.core.probe import distinct_rows
from service.core.schema import InputSchema
from service.core.telemetry import CacheMetrics

log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]
MAC_BYTES = 32
# KEYS: the entries; ARGV[1]: the TTL in seconds, ARGV[i + 1]: the value of KEYS[i]. One command for any number
# of entries; keys are all on one node (the cache is one replication group, not Redis Cluster, as MGET needs).
SET_ALL = "for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end return #KEYS"


class Predicts(Protocol):
    def predict(self, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]: ...


class Calibrated(Protocol):
    """What `calibrate` reads of a loaded version (service.core.loader.LoadedModel has it)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def cache_key(self) -> str: ...
    @property
    def predictor(self) -> Predicts: ...
    @property
    def schema(self) -> InputSchema: ...
    @property
    def feature_stats(self) -> dict[str, Any] | None: ...


class CircuitBreaker:
    """Closed: calls go through. Open: calls are skipped until the cool-down ends. Half-open: one trial call.

    A trial whose caller never reports back (cancelled, or an error nobody expected) is let go by `release()`,
    and in any case expires after another cool-down, so the cache can never stay off for good.
    """

    def __init__(self, failure_threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open":
            now = self._clock()
            if self._trial_started_at is None or now - self._trial_started_at >= self.cooldown_s:
                self._trial_started_at = now
                return True
        return False

    def release(self) -> None:
        """The call allowed last ended with no verdict on Redis (cancelled): another one may try."""
        self._trial_started_at = None

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_started_at = None

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_started_at = None
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()


def row_keys(prefix: str, model_key: str, rows: np.ndarray[Any, Any]) -> list[str]:
    """`model_key` is the model's immutable identity (LoadedModel.cache_key)."""
    head = f"{prefix}pred:{model_key}:"
    if rows.dtype == object:
        return [head + hashlib.blake2b(canonical_row(row), digest_size=16).hexdigest() for row in rows]
    # Adding 0.0 turns -0.0 into 0.0, the one float64 value with two spellings that compare equal.
    normalised = np.ascontiguousarray(rows + 0.0, dtype=np.float64)
    return [head + hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in normalised]


def canonical_row(row: Sequence[Any]) -> bytes:
    """One row of mixed types (validated: `str`, `datetime64`, `float` elsewhere) as unambiguous bytes.

    Each value carries its type and a string its length, so `"1"`, `1` and `true` never meet on one key, and no
    run of strings can be cut two ways (`["ab", "c"]` vs `["a", "bc"]`). Strings are hashed as the exact code
    points the model is given (lone surrogates included), not normalised: the model may tell them apart.
    """
    parts = []
    for value in row:
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
            parts.append(b"s" + len(data).to_bytes(8, "big") + data)
        elif isinstance(value, bytes):
            parts.append(b"b" + len(value).to_bytes(8, "big") + value)
        elif isinstance(value, np.datetime64):
            parts.append(b"t" + value.astype("datetime64[ns]").astype(np.int64).tobytes())
        else:
            parts.append(b"f" + np.float64(float(value) + 0.0).tobytes())
    return b"".join(parts)


def fits(value: Any, shape: tuple[int, ...], kind: str = "number") -> bool:
    """`value` is one row's output of `shape` and `kind`: for (), a finite number ("number"), a string (a
    classifier's label, "string") or a boolean ("boolean"); for (k,), a list of `shape[0]` of those..."""
    if not shape:
        if kind == "string":
            return isinstance(value, str)
        if kind == "boolean":
            return isinstance(value, bool)
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, list) and len(value) == shape[0] and all(fits(v, shape[1:], kind) for v in value)


def describe(error: BaseException) -> str:
    """`Type: message`; redis-py's own repr() of its errors ("network:ConnectionError") drops the message."""
    return f"{type(error).__name__}: {error}"


class PredictionCache:
    def __init__(
        self,
        client: Redis,
        *,
        ttl_s: int,
        key_prefix: str,
        breaker: CircuitBreaker,
        metrics: CacheMetrics,
        signing_key: bytes,
        max_pending_sets: int = 64,
        policy: CachePolicy | None = None,
    ) -> None:
        if len(signing_key) < 16:
            raise ValueError("the cache signing key must hold at least 16 bytes")
        self.client = client
        self._set_all = client.register_script(SET_ALL)  # EVALSHA, loaded again if Redis lost its scripts
        self.ttl_s = ttl_s
        self.key_prefix = key_prefix
        self.breaker = breaker
        self.metrics = metrics
        # BLAKE2b takes keys of at most 64 bytes: the MAC key is derived from the secret, whatever its length.
        self._mac_key = hashlib.blake2b(signing_key, digest_size=64, person=b"cache-mac-key").digest()
        self.max_pending_sets = max_pending_sets
        self.policy = policy or CachePolicy("always")
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        ca_cert: Path | None,
        timeout_s: float,
        ttl_s: int,
        key_prefix: str,
        breaker: CircuitBreaker,
        metrics: CacheMetrics,
        signing_key: bytes,
        max_pending_sets: int = 64,
        policy: CachePolicy | None = None,
    ) -> PredictionCache:
        """A client that fails fast: short socket timeouts and no retries (the breaker decides when to retry)."""
        options: dict[str, Any] = {
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 30,
        }
        if ca_cert is not None:
            # A CA bundle says "verify the server": over plain redis:// it would be ignored and AUTH sent in clear.
            if not url.startswith("rediss://"):
                raise ValueError("a cache CA certificate is set but the cache URL is not rediss:// (TLS)")
            options["ssl_ca_certs"] = str(ca_cert)
        client = Redis.from_url(url, **options)
        return cls(
            client,
            ttl_s=ttl_s,
            key_prefix=key_prefix,
            breaker=breaker,
            metrics=metrics,
            signing_key=signing_key,
            max_pending_sets=max_pending_sets,
            policy=policy,
        )

    def wanted(self, model_key: str, name: str, version: str, n: int) -> bool:
        """Whether a request for `n` rows of this version asks the cache (the policy's verdict); a bypass for
        cost (mode auto) is counted."""
        if self.policy.use_cache(model_key, name, version, n):
            return True
        if self.policy.mode == "auto":
            self.metrics.tally.inc(self.metrics.cache_bypassed)
        return False

    def keys(self, model_key: str, rows: np.ndarray[Any, Any]) -> list[str]:
        return row_keys(self.key_prefix, model_key, rows)

    def _mac(self, key: str, payload: bytes) -> bytes:
        return hashlib.blake2b(key.encode() + b"\0" + payload, key=self._mac_key, digest_size=MAC_BYTES).digest()

    def seal(self, key: str, value: Any) -> bytes:
        payload = orjson.dumps(value)
        return self._mac(key, payload) + payload

    def open(self, key: str, stored: bytes, shape: tuple[int, ...], kind: str = "number") -> Any | None:
        """The value `stored` under `key` holds, or None (counted) when it is not one this service wrote."""
        mac, payload = stored[:MAC_BYTES], stored[MAC_BYTES:]
        if len(stored) <= MAC_BYTES or not hmac.compare_digest(mac, self._mac(key, payload)):
            self.metrics.cache_rejected.labels(reason="signature").inc()
            return None
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.metrics.cache_rejected.labels(reason="undecodable").inc()
            return None
        if not fits(value, shape, kind):
            self.metrics.cache_rejected.labels(reason="shape").inc()
            return None
        return value

    async def get_many(self, keys: Sequence[str], shape: tuple[int, ...], kind: str = "number") -> list[Any | None]:
        """One MGET; the values as the model gave them, None for a miss. Every key a miss when Redis fails,
        the breaker is open, or a value is not one this service stored (`shape`, `kind`: one row's output)."""
        return (await self.lookup(keys, shape, kind))[0]

    async def lookup(
        self, keys: Sequence[str], shape: tuple[int, ...], kind: str = "number"
    ) -> tuple[list[Any | None], bool]:
        """`get_many`, and whether Redis answered (False: breaker open or the call failed, all misses)."""
        misses: list[Any | None] = [None] * len(keys)
        tally = self.metrics.tally
        if not self.breaker.allow():
            tally.inc(self.metrics.cache_misses, len(keys))
            return misses, False
        try:
            stored = cast(list[bytes | None], await self.client.mget(keys))
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except Exception as e:  # noqa: BLE001 - whatever goes wrong with the cache, the model answers
            self._failed("get", e)
            tally.inc(self.metrics.cache_misses, len(keys))
            return misses, False
        self._succeeded()
        values = [None if s is None else self.open(k, s, shape, kind) for k, s in zip(keys, stored, strict=True)]
        hits = len(values) - values.count(None)
        tally.inc(self.metrics.cache_hits, hits)
        tally.inc(self.metrics.cache_misses, len(keys) - hits)
        return values, True

    def put_many(self, items: dict[str, Any], shape: tuple[int, ...], kind: str = "number") -> None:
        """Store the values in the background; only values of `shape` and `kind` (finite numbers, labels) are
        ever stored."""
        sealed = {k: self.seal(k, v) for k, v in items.items() if fits(v, shape, kind)}
        if not sealed:
            return
        if len(self._pending) >= self.max_pending_sets:
            self.metrics.cache_sets_dropped.inc()
            return
        task = asyncio.get_running_loop().create_task(self.set_many(sealed), name="cache-set")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def set_many(self, items: dict[str, bytes]) -> None:
        """One command SETting each item (already sealed) with the TTL; a failure is counted and otherwise ignored."""
        if not items or not self.breaker.allow():
            return
        try:
            await self._set_all(keys=list(items), args=[self.ttl_s, *items.values()])
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except Exception as e:  # noqa: BLE001 - a write that fails costs nothing but the entry
            self._failed("set", e)
            return
        self._succeeded()

    async def check(self) -> bool:
        """One PING at startup, so a wrong password or TLS setting is logged when the worker starts, not later."""
        try:
            await self.client.ping()
        except Exception as e:  # noqa: BLE001 - reported, then served without the cache
            self.breaker.record_failure()
            self.metrics.cache_errors.labels(operation="ping").inc()
            log.warning(
                "cache unreachable at startup (check its URL, password and TLS settings); serving without it "
                "until it answers",
                extra={"error": describe(e)},
            )
            return False
        return True

    def _failed(self, operation: str, error: BaseException) -> None:
        was_closed = self.breaker.state == "closed"
        self.breaker.record_failure()
        self.metrics.cache_errors.labels(operation=operation).inc()
        self.metrics.cache_circuit_open.set(0 if self.breaker.state == "closed" else 1)
        if was_closed and self.breaker.state != "closed":
            log.warning(
                "cache unavailable, serving without it",
                extra={"error": describe(error), "retry_in_s": self.breaker.cooldown_s},
            )

    def _succeeded(self) -> None:
        if self.breaker.state != "closed":
            log.info("cache available again")
        self.breaker.record_success()
        self.metrics.cache_circuit_open.set(0)

    async def calibrate(self, model: Calibrated) -> None:
        """Time a newly loaded `model` on 1 and CALIBRATION_ROWS rows (in a worker thread) and one MGET of as
        many keys, for the policy's first estimates. Whatever cannot be timed (the model refuses the probe rows,
        Redis is down) is left to the requests to measure. Rows of distinct values per column, as the vetting
        uses (service/core/probe.py); the model's timing hardly depends on the values."""
        if self.policy.mode != "auto":
            return
        rows = distinct_rows(model.schema, model.feature_stats)
        many = np.resize(rows, (CALIBRATION_ROWS, rows.shape[1]))
        predictor = model.predictor

        def compute_cost() -> Cost:
            one = time_calls(lambda: predictor.predict(many[:1]).tolist())
            return Cost.from_timings(one, time_calls(lambda: predictor.predict(many).tolist()), CALIBRATION_ROWS)

        compute: Cost | None
        try:
            compute = await anyio.to_thread.run_sync(compute_cost)
        except Exception as e:  # noqa: BLE001 - requests measure it instead
            log.info("could not time the model on probe rows", extra={"error": describe(e)})
            compute = None
        cache: Cost | None = None
        if self.breaker.state == "closed":
            try:
                timings = []
                for batch in (many[:1], many):
                    samples = []
                    for _ in range(3):
                        started = time.perf_counter()
                        keys = self.keys(model.cache_key, batch)
                        await self.client.mget(keys)
                        samples.append(time.perf_counter() - started)
                    timings.append(sorted(samples)[1])
                cache = Cost.from_timings(timings[0], timings[1], CALIBRATION_ROWS)
            except Exception as e:  # noqa: BLE001 - the breaker is the judge of Redis; requests measure it
                log.info("could not time the cache round trip", extra={"error": describe(e)})
        self.policy.calibrated(model.cache_key, model.name, model.version, compute, cache)

    def describe(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "circuit": self.breaker.state,
            "key_prefix": self.key_prefix,
            "ttl_s": self.ttl_s,
            "pending_sets": len(self._pending),
            **self.policy.describe(),
        }

    async def drain(self) -> None:
        """Wait for the background writes in flight (tests; shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*list(self._pending), return_exceptions=True)
        await self.client.aclose()
