"""The one module of the offline harness that touches Pulumi's internals (pulumi.runtime.mocks, rpc, settings,
proto and sync_await): it runs a program under a mock engine and hands back what the program registered, as
plain data. The rest of the harness sees only the wire format's secret marker, through the helpers here.
"""

from __future__ import annotations

import logging
import runpy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

# The marker Pulumi's wire format puts on a secret value.
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


class Answers(Protocol):
    """What the mock engine asks of the harness's mocks: a new resource's id and state, and an invoke's result."""

    def new_resource(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]: ...

    def call(self, token: str, args: dict[str, Any]) -> dict[str, Any]: ...


class _EngineMocks(mocks.Mocks):
    """Hands the engine's mock requests to `Answers`, so no other module needs the engine's argument types."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return self.answers.new_resource(args.typ, args.name, dict(args.inputs))

    def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        return self.answers.call(args.token, args.args)


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SECRET_SIG) == _SECRET_VALUE


def mark_secret(value: Any) -> dict[str, Any]:
    """`value` as the engine receives a secret."""
    return {_SECRET_SIG: _SECRET_VALUE, "value": value}


def secret_leaves(value: Any, inside: bool = False) -> Iterator[Any]:
    """Every scalar inside a value the engine received marked secret."""
    if is_secret_value(value):
        yield from secret_leaves(value.get("value"), True)
    elif isinstance(value, dict):
        for v in value.values():
            yield from secret_leaves(v, inside)
    elif isinstance(value, list):
        for v in value:
            yield from secret_leaves(v, inside)
    elif inside and value is not None:
        yield value


def plain(value: Any) -> Any:
    """Unwrap secrets and turn integral floats (the wire format has no ints) back into ints."""
    if is_secret_value(value):
        return plain(value.get("value"))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that also keeps what `MockResourceArgs` lacks: parent, dependencies, provider.

    It also does what the engine does with `additional_secret_outputs` (e.g. RandomPassword.result): those
    outputs come back secret, so secrecy flows through the program as in a real deployment. With `engine_secrets`
    off it does not, so a test can see what the program marks secret on its own.

    The SDK calls these methods on its executor's threads: `cpu_seconds` is the CPU time those calls took, counted
    per thread (time.thread_time), so no other thread of the process is billed to the program.
    """

    def __init__(self, mock: mocks.Mocks, engine_secrets: bool = True) -> None:
        super().__init__(mock)
        # Each registration as the keyword arguments of a tests.infra.recording.Resource; each invoke as (token, args).
        self.registrations: list[dict[str, Any]] = []
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.engine_secrets = engine_secrets
        self.cpu_seconds = 0.0
        self._cpu_lock = threading.Lock()

    def _bill(self, started: float) -> None:
        spent = time.thread_time() - started
        with self._cpu_lock:
            self.cpu_seconds += spent

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        started = time.thread_time()
        try:
            _ensure_event_loop()
            self.invokes.append((request.tok, rpc.deserialize_properties(request.args)))
            return super().Invoke(request)
        finally:
            self._bill(started)

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        started = time.thread_time()
        try:
            return self._read(request)
        finally:
            self._bill(started)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        started = time.thread_time()
        try:
            return self._register(request)
        finally:
            self._bill(started)

    def _read(self, request: Any) -> Any:
        """A read (a StackReference, or `get` of an existing resource): recorded like a registration."""
        response = super().ReadResource(request)
        _ensure_event_loop()
        state = self.resources[response.urn].state
        self.registrations.append(
            {
                "urn": response.urn,
                "type": request.type,
                "name": request.name,
                "custom": True,
                "raw_inputs": rpc.deserialize_properties(request.properties),
                "parent": request.parent,
                "dependencies": list(request.dependencies),
                "property_dependencies": {},
                "provider": request.provider,
                "outputs": plain(state),
                "id": request.id,
                "read": True,
            }
        )
        return response

    def _register(self, request: Any) -> Any:
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        _ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = rpc.deserialize_properties(request.object)  # secrets stay wrapped: Resource.is_secret reads them
        rid, state = self.mocks.new_resource(
            mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=plain(inputs),
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        for key in request.additionalSecretOutputs if self.engine_secrets else ():
            if key in state and not is_secret_value(state[key]):
                state[key] = {_SECRET_SIG: _SECRET_VALUE, "value": state[key]}
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, rid or "", state)
        self.registrations.append(
            {
                "urn": urn,
                "type": request.type,
                "name": request.name,
                "custom": bool(request.custom),
                "raw_inputs": inputs,
                "parent": request.parent,
                "dependencies": list(request.dependencies),
                "property_dependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                "provider": request.provider,
                "outputs": plain(state),
                "ignore_changes": list(request.ignoreChanges),
                "delete_before_replace": bool(request.deleteBeforeReplace),
                "id": rid or "",
                "custom_timeouts": {
                    op: getattr(request.customTimeouts, op)
                    for op in ("create", "update", "delete")
                    if getattr(request.customTimeouts, op)
                },
            }
        )
        props = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid or "", object=props)


class _WarningLog(logging.Handler):
    """Collects what the mock engine logs at WARNING, instead of printing it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"{__name__}.run.{id(self)}")
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class ProgramRun:
    """What one run of a program under the mock engine produced, as plain data."""

    registrations: list[dict[str, Any]]
    invokes: list[tuple[str, dict[str, Any]]]
    exports: dict[str, Any]
    secret_exports: set[str]
    # CPU seconds the program run under mocks took: its own thread and the engine calls it made, no other thread.
    seconds: float
    warnings: list[str] = field(default_factory=list)
    # Each export's resources: the URNs its Output waits for (Output.resources()).
    export_dependencies: dict[str, set[str]] = field(default_factory=dict)


def run_program(
    program: Path,
    answers: Answers,
    *,
    project: str,
    stack: str,
    organization: str,
    config: dict[str, str],
    secret_keys: list[str],
    engine_secrets: bool = True,
) -> ProgramRun:
    """Execute `program` as `pulumi up` would, with `answers` standing in for the providers."""
    settings.ROOT.set(None)
    # What an earlier run that failed left behind (its unhandled exception, its pending outputs) would fail this one
    # too; Pulumi's own `@pulumi.runtime.test` clears the same before each run.
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    # The program creates asyncio futures as it registers resources; a test before this one (an async service
    # test, say) may have closed and unset the main thread's loop.
    _ensure_event_loop()
    pulumi.runtime.set_all_config(config, secret_keys)
    mock = _EngineMocks(answers)
    monitor = RecordingMonitor(mock, engine_secrets)
    log = _WarningLog()
    mocks.set_mocks(
        mock,
        project=project,
        stack=stack,
        preview=False,
        monitor=monitor,
        logger=log.logger,
        organization=organization,
    )

    def run() -> None:
        runpy.run_path(str(program), run_name="__main__")

    # CPU time of the thread running the program (plus the engine calls, billed in RecordingMonitor): what the
    # program costs, not how busy the machine or another thread of this process (a test's server, say) is.
    started = time.thread_time()
    try:
        _sync_await(pulumi.runtime.stack.run_pulumi_func(run))
        root = settings.get_root_resource()
        assert root is not None
        exported: dict[str, Any] = getattr(root, "outputs", {})
        exports, secret, export_dependencies = {}, set(), {}
        for key, value in exported.items():
            output = pulumi.Output.from_input(value)
            exports[key] = plain(_sync_await(output.future()))
            if _sync_await(output.is_secret()):
                secret.add(key)
            export_dependencies[key] = {str(_sync_await(r.urn.future())) for r in _sync_await(output.resources())}
        seconds = time.thread_time() - started + monitor.cpu_seconds
    finally:
        settings.ROOT.set(None)
    return ProgramRun(
        registrations=list(monitor.registrations),
        invokes=list(monitor.invokes),
        exports=exports,
        secret_exports=secret,
        seconds=seconds,
        warnings=list(log.messages),
        export_dependencies=export_dependencies,
    )
