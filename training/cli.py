"""`python -m training`: train, promote, rollback, seed, status, compare, history; thin commands over train.py and
registry.py.

Human output (tables, progress, warnings) is rich; the last line on stdout of train/promote/rollback/seed is for
scripts (`registered <name> version <N>`, ...), or a JSON object with `--json`. Exit codes: 0 ok, 1 error,
2 usage, 3 promotion refused by the gate, 4 tracking server unreachable.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from mlflow.exceptions import MlflowException
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from training import tracking
from training.config import TASKS, ConfigError, GateConfig, TrainingConfig, load_config, parse_gate
from training.data import DataSource
from training.evidence import EvidenceCheck, EvidenceRule
from training.registry import Move, RegisteredModelLifecycle, validate_version
from training.seal import seal
from training.train import TrainResult, train
from training.views import comparison_tables, status_table

app = typer.Typer(
    name="training",
    help="Model lifecycle: train and register, promote through a gate, roll back, and inspect the registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
# Rich falls back to 80 columns when output is not a terminal (CI logs, pipes); tables need more than that.
PIPE_WIDTH = 200

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Training config YAML (default training/configs/linear.yaml).", dir_okay=False),
]
ModelNameOpt = Annotated[
    str | None,
    typer.Option(
        "--model-name",
        "-m",
        # The in-cluster Jobs set it to the model the inference service serves (infra/training_job.py).
        envvar="TRAINING_MODEL_NAME",
        help="Registered model name (default: config).",
    ),
]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        "-d",
        help="Train on this table instead of the diabetes demo data: a .csv, .csv.gz or .parquet path or s3:// URI "
        "(S3 endpoint: $AWS_ENDPOINT_URL or $MLFLOW_S3_ENDPOINT_URL). Needs --target.",
    ),
]
TargetOpt = Annotated[str | None, typer.Option("--target", "-t", help="The column of --data to predict.")]
TaskOpt = Annotated[
    str | None,
    typer.Option(
        "--task",
        help=f"{' or '.join(TASKS)}; must match the config's `task` (default config per task: "
        "training/configs/linear.yaml, logistic.yaml).",
    ),
]
AliasOpt = Annotated[str, typer.Option("--alias", "-a", help="Registry alias the service loads.")]
TrackingUriOpt = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow tracking server (default: $MLFLOW_TRACKING_URI).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON line instead.")]
AlsoStageOpt = Annotated[
    bool,
    typer.Option(
        "--also-stage", help="Also set the deprecated registry stage for old models:/name/Production clients."
    ),
]


def _setup_output() -> None:
    global out, err
    out, err = Console(), Console(stderr=True)
    for console in (out, err):
        if not console.is_terminal:
            console.width = PIPE_WIDTH
    logger = logging.getLogger("training")
    for handler in [h for h in logger.handlers if isinstance(h, RichHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(RichHandler(console=err, show_time=False, show_path=False))
    logger.setLevel(logging.INFO)


@contextmanager
def _errors(uri: Callable[[], str | None] = lambda: None) -> Iterator[None]:
    """Every failure the user can act on becomes one red line on stderr and a documented exit code."""
    try:
        yield
    except tracking.LifecycleError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(e.exit_code) from e
    except ConfigError as e:
        err.print(f"[bold red]config error:[/] {e}", highlight=False)
        raise typer.Exit(1) from e
    except MlflowException as e:
        where = uri() or "the tracking server"
        err.print(f"[bold red]error from {where}:[/] {_explain(e)}", highlight=False)
        raise typer.Exit(1) from e


def _explain(e: MlflowException) -> str:
    # A refused login surfaces as "failed with error code 401 != 200" plus a long body; say what to do instead.
    code = tracking.http_status(e)
    if code == 401:
        return "not authenticated (HTTP 401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    if code == 403:
        user = os.environ.get("MLFLOW_TRACKING_USERNAME", "this user")
        return f"permission denied (HTTP 403) for {user}: {e.message.splitlines()[0]}"
    return e.message


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def step(text: str) -> None:
            progress.update(task, description=text)
            progress.console.print(f"[dim]•[/] {text}", highlight=False)

        yield step


@contextmanager
def _registry(
    model_name: str | None,
    config: Path | None,
    tracking_uri: str | None,
    wait_s: float | None = None,
    task: str | None = None,
) -> Iterator[_Session]:
    """Validate the config, reach the server (waiting up to `wait_s` if given), and report any failure in the body
    as one line with an exit code."""
    uri: list[str] = []
    with _errors(lambda: uri[0] if uri else None):
        cfg = load_config(config, task)
        if wait_s is None:
            found, client = tracking.connect(tracking_uri)
        else:
            found, client = tracking.wait_until_usable(tracking_uri, wait_s)
        uri.append(found)
        yield _Session(RegisteredModelLifecycle(client, model_name or cfg.model_name), cfg, found)


@dataclass(frozen=True)
class _Session:
    registry: RegisteredModelLifecycle
    config: TrainingConfig
    uri: str

    @property
    def name(self) -> str:
        return self.registry.name


def _gate(gate: GateConfig, metric: str | None, tolerance: float | None) -> GateConfig:
    if metric is None and tolerance is None:
        return gate
    return parse_gate(metric or gate.metric, gate.tolerance if tolerance is None else tolerance, "--metric/--tolerance")


def _source(data: str | None, target: str | None) -> DataSource | None:
    if data is None and target is None:
        return None
    if data is None:
        raise typer.BadParameter("needs --data (the diabetes demo data has its own target)", param_hint="--target")
    if not target:
        raise typer.BadParameter(f"--data {data} needs it: the column to predict", param_hint="--target")
    return DataSource(data, target)


def _emit(line: str, payload: dict[str, Any], as_json: bool) -> None:
    """The final stdout line scripts parse."""
    typer.echo(json.dumps(payload, default=str) if as_json else line)


@app.callback()
def main() -> None:
    """Model lifecycle CLI; see docs/operations.md for the runbook."""
    _setup_output()


@app.command("train")
def train_command(
    config: ConfigOpt = None,
    model_name: ModelNameOpt = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment (default: the model name).")] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Also log an ONNX export (skl2onnx) inside the model.")] = False,
    data: DataOpt = None,
    target: TargetOpt = None,
    task: TaskOpt = None,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the configured estimator on --data (default: the diabetes data), log everything, and register a new
    model version. String columns are one-hot encoded inside the model."""
    source = _source(data, target)
    with _registry(model_name, config, tracking_uri, task=task) as session, _progress() as step:
        result = train(
            session.config, model_name=session.name, experiment=experiment, onnx=onnx, step=step, source=source
        )
    _show_training(result, session.uri)
    _emit(f"registered {result.model_name} version {result.version}", result.as_dict(), as_json)


def _show_training(result: TrainResult, uri: str) -> None:
    table = Table(title=f"{result.model_name} v{result.version} — held-out metrics", title_justify="left")
    for name in result.metrics:
        table.add_column(name, justify="right")
    table.add_row(*(f"{v:.4f}" for v in result.metrics.values()))
    out.print(table)
    dirty = " (dirty tree)" if result.git_dirty == "true" else ""
    out.print(f"run {result.run_id} on {uri}, commit {result.git_commit[:12]}{dirty}", highlight=False)
    out.print(f"data {result.data_fingerprint}", highlight=False)
    if result.onnx != "off":
        out.print(f"onnx: {result.onnx}", highlight=False)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to promote.")],
    alias: AliasOpt = "production",
    force: Annotated[bool, typer.Option("--force", help="Override a failed metric gate (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why; recorded in the audit trail.")] = None,
    also_stage: AlsoStageOpt = False,
    model_name: ModelNameOpt = None,
    config: ConfigOpt = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Gate metric (default: the config's gate.metric; without --config, the default config's of the "
            "version's task): rmse, mse, mae, r2, accuracy, f1_macro, log_loss, roc_auc."
        ),
    ] = None,
    tolerance: Annotated[float | None, typer.Option(help="Gate tolerance, a fraction (default: config).")] = None,
    evidence_url: Annotated[
        str | None,
        typer.Option(
            envvar="TRAINING_EVIDENCE_URL",
            help="The inference service's metrics (its /metrics, or a Prometheus /federate URL): the challenger's "
            "shadow/A-B results must pass the evidence rule too.",
        ),
    ] = None,
    min_samples: Annotated[
        int, typer.Option(help="Evidence: fewest shadow batches + A/B requests of the challenger to judge it on.")
    ] = 100,
    max_error_rate_increase: Annotated[
        float, typer.Option(help="Evidence: how much the challenger's error rate may exceed the champion's (0-1).")
    ] = 0.0,
    max_mean_abs_diff: Annotated[
        float | None, typer.Option(help="Evidence: largest mean |champion - challenger| over the shadow pairs.")
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Point the alias at VERSION if it is not worse than the champion and loads and predicts; record the move.

    `--alias challenger` has no metric gate (the shadow or A/B test judges it). With --evidence-url, a promotion
    also weighs what the service measured about VERSION against the current champion (docs/operations.md).
    """
    with _registry(model_name, config, tracking_uri) as session, _progress() as step:
        gate = _gate(session.config.gate, metric, tolerance)
        if config is None and metric is None:
            # No gate named: judge the version on its own task's metrics (a classifier has no rmse).
            task = session.registry.task(session.registry.version(version))
            if task != session.config.task:
                gate = _gate(load_config(task=task).gate, None, tolerance)
        evidence = None
        if evidence_url:
            rule = EvidenceRule(min_samples, max_error_rate_increase, max_mean_abs_diff)
            step("reading the service's evidence")
            evidence = EvidenceCheck.load(evidence_url, rule)
        move = session.registry.promote(
            version,
            alias,
            gate,
            tracking.actor(),
            force=force,
            reason=reason or "",
            also_stage=also_stage,
            step=step,
            evidence=evidence,
        )
    name = session.name
    if move.action == "unchanged":
        line = f"unchanged {name} version {version} already at @{alias}"
    else:
        if move.gate is not None:
            verdict = "[green]passed[/]" if move.gate.passed else "[yellow]failed, forced[/]"
            out.print(f"gate {verdict}: {move.gate.describe()}", highlight=False)
        else:
            out.print(f"no metric gate for @{alias}: the shadow or A/B test judges it", highlight=False)
        if move.evidence is not None:
            verdict = "[green]passed[/]" if move.evidence.passed else "[yellow]failed, forced[/]"
            out.print(f"evidence {verdict}: {move.evidence.describe()}", highlight=False)
        forced = ", forced" if move.action == "force" else ""
        line = f"promoted {name} version {version} to @{alias} (previous {move.previous or 'none'}{forced})"
    _emit(line, _move_payload(move), as_json)


@app.command("seal")
def seal_command(
    version: Annotated[str, typer.Argument(help="Model version to seal.")],
    model_name: ModelNameOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a version's digest and contract (what `train` does at registration), for a version registered
    another way: the inference service loads no version without them. Vouches for the files as they are now."""
    with _registry(model_name, config, tracking_uri) as session:
        digest = seal(session.registry.client, session.uri, session.name, validate_version(version))
    _emit(f"sealed {session.name} version {version}: {digest}", {"version": version, "digest": digest}, as_json)


@app.command()
def seed(
    config: ConfigOpt = None,
    model_name: ModelNameOpt = None,
    alias: Annotated[
        str, typer.Option("--alias", "-a", envvar="TRAINING_MODEL_ALIAS", help="Registry alias the service loads.")
    ] = "production",
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait for the server to answer and accept this user (connection errors and HTTP 401 "
            "are retried with backoff); exit code 4 after that.",
        ),
    ] = 300.0,
    data: DataOpt = None,
    target: TargetOpt = None,
    task: TaskOpt = None,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a new registry its first model: when no version carries ALIAS, train one and promote it (the gate and
    the load check apply); when one does, change nothing. Safe to run on every deploy."""
    source = _source(data, target)
    with _registry(model_name, config, tracking_uri, wait_s=wait, task=task) as session:
        current = session.registry.alias_version(alias)
        if current is None:
            with _progress() as step:
                result = train(session.config, model_name=session.name, step=step, source=source)
                move = session.registry.promote(
                    result.version,
                    alias,
                    session.config.gate,
                    tracking.actor(),
                    reason=f"seed: no version of {session.name} carried @{alias}",
                    step=step,
                )
    name = session.name
    if current is not None:
        line = f"unchanged {name} version {current} already at @{alias}"
        _emit(line, {"model_name": name, "alias": alias, "version": current, "seeded": False}, as_json)
        return
    _show_training(result, session.uri)
    line = f"seeded {name} version {move.version} at @{alias}"
    _emit(line, {**_move_payload(move), "seeded": True, "run_id": result.run_id}, as_json)


@app.command()
def rollback(
    alias: AliasOpt = "production",
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why; recorded in the audit trail.")] = None,
    also_stage: AlsoStageOpt = False,
    model_name: ModelNameOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move the alias back to the previous champion recorded in its history (no gate: rollback must be instant)."""
    with _registry(model_name, config, tracking_uri) as session:
        move = session.registry.rollback(alias, tracking.actor(), reason=reason or "", also_stage=also_stage)
    line = f"rolled back {session.name} @{alias} from version {move.previous} to version {move.version}"
    _emit(line, _move_payload(move), as_json)


def _move_payload(move: Move) -> dict[str, Any]:
    payload = asdict(move)
    payload["gate_passed"] = None if move.gate is None else move.gate.passed
    return payload


@app.command()
def status(
    model_name: ModelNameOpt = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many versions, newest first.")] = 20,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Versions, aliases, key metrics, and who promoted what when."""
    with _registry(model_name, config, tracking_uri) as session:
        rows, aliases = session.registry.status(limit), session.registry.aliases()
    name = session.name
    if as_json:
        typer.echo(json.dumps({"model": name, "aliases": aliases, "versions": [asdict(r) for r in rows]}))
        return
    out.print(status_table(name, rows))
    if not aliases:
        out.print(f"no aliases set on {name}", highlight=False)
    for alias in sorted(aliases):
        out.print(f"@{alias} → v{aliases[alias]}", highlight=False)


@app.command()
def history(
    alias: AliasOpt = "production",
    model_name: ModelNameOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit trail of an alias: every promotion, forced promotion and rollback, oldest first."""
    with _registry(model_name, config, tracking_uri) as session:
        entries = session.registry.history(alias)
    if as_json:
        typer.echo(json.dumps(entries))
        return
    table = Table(title=f"{session.name} @{alias} history", title_justify="left")
    keys = ("at", "action", "version", "previous", "by", "reason")
    for column in keys:
        table.add_column(column)
    for e in entries:
        table.add_row(*(str(e.get(k) or "") for k in keys))
    out.print(table)


@app.command()
def compare(
    v1: Annotated[str, typer.Argument(help="First version.")],
    v2: Annotated[str, typer.Argument(help="Second version.")],
    model_name: ModelNameOpt = None,
    config: ConfigOpt = None,
    tracking_uri: TrackingUriOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Metrics, parameters, code and data of two versions side by side."""
    with _registry(model_name, config, tracking_uri) as session:
        comparison = session.registry.compare(v1, v2)
    if as_json:
        typer.echo(json.dumps(asdict(comparison)))
        return
    for table in comparison_tables(session.name, comparison):
        out.print(table)
