"""Where the CLI talks to: the tracking server (checked up front, quickly), who is acting, and what code is running."""

from __future__ import annotations

import getpass
import logging
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
REQUIREMENTS = PACKAGE_DIR / "requirements.txt"
# What a logged model needs at inference time; the CLI's own tooling (typer, rich, onnx) stays out of it.
MODEL_RUNTIME_PACKAGES = ("mlflow-skinny", "scikit-learn", "scipy", "numpy", "pandas", "skops")
PROBE_TIMEOUT_S = 3.0
# Backoff between attempts while waiting for a server that is still coming up.
WAIT_FIRST_DELAY_S = 1.0
WAIT_MAX_DELAY_S = 15.0


class LifecycleError(Exception):
    """An error the CLI reports as one clear line and a non-zero exit code."""

    exit_code = 1


class TrackingUnreachable(LifecycleError):
    """The tracking server did not answer its health check; scripts may retry on this exit code."""

    exit_code = 4


def client_defaults() -> None:
    """Fail in seconds, not minutes: MLflow's HTTP client otherwise retries with backoff for a long time.

    Called by `python -m training` for its own process only; an explicit setting in the environment wins.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def resolve_uri(option: str | None) -> str:
    uri = option or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise LifecycleError("no tracking server given: set MLFLOW_TRACKING_URI or pass --tracking-uri")
    return uri


def probe(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """GET <uri>/health (unauthenticated on an MLflow server) once, with a short timeout."""
    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            if resp.status == 200:
                return
            reason = f"HTTP {resp.status}"
    except urllib.error.HTTPError as e:
        reason = f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        reason = str(getattr(e, "reason", e))
    raise TrackingUnreachable(
        f"cannot reach the MLflow tracking server at {uri} ({reason}); "
        "check MLFLOW_TRACKING_URI / --tracking-uri and that the server is up"
    )


def connect(option: str | None) -> tuple[str, MlflowClient]:
    """The tracking URI in use and a client for it, after checking the server answers."""
    uri = resolve_uri(option)
    probe(uri)
    # The fluent API (`mlflow.start_run`, `log_model`) reads the process-wide URI; keep both in step.
    os.environ["MLFLOW_TRACKING_URI"] = uri
    return uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def http_status(e: MlflowException) -> int | None:
    """The HTTP status of a failed call: MLflow reports a refused login only in the message ("error code 401")."""
    match = re.search(r"error code (\d{3})\b", e.message)
    code = int(match.group(1)) if match else e.get_http_status_code()  # type: ignore[no-untyped-call]
    return code if isinstance(code, int) else None


def _transient(e: MlflowException) -> bool:
    """Worth waiting out on a stack coming up: no server yet, or this user not created yet (HTTP 401)."""
    # MLflow's REST client wraps a refused or reset connection as "API request to ... failed with exception".
    return http_status(e) == 401 or "failed with exception" in e.message


def wait_until_usable(
    option: str | None,
    timeout_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, MlflowClient]:
    """Like `connect`, but wait up to `timeout_s` for the server to answer and to accept this user.

    On a new stack the server and its users come up in the same `pulumi up` as the Job that calls this: connection
    errors and HTTP 401 (the user bootstrap has not run yet) are retried with exponential backoff; any other
    error (403, a bad URI, a server error) is not a matter of time and is raised at once.
    """
    uri = resolve_uri(option)
    deadline = clock() + timeout_s
    delay = WAIT_FIRST_DELAY_S
    while True:
        try:
            probe(uri)
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            # An authenticated read: the registry answers and this user may use it.
            client.search_registered_models(max_results=1)
        except TrackingUnreachable as e:
            reason = str(e)
        except MlflowException as e:
            if not _transient(e):
                raise
            reason = f"HTTP {http_status(e)}" if http_status(e) else e.message.splitlines()[0]
        else:
            os.environ["MLFLOW_TRACKING_URI"] = uri
            return uri, client
        if clock() + delay > deadline:
            raise TrackingUnreachable(
                f"the MLflow tracking server at {uri} was not usable within {timeout_s:g}s: {reason}"
            )
        log.info("waiting for the MLflow tracking server at %s (%s); next try in %.0fs", uri, reason, delay)
        sleep(delay)
        delay = min(delay * 2, WAIT_MAX_DELAY_S)


def actor() -> str:
    """Who is acting, for the audit trail: TRAINING_ACTOR (CI sets it), the MLflow user, or the OS user."""
    for var in ("TRAINING_ACTOR", "MLFLOW_TRACKING_USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # A container UID with no passwd entry and no USER variable.
        return f"uid:{os.getuid()}"


@dataclass(frozen=True)
class CodeVersion:
    commit: str
    dirty: str  # "true", "false" or "unknown" (an image built without .git)


def code_version() -> CodeVersion:
    """The git commit of this package and whether its tree has local changes; GIT_COMMIT/GIT_DIRTY in images."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = "true" if _git("status", "--porcelain") else "false"
        return CodeVersion(commit=commit, dirty=dirty)
    except (OSError, subprocess.SubprocessError):
        return CodeVersion(
            commit=os.environ.get("GIT_COMMIT") or "unknown", dirty=os.environ.get("GIT_DIRTY") or "unknown"
        )


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(PACKAGE_DIR), *args], capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def pinned_requirements(path: Path = REQUIREMENTS, packages: tuple[str, ...] = MODEL_RUNTIME_PACKAGES) -> list[str]:
    """The `name==version` pins of `packages` from training/requirements.txt, so a model records what built it."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+).*", line)
        if match:
            pins[_normalise(match.group(1))] = f"{match.group(1)}=={match.group(2)}"
    missing = [p for p in packages if _normalise(p) not in pins]
    if missing:
        raise LifecycleError(f"{path} must pin (==) {', '.join(missing)}: the logged model records these pins")
    return [pins[_normalise(p)] for p in packages]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
