"""The model a worker serves, and the background task that follows the registry alias.

Every `interval_s` the reloader resolves the alias. A new version is downloaded, loaded and validated in a
worker thread while the old one keeps serving, then swapped in with one assignment: a request reads
`holder.current` once and uses that version from start to end. The replaced version's files are removed in a
worker thread `retire_grace_s` later (requests may still hold it), and its metric series are dropped.

Two outcomes are kept apart. A version found invalid (digest, format, contract, outputs: service/core/loader.py)
is rejected for good, reported in `/health` and the metrics, and not tried again; moving the alias back is the
rollback. Since the verdict depends on the version and the recorded contract only, every worker of every pod
reaches the same one. A version that failed to load (registry or artifact store unreachable, I/O) is retried,
the wait doubling from the poll interval up to `retry_max_s`.

One reloader follows one alias; a worker runs one per alias it serves (the champion's, a challenger's). A
challenger is validated against the champion it runs next to, and retired when its alias is removed.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from service.core.loader import LoadedModel, ModelRejected, load_version
from service.core.refs import ModelRef
from service.core.registry import AliasNotSet, ModelRegistryClient
from service.core.telemetry import ReloadMetrics
from service.core.trust import TrustPolicy

log = logging.getLogger(__name__)

# While nothing is loaded (startup, registry down), retry sooner than the normal poll.
STARTUP_RETRY_S = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Rejection:
    version: str
    reason: str
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class Failure:
    message: str
    at: datetime = field(default_factory=_now)
    retry_in_s: float | None = None


class ModelHolder:
    """What this worker serves and what happened at the last reloads."""

    def __init__(self) -> None:
        self.current: LoadedModel | None = None
        self.last_check_at: datetime | None = None
        self.last_reload_at: datetime | None = None
        self.last_rejection: Rejection | None = None
        self.last_failure: Failure | None = None
        self.rejected: dict[str, Rejection] = {}

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        old, self.current = self.current, model
        self.last_reload_at = _now()
        return old

    def retire(self) -> LoadedModel | None:
        old, self.current = self.current, None
        return old

    def reject(self, rejection: Rejection, identity: str | None = None) -> None:
        """`identity`: the version's number and source, since MLflow reuses numbers (service/core/cache.py)."""
        self.rejected[identity or rejection.version] = rejection
        self.last_rejection = rejection

    def describe(self) -> dict[str, Any]:
        def when(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        rejection = self.last_rejection
        failure = self.last_failure
        return {
            "model": self.current.describe() if self.current else None,
            "last_check_at": when(self.last_check_at),
            "last_reload_at": when(self.last_reload_at),
            "last_rejection": (
                {"version": rejection.version, "reason": rejection.reason, "at": when(rejection.at)}
                if rejection
                else None
            ),
            "last_error": (
                {"message": failure.message, "at": when(failure.at), "retry_in_s": failure.retry_in_s}
                if failure
                else None
            ),
        }


class Reloader:
    def __init__(
        self,
        holder: ModelHolder,
        registry: ModelRegistryClient,
        ref: ModelRef,
        model_dir: Path,
        interval_s: float,
        metrics: ReloadMetrics,
        *,
        compatible_with: ModelHolder | None = None,
        retire_when_unset: bool = False,
        policy: TrustPolicy | None = None,
        expected: dict[str, Any] | None = None,
        retire_grace_s: float = 30.0,
        retry_max_s: float = 300.0,
        on_retire: Callable[[LoadedModel], None] | None = None,
        on_load: Callable[[LoadedModel], Awaitable[None]] | None = None,
    ) -> None:
        """`compatible_with`: the holder whose model a new version must also fit (a challenger's champion).
        `retire_when_unset`: stop serving when the registry says the alias is gone (a challenger's end).
        `expected`: the contract from the settings. `on_retire`: drops a replaced version's other series.
        `on_load`: runs on a validated version before it serves (the cache times it: service/core/cache.py)."""
        self.holder = holder
        self.registry = registry
        self.ref = ref
        self.model_dir = model_dir
        self.interval_s = interval_s
        self.metrics = metrics
        self.compatible_with = compatible_with
        self.retire_when_unset = retire_when_unset
        self.policy = policy or TrustPolicy()
        self.expected = expected
        self.retire_grace_s = retire_grace_s
        self.retry_max_s = retry_max_s
        self.on_retire = on_retire
        self.on_load = on_load
        self.first_check_done = anyio.Event()
        # version -> (failed attempts in a row, monotonic time before which it is not tried again)
        self._retry: dict[str, tuple[int, float]] = {}
        self._tasks: TaskGroup | None = None

    @property
    def _poll_s(self) -> float:
        # An optional alias that is not set is the normal state, not a startup to hurry.
        if self.holder.current or self.retire_when_unset:
            return self.interval_s
        return min(self.interval_s, STARTUP_RETRY_S)

    async def run(self) -> None:
        """Check now, then every poll interval, until cancelled; owns the delayed removals of old versions."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                while True:
                    await self.check()
                    self.first_check_done.set()
                    await anyio.sleep(self._poll_s)
            finally:
                self._tasks = None

    async def check(self) -> None:
        """Serve the version the reference points at, if it is new and valid. Never raises."""
        holder = self.holder
        holder.last_check_at = _now()
        try:
            target = await anyio.to_thread.run_sync(self.registry.resolve, self.ref, abandon_on_cancel=True)
        except AliasNotSet as e:
            if not self.retire_when_unset:
                self._failed(f"cannot resolve {self.ref.uri}: {e}", e)
                return
            holder.last_failure = Failure(str(e))
            await self._replace(None)
            return
        except Exception as e:  # noqa: BLE001 - the registry being unreachable must not stop the worker
            self._failed(f"cannot resolve {self.ref.uri}: {e}", e)
            return
        current = holder.current
        # MLflow numbers a registered model's versions from 1 again after it is deleted and created again: a
        # version is its number and its source.
        identity = f"{target.version}:{target.source}"
        same = current is not None and (current.version, current.source) == (target.version, target.source)
        if same or identity in holder.rejected:
            holder.last_failure = None
            return
        attempts, not_before = self._retry.get(target.version, (0, 0.0))
        if time.monotonic() < not_before:
            return  # failed to load lately: the backoff decides when to try again
        # A challenger must fit the champion it runs next to (same signature, same output shape).
        reference = (self.compatible_with.current if self.compatible_with else None) or current
        log.info("loading model", extra={"model": target.name, "version": target.version, "ref": self.ref.uri})
        with self.metrics.model_load_duration.time():
            try:
                model = await anyio.to_thread.run_sync(
                    load_version,
                    self.registry,
                    target,
                    self.ref.label,
                    self.model_dir,
                    reference,
                    self.policy,
                    self.expected,
                    abandon_on_cancel=True,
                )
            except ModelRejected as e:
                holder.reject(Rejection(e.version, e.reason), identity)
                self.metrics.model_reloads.labels(result="rejected", alias=self.ref.label).inc()
                log.warning(
                    "model version rejected; the serving version (if any) stays",
                    extra={
                        "model": target.name,
                        "version": e.version,
                        "reason": e.reason,
                        "serving": current.version if current else None,
                    },
                )
                return
            except Exception as e:  # noqa: BLE001 - fetching or loading failed: retried after a backoff
                wait = min(self._poll_s * 2**attempts, self.retry_max_s)
                self._retry = {target.version: (attempts + 1, time.monotonic() + wait)}
                self._failed(f"cannot load {target.name} version {target.version}: {e}", e, retry_in_s=wait)
                return
        self._retry = {}
        if self.on_load is not None:
            try:
                await self.on_load(model)
            except Exception as e:  # noqa: BLE001 - what it prepares is optional; the version serves anyway
                log.warning("preparing the new version failed", extra={"version": model.version, "error": repr(e)})
        holder.last_failure = None
        self.metrics.model_reloads.labels(result="loaded", alias=self.ref.label).inc()
        old = await self._replace(model)
        log.info(
            "model serving",
            extra={
                "model": model.name,
                "version": model.version,
                "alias": model.alias,
                "flavor": model.flavor,
                "previous": old.version if old else None,
                "load_seconds": round(model.load_seconds, 3),
            },
        )

    async def _replace(self, model: LoadedModel | None) -> LoadedModel | None:
        """Serve `model` (None: nothing); the old version's series go now, its files after the grace period."""
        old = self.holder.swap(model) if model is not None else self.holder.retire()
        if model is not None:
            self.metrics.model_info.labels(model.name, model.version, model.alias).set(1)
        if old is not None:
            if model is None or (old.version, old.alias) != (model.version, model.alias):
                self.metrics.drop_version(old.name, old.version, old.alias)
            if self.on_retire is not None and (model is None or old.version != model.version):
                self.on_retire(old)
            if self._tasks is not None:
                self._tasks.start_soon(self._remove_later, old.directory)
            else:
                await anyio.to_thread.run_sync(shutil.rmtree, old.directory, True)
            if model is None:
                log.info(
                    "alias removed: retired", extra={"model": old.name, "version": old.version, "ref": self.ref.uri}
                )
        return old

    async def _remove_later(self, directory: Path) -> None:
        """Requests that read the old version before the swap may still be predicting with it: wait, then
        remove its files off the event loop (a large model directory takes a while)."""
        await anyio.sleep(self.retire_grace_s)
        await anyio.to_thread.run_sync(shutil.rmtree, directory, True)

    def _failed(self, message: str, error: Exception, retry_in_s: float | None = None) -> None:
        self.holder.last_failure = Failure(message, retry_in_s=retry_in_s)
        self.metrics.model_reloads.labels(result="failed", alias=self.ref.label).inc()
        log.warning(message, extra={"error": repr(error), "retry_in_s": retry_in_s})
