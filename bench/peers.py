"""The peers: the servers a team would pick instead of this service, each serving the same model.

- `mlserver-sklearn`: MLServer 1.7.1 with its scikit-learn runtime, V2 protocol (`POST /v2/models/<m>/infer`).
- `mlserver-mlflow`: MLServer 1.7.1 with its MLflow runtime over the registered MLflow model, V2 protocol with the
  pandas codec (one input per column).
- `bentoml`: BentoML 1.4.40, a `@bentoml.service` whose async API takes the rows as an `np.ndarray`.
- `litserve`: LitServe 0.2.19, a `LitAPI` decoding the rows into a float64 matrix.

Each lives in its own virtualenv under `.local/bench-peers/<venv>`, made on first use from the pinned
requirements in `bench/peers/<venv>.txt` (rebuilt when that file changes), so their pins never touch ours.
"Workers" is each server's own knob: MLServer's `parallel_workers` (inference processes behind one HTTP
process), BentoML's `workers`, LitServe's `workers_per_device` (with as many API servers, its default).
The configuration is rendered here (pure functions, unit-tested) and written next to the server's log; every
server binds 127.0.0.1 on a free port and is stopped by PID like the others.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.servers import Target, _wait
from local import processes
from local.processes import HOST

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "peers"
REPO = HERE.parent
VENVS = REPO / ".local" / "bench-peers"
MODEL = "diabetes"  # the name each peer serves the model under
INSTALL_TIMEOUT_S = 900


class PeerUnavailable(RuntimeError):
    """A peer could not be installed or started here; the reason goes into the results instead of a figure."""


@dataclass(frozen=True)
class Peer:
    name: str
    venv: str  # bench/peers/<venv>.txt
    description: str
    version: str


PEERS = (
    Peer("mlserver-sklearn", "mlserver", "MLServer, scikit-learn runtime (V2 protocol)", "mlserver==1.7.1"),
    Peer("mlserver-mlflow", "mlserver", "MLServer, MLflow runtime (V2 protocol, pandas codec)", "mlserver==1.7.1"),
    Peer("bentoml", "bentoml", "BentoML service, async API taking an np.ndarray", "bentoml==1.4.40"),
    Peer("litserve", "litserve", "LitServe LitAPI decoding a float64 matrix", "litserve==0.2.19"),
)


# ------------------------------------------------------------------------------------ virtualenvs


def pinned(requirements: Path) -> list[str]:
    """The `name==version` lines of a requirements file; anything looser is refused (the bench pins peers)."""
    pins = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip() or any(c in version for c in "<>=!~*,; "):
            raise ValueError(f"{requirements.name}: {line!r} is not pinned with ==")
        pins.append(line)
    return pins


def ensure_venv(venv: str, say: Any = print, root: Path = VENVS) -> Path:
    """The python of the peer's virtualenv, made (or remade, when its requirements changed) from its pins."""
    requirements = REQUIREMENTS / f"{venv}.txt"
    pinned(requirements)
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    home = root / venv
    python, stamp = home / "bin" / "python", home / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    say(f"  installing {venv} into {home} from {requirements.relative_to(REPO)} (first use)")
    # The peer venvs come from the base interpreter, not from ours: nothing of our venv leaks into theirs.
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(home)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            raise PeerUnavailable(f"installing {venv} failed: {(done.stdout + done.stderr).strip()[-600:]}")
    home.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)
    return python


# ------------------------------------------------------------------------------ configuration


def mlserver_settings(port: int, grpc_port: int, metrics_port: int, workers: int) -> dict[str, Any]:
    """MLServer's settings.json: loopback only, every port chosen by us, `workers` inference processes."""
    return {
        "host": HOST,
        "http_port": port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": workers,
        "debug": False,
    }


def mlserver_model_settings(runtime: str, uri: Path) -> dict[str, Any]:
    implementation = {"sklearn": "mlserver_sklearn.SKLearnModel", "mlflow": "mlserver_mlflow.MLflowRuntime"}
    return {"name": MODEL, "implementation": implementation[runtime], "parameters": {"uri": str(uri)}}


def bentoml_service(model: Path, workers: int) -> str:
    return f'''"""Rendered by bench/peers.py: the benchmark model behind BentoML."""

import bentoml
import joblib
import numpy as np


@bentoml.service(workers={workers})
class Diabetes:
    def __init__(self) -> None:
        self.model = joblib.load({str(model)!r})

    @bentoml.api
    async def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)
'''


def litserve_server(model: Path, workers: int, port: int) -> str:
    return f'''"""Rendered by bench/peers.py: the benchmark model behind LitServe."""

import joblib
import litserve as ls
import numpy as np


class Diabetes(ls.LitAPI):
    def setup(self, device):
        self.model = joblib.load({str(model)!r})

    def decode_request(self, request):
        return np.asarray(request["rows"], dtype=np.float64)

    def predict(self, x):
        return self.model.predict(x)

    def encode_response(self, output):
        return {{"predictions": output.tolist()}}


if __name__ == "__main__":
    server = ls.LitServer(Diabetes(), accelerator="cpu", workers_per_device={workers})
    server.run(host={HOST!r}, port={port}, generate_client_file=False)
'''


# ------------------------------------------------------------------------------------ request bodies


def body(peer: str, columns: Sequence[str], rows: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The request a peer's own client would send for `rows`: the same values for every server."""
    data = [[float(v) for v in row] for row in rows]
    if peer == "mlserver-sklearn":
        flat = [v for row in data for v in row]
        return {"inputs": [{"name": "X", "shape": [len(data), len(columns)], "datatype": "FP64", "data": flat}]}
    if peer == "mlserver-mlflow":
        # MLServer's pandas codec: one input per column, the request flagged as a DataFrame.
        return {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {"name": c, "shape": [len(data), 1], "datatype": "FP64", "data": [row[i] for row in data]}
                for i, c in enumerate(columns)
            ],
        }
    if peer in ("bentoml", "litserve"):
        return {"rows": data}
    return {"dataframe_split": {"columns": list(columns), "data": data}}


def predictions(peer: str, answer: Any) -> list[float]:
    """The predicted values out of a peer's answer, to check it computes what the service computes."""
    if peer.startswith("mlserver"):
        [output] = answer["outputs"]
        return [float(v) for v in output["data"]]
    if peer == "bentoml":
        return [float(v) for v in answer]
    return [float(v) for v in answer["predictions"]]


def path(peer: str) -> str:
    if peer.startswith("mlserver"):
        return f"/v2/models/{MODEL}/infer"
    return "/predict"


# ------------------------------------------------------------------------------------------ start


def start_peer(peer: Peer, state_dir: Path, n_workers: int, model: Path, mlflow_model: Path, name: str) -> Target:
    """Start `peer` over the model (a joblib file; the MLflow model directory for MLServer's MLflow runtime)."""
    python = ensure_venv(peer.venv)
    home = state_dir / name
    home.mkdir(parents=True, exist_ok=True)
    port = processes.free_port()
    bin_dir = python.parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "VIRTUAL_ENV": str(bin_dir.parent), "PYTHONPATH": ""}
    if peer.venv == "mlserver":
        runtime, uri = ("sklearn", model) if peer.name == "mlserver-sklearn" else ("mlflow", mlflow_model)
        settings = mlserver_settings(port, processes.free_port(), processes.free_port(), n_workers)
        (home / "settings.json").write_text(json.dumps(settings, indent=2))
        (home / MODEL).mkdir(exist_ok=True)
        (home / MODEL / "model-settings.json").write_text(json.dumps(mlserver_model_settings(runtime, uri), indent=2))
        # The model's own readiness: the server's answers ready even when the model failed to load.
        argv, ready = [str(bin_dir / "mlserver"), "start", str(home)], f"/v2/models/{MODEL}/ready"
    elif peer.venv == "bentoml":
        (home / "service.py").write_text(bentoml_service(model, n_workers))
        env |= {"BENTOML_HOME": str(home / "bentoml-home"), "BENTOML_DO_NOT_TRACK": "True"}
        argv = [str(bin_dir / "bentoml"), "serve", "service:Diabetes", "--host", HOST, "--port", str(port)]
        ready = "/readyz"
    else:
        (home / "server.py").write_text(litserve_server(model, n_workers, port))
        env |= {"LITSERVE_DISABLE_TELEMETRY": "1"}
        argv, ready = [str(python), "server.py"], "/health"
    started = time.time()
    proc = processes.spawn(f"bench-{name}", argv, state_dir, env=env, cwd=home)
    try:
        # A peer's tree is not Gunicorn's: wait for the answer only; its processes are counted in describe().
        startup = _wait(proc, f"http://{HOST}:{port}{ready}", started, 1)
    except processes.StartError as e:
        raise PeerUnavailable(str(e)[-1500:]) from e
    target = Target(name, f"{peer.description}, {peer.version}", port, proc, startup, path=path(peer.name))
    target.settings = {"workers": str(n_workers)}
    return target
