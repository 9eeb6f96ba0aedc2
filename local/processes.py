"""Process plumbing shared by the local edition's servers: ports, PID-file children, readiness waits, log tails.

Every server (local/servers.py, local/prometheus.py, the service in local/stack.py, bench targets) is a child process
in its own session, recorded in a PID file beside its log, and stopped by that PID: nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent


class StartError(RuntimeError):
    """A server did not come up; the message carries its log tail and a hint."""


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def require_free(port: int, what: str, env_var: str | None = None) -> None:
    if port_in_use(port):
        hint = f"; choose another with {env_var}=<port>" if env_var else ""
        raise StartError(f"port {port} for {what} is already taken on {HOST}{hint}")


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


@dataclass
class Process:
    """A server started by this module: its PID file and log live in `state_dir`."""

    name: str
    popen: subprocess.Popen[bytes] | None
    pid: int
    log: Path
    pid_file: Path

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after `timeout`."""
        stop_pid(self.pid, timeout)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.pid_file.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not a running server.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """Stop the process group led by `pid` (every server is started as a session leader)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                # Reap it if it is our child, so it does not linger as a zombie.
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def spawn(
    name: str,
    argv: Sequence[str],
    state_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Process:
    """Start `argv` in its own session with output to `<state_dir>/<name>.log` and its PID in `<name>.pid`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"{name}.log"
    pid_file = state_dir / f"{name}.pid"
    full_env = {**os.environ, **(env or {})}
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd or state_dir,
            start_new_session=True,
        )
    pid_file.write_text(str(popen.pid))
    return Process(name=name, popen=popen, pid=popen.pid, log=log, pid_file=pid_file)


def wait_until(proc: Process, ready: Callable[[], bool], timeout: float, hint: str) -> None:
    """Poll `ready` until it holds; if the process dies or time runs out, stop it and raise with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartError(f"{proc.name} exited while starting ({hint}); log {proc.log}:\n{log_tail(proc.log)}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - any failure of the probe means "not ready yet"
            pass
        time.sleep(0.2)
    proc.stop()
    raise StartError(f"{proc.name} not ready after {timeout:.0f}s ({hint}); log {proc.log}:\n{log_tail(proc.log)}")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL built here
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError):
        return False
