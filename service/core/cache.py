"""Per-row prediction cache in Redis, fail-open behind a circuit breaker.

A key is `<prefix>pred:<model name>:<model version>:<hash of the row>`: a promotion or a rollback changes the
version and so never serves another version's answer, and preview stacks sharing one Redis keep apart by
prefix. The row is hashed after normalisation to float64 in signature order, so key order, `1` vs `1.0` and
`-0.0` vs `0.0` in the request do not matter.

A request makes at most one MGET and one pipelined SET (of its misses). Any Redis failure counts against the
breaker and the request is answered by the model; after `failure_threshold` failures in a row the breaker opens
and Redis is left alone for `cooldown_s`, then one request tries it again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.metrics import Metrics

log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed: calls go through. Open: calls are skipped until the cool-down ends. Half-open: one trial call."""

    def __init__(self, failure_threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

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
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_in_flight = False
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()


def row_keys(prefix: str, model_name: str, version: str, rows: np.ndarray[Any, np.dtype[np.float64]]) -> list[str]:
    # Adding 0.0 turns -0.0 into 0.0, the one float64 value with two spellings that compare equal.
    normalised = np.ascontiguousarray(rows + 0.0, dtype=np.float64)
    head = f"{prefix}pred:{model_name}:{version}:"
    return [head + hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in normalised]


def describe(error: BaseException) -> str:
    """`Type: message`; redis-py's own repr() of its errors ("network:ConnectionError") drops the message."""
    return f"{type(error).__name__}: {error}"


class PredictionCache:
    def __init__(
        self, client: Redis, *, ttl_s: int, key_prefix: str, breaker: CircuitBreaker, metrics: Metrics
    ) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.key_prefix = key_prefix
        self.breaker = breaker
        self.metrics = metrics

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
        metrics: Metrics,
    ) -> PredictionCache:
        """A client that fails fast: short socket timeouts and no retries (the breaker decides when to retry)."""
        options: dict[str, Any] = {
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 30,
        }
        if url.startswith("rediss://") and ca_cert is not None:
            options["ssl_ca_certs"] = str(ca_cert)
        client = Redis.from_url(url, **options)
        return cls(client, ttl_s=ttl_s, key_prefix=key_prefix, breaker=breaker, metrics=metrics)

    def keys(self, model_name: str, version: str, rows: np.ndarray[Any, np.dtype[np.float64]]) -> list[str]:
        return row_keys(self.key_prefix, model_name, version, rows)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """One MGET; every key a miss (None) when Redis fails or the breaker is open."""
        misses: list[bytes | None] = [None] * len(keys)
        if not self.breaker.allow():
            self.metrics.cache_misses.inc(len(keys))
            return misses
        try:
            values = cast(list[bytes | None], await self.client.mget(keys))
        except (RedisError, OSError) as e:
            self._failed("get", e)
            self.metrics.cache_misses.inc(len(keys))
            return misses
        self._succeeded()
        hits = sum(v is not None for v in values)
        self.metrics.cache_hits.inc(hits)
        self.metrics.cache_misses.inc(len(keys) - hits)
        return values

    async def set_many(self, items: dict[str, bytes]) -> None:
        """One pipelined SET with TTL per miss; a failure is counted and otherwise ignored."""
        if not items or not self.breaker.allow():
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, ex=self.ttl_s)
                await pipe.execute()
        except (RedisError, OSError) as e:
            self._failed("set", e)
            return
        self._succeeded()

    async def check(self) -> bool:
        """One PING at startup, so a wrong password or TLS setting is logged when the worker starts, not later."""
        try:
            await self.client.ping()
        except (RedisError, OSError) as e:
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

    def describe(self) -> dict[str, Any]:
        return {"enabled": True, "circuit": self.breaker.state, "key_prefix": self.key_prefix, "ttl_s": self.ttl_s}

    async def close(self) -> None:
        await self.client.aclose()
