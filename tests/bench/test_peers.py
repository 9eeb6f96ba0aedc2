"""The peers' configuration as bench/peers.py renders it, and the ceilings of bench/constant_app.py, without
installing or starting any peer (that is `make bench`'s job)."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import peers
from bench.constant_app import ANSWER, bare
from local.processes import HOST

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ("age", "sex", "bmi")
ROWS = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]


def pins(path: Path) -> dict[str, str]:
    return dict(line.split("==") for line in peers.pinned(path))


def test_each_peer_is_pinned_exactly_at_the_version_the_readme_names() -> None:
    """The README compares with MLServer 1.7.1 (+ its sklearn and MLflow runtimes), BentoML 1.4.40, LitServe 0.2.19."""
    wanted = {"mlserver": {"mlserver": "1.7.1", "mlserver-sklearn": "1.7.1", "mlserver-mlflow": "1.7.1"},
              "bentoml": {"bentoml": "1.4.40"}, "litserve": {"litserve": "0.2.19"}}  # fmt: skip
    files = {p.stem for p in peers.REQUIREMENTS.glob("*.txt")}
    assert files == set(wanted) == {p.venv for p in peers.PEERS}
    for venv, versions in wanted.items():
        assert versions.items() <= pins(peers.REQUIREMENTS / f"{venv}.txt").items()


def test_the_peers_load_the_model_with_the_libraries_it_was_trained_with() -> None:
    """A pickled scikit-learn estimator is only supported by the version that saved it (scikit-learn's "Model
    persistence" docs: "load ... using the same version"): the peers pin what training/requirements.txt pins."""
    training = pins(REPO / "training" / "requirements.txt")
    for txt in peers.REQUIREMENTS.glob("*.txt"):
        peer = pins(txt)
        for lib in ("scikit-learn", "numpy", "scipy"):
            assert peer.get(lib) == training[lib], f"{txt.name}: {lib}"


def test_a_loose_requirement_is_refused(tmp_path: Path) -> None:
    for line in ("mlserver>=1.7", "mlserver", "mlserver==1.*", "mlserver==1.7.1,<2"):
        (tmp_path / "x.txt").write_text(f"# comment\n{line}\n")
        with pytest.raises(ValueError, match="not pinned"):
            peers.pinned(tmp_path / "x.txt")


def test_a_venv_is_remade_only_when_its_requirements_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(peers.subprocess, "run", fake_run)
    python = peers.ensure_venv("litserve", say=lambda _: None, root=tmp_path)
    assert [c[1:3] for c in calls] == [["-m", "venv"], ["-m", "pip"]]
    assert calls[1][-1] == str(peers.REQUIREMENTS / "litserve.txt")
    python.parent.mkdir(parents=True, exist_ok=True)
    python.touch()
    calls.clear()
    assert peers.ensure_venv("litserve", say=lambda _: None, root=tmp_path) == python
    assert calls == [], "an up-to-date venv is not reinstalled"
    (tmp_path / "litserve" / ".installed").write_text("an older requirements file")
    peers.ensure_venv("litserve", say=lambda _: None, root=tmp_path)
    assert len(calls) == 2


def test_a_failed_install_makes_the_peer_unavailable_with_pips_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "ERROR: No matching distribution found for mlserver==1.7.1")

    monkeypatch.setattr(peers.subprocess, "run", failing)
    with pytest.raises(peers.PeerUnavailable, match="No matching distribution"):
        peers.ensure_venv("mlserver", say=lambda _: None, root=tmp_path)


def test_mlserver_binds_loopback_on_our_ports_with_the_workers_asked() -> None:
    """MLServer's Settings (mlserver/settings.py@1.7.1): `host` is used by the HTTP, gRPC and metrics servers,
    `parallel_workers` is the size of its inference pool."""
    s = peers.mlserver_settings(8001, 8002, 8003, 2)
    assert (s["host"], s["http_port"], s["grpc_port"], s["metrics_port"], s["parallel_workers"]) == (
        HOST, 8001, 8002, 8003, 2,
    )  # fmt: skip
    sk = peers.mlserver_model_settings("sklearn", Path("/m/model.joblib"))
    ml = peers.mlserver_model_settings("mlflow", Path("/m/mlflow"))
    assert sk["implementation"] == "mlserver_sklearn.SKLearnModel" and sk["parameters"]["uri"] == "/m/model.joblib"
    assert ml["implementation"] == "mlserver_mlflow.MLflowRuntime" and ml["name"] == peers.MODEL


def _call_kwargs(source: str, func: str) -> dict[str, Any]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == func:
                return {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    raise AssertionError(f"no call of {func}")


def test_bentoml_service_renders_with_the_workers_asked() -> None:
    """`@bentoml.service(workers=N)` (bentoml/_internal/service/config.py@v1.4.40: `workers` in ServiceConfig)."""
    source = peers.bentoml_service(Path("/m/model.joblib"), 2)
    assert _call_kwargs(source, "service") == {"workers": 2}
    assert "joblib.load('/m/model.joblib')" in source and "async def predict" in source


def test_litserve_server_renders_on_loopback_with_the_workers_asked() -> None:
    """LitServer(..., workers_per_device=N) and run(host=..., port=..., generate_client_file=...)
    (litserve/server.py@v0.2.19; run() defaults to host 0.0.0.0, so the host must be given)."""
    source = peers.litserve_server(Path("/m/model.joblib"), 1, 9100)
    assert _call_kwargs(source, "LitServer") == {"accelerator": "cpu", "workers_per_device": 1}
    assert _call_kwargs(source, "run") == {"host": HOST, "port": 9100, "generate_client_file": False}


def test_every_peer_gets_the_same_values_in_its_own_protocol() -> None:
    """V2 inference protocol (MLServer docs, "Open Inference Protocol"): a tensor's `data` is row-major with its
    `shape`; MLServer's pandas codec takes one input per column with `content_type: pd`."""
    sk = peers.body("mlserver-sklearn", COLUMNS, ROWS)["inputs"][0]
    assert sk["shape"] == [2, 3] and sk["datatype"] == "FP64" and sk["data"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    pd = peers.body("mlserver-mlflow", COLUMNS, ROWS)
    assert pd["parameters"] == {"content_type": "pd"}
    assert [(i["name"], i["shape"], i["data"]) for i in pd["inputs"]] == [
        ("age", [2, 1], [0.1, 0.4]), ("sex", [2, 1], [0.2, 0.5]), ("bmi", [2, 1], [0.3, 0.6]),
    ]  # fmt: skip
    assert peers.body("bentoml", COLUMNS, ROWS) == peers.body("litserve", COLUMNS, ROWS) == {"rows": ROWS}
    assert peers.body("service", COLUMNS, ROWS) == {"dataframe_split": {"columns": list(COLUMNS), "data": ROWS}}
    assert peers.path("mlserver-mlflow") == f"/v2/models/{peers.MODEL}/infer" and peers.path("bentoml") == "/predict"


def test_each_peers_answer_is_parsed_into_the_predictions() -> None:
    v2 = {"model_name": "diabetes", "outputs": [{"name": "predict", "shape": [2, 1], "datatype": "FP64",
                                                 "data": [151.5, 75.25]}]}  # fmt: skip
    assert peers.predictions("mlserver-sklearn", v2) == [151.5, 75.25]
    assert peers.predictions("bentoml", [151.5, 75.25]) == [151.5, 75.25]
    assert peers.predictions("litserve", {"predictions": [151.5]}) == [151.5]
    assert peers.predictions("mlflow", {"predictions": [151.5]}) == [151.5]


def test_the_bare_asgi_ceiling_drains_the_body_and_completes_its_lifespan() -> None:
    """ASGI spec (asgiref docs, "HTTP" and "Lifespan"): the body may come in several `http.request` messages;
    a lifespan startup/shutdown must be answered with `.complete`."""
    incoming = [{"type": "http.request", "body": b'{"a":', "more_body": True},
                {"type": "http.request", "body": b"1}", "more_body": False}]  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(bare({"type": "http"}, receive, send))
    assert incoming == [], "every body message was read"
    assert sent[0]["status"] == 200 and sent[1]["body"] == ANSWER
    assert json.loads(ANSWER) == {"predictions": [0.0]}
    incoming[:] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent.clear()
    asyncio.run(bare({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_the_peer_requirement_files_name_no_index_or_url() -> None:
    for txt in peers.REQUIREMENTS.glob("*.txt"):
        assert not re.search(r"(--index|--extra-index|https?://|git\+)", txt.read_text()), txt.name
