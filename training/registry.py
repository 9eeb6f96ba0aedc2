"""The model registry side of the lifecycle: gated promotion, rollback, the audit trail, status and comparison.

Aliases (`models:/name@production`) are the source of truth for what serves. Every move of an alias is recorded
twice: as tags on the model version it lands on (`promotion.<alias>.by/at/reason/previous_version/action/gate`)
and as an entry in a bounded JSON history on the registered model (`alias_history.<alias>`), which is what
`rollback` reads.

The alias `challenger` (what the service serves next to the champion for shadow and A/B tests) takes any version
that loads, without the metric gate: the experiment is how it is judged. A promotion to any other alias can also
weigh what the service measured about that challenger (training/evidence.py).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from training.config import METRICS, GateConfig, validate_model_name
from training.evidence import EvidenceCheck, EvidenceResult
from training.tracking import LifecycleError

log = logging.getLogger(__name__)

# Old clients load `models:/name/Production`; only these aliases have a registry stage to mirror.
STAGES = {"production": "Production", "staging": "Staging"}
HISTORY_TAG = "alias_history.{alias}"
VERSION_TAG = "promotion.{alias}.{key}"
# Registered-model tag values are VARCHAR(5000) in MLflow's SQL schema.
HISTORY_MAX_CHARS = 5000
HISTORY_MAX_ENTRIES = 50
HISTORY_REASON_CHARS = 200
KEY_METRICS = ("rmse", "r2", "mae", "accuracy", "f1_macro", "log_loss", "roc_auc")
# Promotions to this alias skip the metric gate (never the load check).
CHALLENGER_ALIAS = "challenger"


class GateRefused(LifecycleError):
    """The challenger is worse than the champion beyond the tolerance; `--force --reason` overrides."""

    exit_code = 3


@dataclass(frozen=True)
class GateResult:
    metric: str
    lower_is_better: bool
    tolerance: float
    challenger_version: str
    challenger: float | None
    champion_version: str | None
    champion: float | None
    passed: bool

    def describe(self) -> str:
        direction = "lower" if self.lower_is_better else "higher"
        challenger = _fmt(self.challenger)
        if self.champion_version is None:
            return f"{self.metric} {challenger} (v{self.challenger_version}); no champion to compare with"
        allowed = f"tolerance {self.tolerance:.2%}, {direction} is better"
        return (
            f"challenger v{self.challenger_version} {self.metric}={challenger} vs "
            f"champion v{self.champion_version} {self.metric}={_fmt(self.champion)} ({allowed})"
        )


@dataclass(frozen=True)
class Move:
    """One move of an alias, as recorded in the audit trail."""

    model_name: str
    alias: str
    action: str  # promote | force | rollback | unchanged
    version: str
    previous: str | None
    by: str
    at: str
    reason: str
    gate: GateResult | None = None
    stage: str | None = None
    evidence: EvidenceResult | None = None

    def history_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "action": self.action,
            "version": self.version,
            "previous": self.previous,
            "by": self.by,
            "at": self.at,
            "reason": self.reason[:HISTORY_REASON_CHARS],
        }
        if self.gate is not None:
            entry["gate"] = {
                "metric": self.gate.metric,
                "challenger": self.gate.challenger,
                "champion": self.gate.champion,
                "passed": self.gate.passed,
            }
        if self.evidence is not None:
            entry["evidence"] = self.evidence.summary()
        return entry


@dataclass(frozen=True)
class VersionRow:
    version: str
    aliases: list[str]
    stage: str
    created: str
    estimator: str
    metrics: dict[str, float]
    promotions: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    versions: tuple[str, str]
    metrics: list[tuple[str, float | None, float | None]]
    params: list[tuple[str, str | None, str | None]]
    tags: list[tuple[str, str | None, str | None]]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def validate_alias(alias: str) -> str:
    # MLflow's own rules: `latest` and `v<N>` would shadow `models:/name/latest` and version references. The same
    # rule as service/core/aliases.py (this image ships training/ alone); tests/service/test_aliases.py holds both.
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise LifecycleError(f"alias {alias!r} is not valid: use letters, digits, '_' or '-', not 'latest' or 'v<N>'")
    return alias


def validate_version(version: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]{0,9}", version):
        raise LifecycleError(f"version must be a positive integer (got {version!r})")
    return version


def champion_stack(history: list[dict[str, Any]]) -> list[str]:
    """Replay the history into the stack of champions: a promotion pushes, a rollback pops."""
    stack: list[str] = []
    for entry in history:
        version, previous = str(entry.get("version")), entry.get("previous")
        if entry.get("action") == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != version:
                stack.append(version)
            continue
        # A previous champion the stack does not know: the history was trimmed or the alias moved outside the CLI.
        if previous is not None and (not stack or stack[-1] != str(previous)):
            stack.append(str(previous))
        stack.append(version)
    return stack


def gate_verdict(
    gate: GateConfig,
    challenger_version: str,
    challenger: float | None,
    champion_version: str | None,
    champion: float | None,
) -> GateResult:
    """Not worse than the champion beyond `tolerance` (a fraction of the champion's value)."""
    if champion_version is None:
        passed = challenger is not None
    elif challenger is None or champion is None:
        passed = False
    else:
        slack = gate.tolerance * abs(champion)
        passed = challenger <= champion + slack if gate.lower_is_better else challenger >= champion - slack
    return GateResult(
        metric=gate.metric,
        lower_is_better=gate.lower_is_better,
        tolerance=gate.tolerance,
        challenger_version=challenger_version,
        challenger=challenger,
        champion_version=champion_version,
        champion=champion,
        passed=passed,
    )


def _usable(predictions: np.ndarray[Any, Any]) -> bool:
    """Numbers must be finite; labels (strings, booleans) present. Compared by type, never by arithmetic."""
    if predictions.dtype.kind in "iufb":
        return bool(np.isfinite(predictions.astype("float64")).all())
    return all(isinstance(v, str | bool | np.bool_ | int | np.integer) and v != "" for v in predictions.ravel())


class RegisteredModelLifecycle:
    """One registered model, through an `MlflowClient` that the caller has already checked can reach the server."""

    def __init__(self, client: MlflowClient, name: str) -> None:
        self.client = client
        self.name = validate_model_name(name, "model name")
        self._runs: dict[str, Run | None] = {}

    # ------------------------------------------------------------------------------------------ reading

    @contextmanager
    def _missing(self, what: Callable[[], str]) -> Iterator[None]:
        try:
            yield
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise LifecycleError(what()) from e
            raise

    def model(self) -> RegisteredModel:
        with self._missing(lambda: f"there is no registered model named {self.name!r}"):
            return self.client.get_registered_model(self.name)

    def aliases(self) -> dict[str, str]:
        return {alias: str(version) for alias, version in (self.model().aliases or {}).items()}

    def alias_version(self, alias: str) -> str | None:
        """The version `alias` points at; None when it is unset or the model does not exist yet."""
        try:
            model = self.client.get_registered_model(self.name)
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        version = (model.aliases or {}).get(alias)
        return None if version is None else str(version)

    def versions(self) -> list[ModelVersion]:
        found = self.client.search_model_versions(f"name = '{self.name}'")
        return sorted(found, key=lambda mv: int(mv.version), reverse=True)

    def version(self, version: str) -> ModelVersion:
        validate_version(version)
        self.model()

        def unknown() -> str:
            known = ", ".join(mv.version for mv in reversed(self.versions())) or "none"
            return f"model {self.name!r} has no version {version} (versions: {known})"

        with self._missing(unknown):
            return self.client.get_model_version(self.name, version)

    def champion(self, alias: str) -> ModelVersion | None:
        version = self.aliases().get(alias)
        return None if version is None else self.client.get_model_version(self.name, version)

    def run(self, mv: ModelVersion) -> Run | None:
        if not mv.run_id:
            return None
        if mv.run_id not in self._runs:
            try:
                self._runs[mv.run_id] = self.client.get_run(mv.run_id)
            except MlflowException:
                # A deleted run: the version still exists and still serves; it just has no metrics to show.
                self._runs[mv.run_id] = None
        return self._runs[mv.run_id]

    def metrics(self, mv: ModelVersion) -> dict[str, float]:
        run = self.run(mv)
        return {} if run is None else dict(run.data.metrics)

    def history(self, alias: str) -> list[dict[str, Any]]:
        raw = (self.model().tags or {}).get(HISTORY_TAG.format(alias=alias))
        if not raw:
            return []
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError as e:
            raise LifecycleError(f"tag {HISTORY_TAG.format(alias=alias)} on {self.name!r} is not valid JSON") from e
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    # ------------------------------------------------------------------------------------------- checks

    def gate(self, challenger: ModelVersion, champion: ModelVersion | None, gate: GateConfig) -> GateResult:
        return gate_verdict(
            gate,
            challenger.version,
            self.metrics(challenger).get(gate.metric),
            None if champion is None else champion.version,
            None if champion is None else self.metrics(champion).get(gate.metric),
        )

    def task(self, mv: ModelVersion) -> str:
        """The task the version was trained for (runs from before classification have no `task` param)."""
        run = self.run(mv)
        return "regression" if run is None else run.data.params.get("task", "regression")

    def check_loads(self, mv: ModelVersion) -> None:
        """Load the version as the service will (pyfunc) and predict its logged input example: one answer per row,
        finite numbers or non-empty labels."""
        failed = f"version {mv.version} of {self.name!r} failed the load check"
        with tempfile.TemporaryDirectory(prefix="promote-check-") as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{self.name}/{mv.version}", dst_path=tmp
                )
                example = Model.load(local).load_input_example(local)
                if example is None:
                    raise LifecycleError(f"{failed}: it was logged without an input example")
                predictions = np.asarray(mlflow.pyfunc.load_model(local).predict(example))
            except LifecycleError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure to load or predict blocks the promotion
                raise LifecycleError(f"{failed}: {type(e).__name__}: {e}") from e
        if predictions.shape[0] != len(example) or not _usable(predictions):
            raise LifecycleError(f"{failed}: predictions on the input example are not usable: {predictions.tolist()}")

    # ---------------------------------------------------------------------------------------- moving

    def promote(
        self,
        version: str,
        alias: str,
        gate: GateConfig,
        by: str,
        force: bool = False,
        reason: str = "",
        also_stage: bool = False,
        step: Callable[[str], None] = lambda _: None,
        evidence: EvidenceCheck | None = None,
    ) -> Move:
        """Point `alias` at `version` if it passes the gate (metric, the service's evidence when given, then load
        + predict); record who/when/why. The challenger alias has no metric gate."""
        validate_alias(alias)
        if force and not reason.strip():
            raise LifecycleError("--force needs --reason: an override must say why, for the audit trail")
        if also_stage and alias not in STAGES:
            raise LifecycleError(f"--also-stage works for aliases {', '.join(STAGES)} only (got {alias!r})")
        challenger = self.version(version)
        if challenger.status != "READY":
            raise LifecycleError(f"version {version} of {self.name!r} is {challenger.status}, not READY")
        champion = self.champion(alias)
        previous = None if champion is None else champion.version
        if previous == version:
            return Move(self.name, alias, "unchanged", version, previous, by, now_utc(), "already the champion")

        verdict: GateResult | None = None
        judged: EvidenceResult | None = None
        refusals: list[str] = []
        if alias != CHALLENGER_ALIAS:
            step(f"gate: comparing {gate.metric} with the champion")
            verdict = self.gate(challenger, champion, gate)
            if not verdict.passed:
                refusals.append(verdict.describe())
            if evidence is not None:
                step(f"gate: weighing the service's evidence from {evidence.url}")
                judged = evidence.judge(previous, version)
                if not judged.passed:
                    refusals.append(f"service evidence: {judged.describe()}")
            elif self.aliases().get(CHALLENGER_ALIAS) == version:
                log.warning(
                    "v%s is the serving challenger: pass --evidence-url to weigh its shadow/A-B results", version
                )
        if refusals and not force:
            raise GateRefused(
                f"gate refused v{version} for @{alias}: {'; '.join(refusals)}; override with --force --reason"
            )
        # Even a forced promotion must serve: the load check is never skipped.
        step(f"gate: loading v{version} and predicting its input example")
        self.check_loads(challenger)
        # `--force` on a challenger that passes anyway is an ordinary promotion (its reason is still recorded).
        action = "force" if refusals else "promote"
        move = Move(
            self.name, alias, action, version, previous, by, now_utc(), reason.strip(), verdict, evidence=judged
        )
        step(f"moving @{alias} to v{version}")
        return self._apply(move, also_stage)

    def rollback(self, alias: str, by: str, reason: str = "", also_stage: bool = False) -> Move:
        """Move `alias` back to the champion before the current one, as recorded in the alias history."""
        validate_alias(alias)
        if also_stage and alias not in STAGES:
            raise LifecycleError(f"--also-stage works for aliases {', '.join(STAGES)} only (got {alias!r})")
        current = self.champion(alias)
        if current is None:
            raise LifecycleError(f"model {self.name!r} has no champion at @{alias}: nothing to roll back")
        stack = champion_stack(self.history(alias))
        if stack and stack[-1] != current.version:
            # The alias was moved outside this CLI; the last champion it recorded is the one to return to.
            target: str | None = stack[-1]
        else:
            target = stack[-2] if len(stack) >= 2 else None
        if target is None:
            raise LifecycleError(
                f"@{alias} of {self.name!r} (v{current.version}) has no previous champion in "
                f"{HISTORY_TAG.format(alias=alias)}: nothing to roll back to"
            )
        with self._missing(lambda: f"the previous champion v{target} of {self.name!r} no longer exists"):
            self.client.get_model_version(self.name, target)
        why = reason.strip() or f"rollback from v{current.version}"
        return self._apply(Move(self.name, alias, "rollback", target, current.version, by, now_utc(), why), also_stage)

    def _apply(self, move: Move, also_stage: bool) -> Move:
        self.client.set_registered_model_alias(self.name, move.alias, move.version)
        tags = {
            "by": move.by,
            "at": move.at,
            "action": move.action,
            "reason": move.reason,
            "previous_version": move.previous or "none",
        }
        if move.gate is not None:
            tags["gate"] = move.gate.describe()
        if move.evidence is not None:
            tags["evidence"] = move.evidence.describe()
        for key, value in tags.items():
            self.client.set_model_version_tag(
                self.name, move.version, VERSION_TAG.format(alias=move.alias, key=key), value
            )
        self._append_history(move)
        if also_stage:
            move = replace(move, stage=self._set_stage(move.version, move.alias))
        return move

    def _append_history(self, move: Move) -> None:
        entries = [*self.history(move.alias), move.history_entry()][-HISTORY_MAX_ENTRIES:]
        value = json.dumps(entries, separators=(",", ":"))
        while len(value) > HISTORY_MAX_CHARS and len(entries) > 1:
            entries = entries[1:]
            value = json.dumps(entries, separators=(",", ":"))
        self.client.set_registered_model_tag(self.name, HISTORY_TAG.format(alias=move.alias), value)

    def _set_stage(self, version: str, alias: str) -> str:
        stage = STAGES[alias]
        log.warning(
            "registry stages are deprecated (MLflow 2.9+): also setting stage %s on %s v%s for clients that still "
            "load models:/%s/%s; move them to models:/%s@%s",
            stage, self.name, version, self.name, stage, self.name, alias,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.client.transition_model_version_stage(self.name, version, stage, archive_existing_versions=True)
        return stage

    # ------------------------------------------------------------------------------------------ views

    def status(self, limit: int = 20) -> list[VersionRow]:
        aliases_by_version: dict[str, list[str]] = {}
        for alias, version in self.aliases().items():
            aliases_by_version.setdefault(version, []).append(alias)
        rows = []
        for mv in self.versions()[:limit]:
            run = self.run(mv)
            promotions: dict[str, dict[str, str]] = {}
            for key, value in (mv.tags or {}).items():
                match = re.fullmatch(r"promotion\.(.+)\.(by|at|action|reason)", key)
                if match:
                    promotions.setdefault(match.group(1), {})[match.group(2)] = value
            rows.append(
                VersionRow(
                    version=mv.version,
                    aliases=sorted(aliases_by_version.get(mv.version, [])),
                    stage=mv.current_stage or "None",
                    created=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(timespec="seconds"),
                    estimator="" if run is None else run.data.params.get("estimator", ""),
                    metrics={k: v for k, v in self.metrics(mv).items() if k in KEY_METRICS},
                    promotions=promotions,
                )
            )
        return rows

    def compare(self, v1: str, v2: str) -> Comparison:
        a, b = self.version(v1), self.version(v2)
        ra, rb = self.run(a), self.run(b)
        pa, pb = ({} if r is None else dict(r.data.params) for r in (ra, rb))
        ta, tb = ({} if r is None else dict(r.data.tags) for r in (ra, rb))
        ma, mb = self.metrics(a), self.metrics(b)
        metric_names = [m for m in METRICS if m in ma or m in mb] + sorted((set(ma) | set(mb)) - set(METRICS))
        return Comparison(
            versions=(a.version, b.version),
            metrics=[(m, ma.get(m), mb.get(m)) for m in metric_names],
            params=[(p, pa.get(p), pb.get(p)) for p in sorted(set(pa) | set(pb))],
            tags=[(t, ta.get(t), tb.get(t)) for t in ("git.commit", "git.dirty", "data.fingerprint")],
        )
