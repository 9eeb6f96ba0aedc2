"""The model a worker serves, and the background task that follows the registry alias.

Every `interval_s` the reloader resolves the alias. A new version is downloaded, loaded and validated in a
worker thread while the old one keeps serving, then swapped in with one assignment: a request reads
`holder.current` once and uses that version from start to end. A version that fails validation is rejected,
reported in `/health` and the metrics, and not tried again; moving the alias back is the rollback. A registry
that cannot be reached is retried at the next poll.

One reloader follows one alias; a worker runs one per alias it serves (the champion's, a challenger's). A
challenger is validated against the champion it runs next to, and retired when its alias is removed.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from service.core.model import AliasNotSet, LoadedModel, ModelRef, ModelRejected, Registry, load_version
from service.metrics import Metrics

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

    def reject(self, rejection: Rejection) -> None:
        self.rejected[rejection.version] = rejection
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
            "last_error": {"message": failure.message, "at": when(failure.at)} if failure else None,
        }


class Reloader:
    def __init__(
        self,
        holder: ModelHolder,
        registry: Registry,
        ref: ModelRef,
        model_dir: Path,
        interval_s: float,
        metrics: Metrics,
        *,
        compatible_with: ModelHolder | None = None,
        retire_when_unset: bool = False,
    ) -> None:
        """`compatible_with`: the holder whose model a new version must also fit (a challenger's champion).
        `retire_when_unset`: stop serving when the registry says the alias is gone (a challenger's end)."""
        self.holder = holder
        self.registry = registry
        self.ref = ref
        self.model_dir = model_dir
        self.interval_s = interval_s
        self.metrics = metrics
        self.compatible_with = compatible_with
        self.retire_when_unset = retire_when_unset
        self.first_check_done = anyio.Event()

    async def run(self) -> None:
        """Check now, then every `interval_s`, until cancelled."""
        # An optional alias that is not set is the normal state, not a startup to hurry.
        retry_s = self.interval_s if self.retire_when_unset else min(self.interval_s, STARTUP_RETRY_S)
        while True:
            await self.check()
            self.first_check_done.set()
            await anyio.sleep(self.interval_s if self.holder.current else retry_s)

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
            self._replace(None)
            return
        except Exception as e:  # noqa: BLE001 - the registry being unreachable must not stop the worker
            self._failed(f"cannot resolve {self.ref.uri}: {e}", e)
            return
        current = holder.current
        if (current and current.version == target.version) or target.version in holder.rejected:
            holder.last_failure = None
            return
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
                    abandon_on_cancel=True,
                )
            except ModelRejected as e:
                holder.reject(Rejection(e.version, e.reason))
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
            except Exception as e:  # noqa: BLE001 - fetching failed; the next poll retries
                self._failed(f"cannot fetch {target.name} version {target.version}: {e}", e)
                return
        holder.last_failure = None
        self.metrics.model_reloads.labels(result="loaded", alias=self.ref.label).inc()
        old = self._replace(model)
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

    def _replace(self, model: LoadedModel | None) -> LoadedModel | None:
        """Serve `model` (None: nothing) and let the old version's files go."""
        old = self.holder.swap(model) if model is not None else self.holder.retire()
        if old is not None:
            self.metrics.model_info.labels(old.name, old.version, old.alias).set(0)
            shutil.rmtree(old.directory, ignore_errors=True)
            if model is None:
                log.info(
                    "alias removed: retired", extra={"model": old.name, "version": old.version, "ref": self.ref.uri}
                )
        if model is not None:
            self.metrics.model_info.labels(model.name, model.version, model.alias).set(1)
        return old

    def _failed(self, message: str, error: Exception) -> None:
        self.holder.last_failure = Failure(message)
        self.metrics.model_reloads.labels(result="failed", alias=self.ref.label).inc()
        log.warning(message, extra={"error": repr(error)})
