"""The model corpus (tests/service/corpus.py) against a real `mlflow models serve` (MLflow 3.17.2): a text pipeline,
a tensor-signature model, a PythonModel returning a multi-column DataFrame, a model with a params schema, one with a
binary column and a string-label classifier, each registered as a team registers it. For each, every request format
MLflow accepts for it gets the same status and the same predictions from the service; then the model is served,
promoted and rolled back through its alias, a version whose output type differs is refused as a contract change, and
a label-answering challenger takes its share of the weighted A/B split without a 5xx.

Parity is the harness of test_parity.py (one `mlflow models serve` process per model, stopped by its PID). What
MLflow renders (records for a DataFrame, nested lists for arrays) is mlflow/pyfunc/scoring_server
`predictions_to_json`; what it parses is mlflow/utils/proto_json_utils.py `parse_tf_serving_input` and
`_dataframe_from_json`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from local import processes
from service.core.loader import open_model, validate
from service.core.refs import VersionRef, contract
from service.core.trust import TrustPolicy
from tests.service.corpus import save
from tests.support.serving import serving, settings_for, wait_for
from training.seal import seal

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PARITY_KINDS = ("text", "tensor", "dataframe", "params", "binary", "labels")
JS = "application/json"


def register_saved(name: str, path: Path, alias: str | None = "production") -> str:
    """Log a saved model directory as a run's artifacts, register it, seal it with the service's own contract
    (the training CLI's contract helper predates tensors and records) and point `alias` at it."""
    client = MlflowClient()
    model, probe = open_model(path, VersionRef(name, "0", None), "x", time.monotonic(), TrustPolicy(allow_pickle=True))
    model = replace(model, output_shape=validate(model, probe, None))
    terms = contract(model.schema, model.output_shape, model.output_kind, model.output_fields)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(path), "model")
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass  # registered by an earlier version
    version = str(client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id).version)
    seal(client, mlflow.get_tracking_uri(), name, version, terms)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


def cases(kind: str, example: Any) -> dict[str, tuple[str, str | bytes]]:
    """(content type, body) of every format MLflow accepts for `kind`, and a few it refuses."""
    if kind == "tensor":
        batch = example.tolist()
        return {
            "inputs": (JS, json.dumps({"inputs": batch})),
            "instances": (JS, json.dumps({"instances": batch})),
            "wrong-shape": (JS, json.dumps({"inputs": [[1.0, 2.0]]})),
            "not-a-number": (JS, json.dumps({"inputs": [[[1, 2, 3], [4, 5, "x"]]]})),
        }
    frame = example
    if kind == "binary":
        frame = frame.assign(blob=[base64.b64encode(b).decode() for b in frame.blob])
    records = frame.to_dict(orient="records")
    split = frame.to_dict(orient="split")
    split.pop("index")
    out: dict[str, tuple[str, str | bytes]] = {
        "split": (JS, json.dumps({"dataframe_split": split})),
        "records": (JS, json.dumps({"dataframe_records": records})),
        "inputs": (JS, json.dumps({"inputs": frame.to_dict(orient="list")})),
        "missing-column": (JS, json.dumps({"dataframe_records": [{"zzz": 1}]})),
    }
    if kind != "binary":
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        out |= {
            "csv": ("text/csv", frame.to_csv(index=False)),
            "parquet": ("application/vnd.apache.parquet", buffer.getvalue()),
        }
    if kind == "params":
        params = {"scale": 3, "mode": "shift", "offsets": [0.5, 1]}
        out |= {
            "split-params": (JS, json.dumps({"dataframe_split": split, "params": params})),
            "records-params": (JS, json.dumps({"dataframe_records": records, "params": params})),
            "unknown-param": (JS, json.dumps({"dataframe_records": records, "params": {"zzz": 1}})),
            "ill-typed-param": (JS, json.dumps({"dataframe_records": records, "params": {"scale": "big"}})),
        }
    return out


@pytest.fixture(scope="module", params=PARITY_KINDS)
def deployed(
    request: pytest.FixtureRequest, tracking: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any, TestClient, httpx.Client]]:
    kind = request.param
    name = f"svc_corpus_{kind}"
    root = tmp_path_factory.mktemp(f"corpus-{kind}")
    saved = save(kind, root / "model")
    version = register_saved(name, saved.path)
    env = {
        "MLFLOW_TRACKING_URI": tracking,
        "PATH": f"{processes.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # The PythonModels are pickled by reference to tests.service.corpus: MLflow's server imports it.
        "PYTHONPATH": str(REPO),
    }
    port = processes.free_port()
    argv = [str(processes.VENV_BIN / "mlflow"), "models", "serve", "-m", f"models:/{name}/{version}",
            "--env-manager", "local", "-h", processes.HOST, "-p", str(port), "-w", "1"]  # fmt: skip
    proc = processes.spawn(f"mlflow-serve-{kind}", argv, root, env=env, cwd=root)
    try:
        settings = settings_for(tracking, name, root / "svc", allow_pickle_models=True, max_batch_rows=100)
        with serving(settings) as client:
            url = f"http://{processes.HOST}:{port}"
            processes.wait_until(proc, lambda: processes.http_ok(f"{url}/ping"), 120, "mlflow models serve")
            with httpx.Client(base_url=url, timeout=60) as reference:
                yield kind, saved.example, client, reference
    finally:
        proc.stop()


def same(ours: Any, theirs: Any) -> None:
    if isinstance(theirs, list) and theirs and isinstance(theirs[0], dict):
        assert [set(r) for r in ours] == [set(r) for r in theirs]
        for a, b in zip(ours, theirs, strict=True):
            for key, value in b.items():
                if isinstance(value, float):
                    assert a[key] == pytest.approx(value, rel=1e-9)
                else:
                    assert a[key] == value
        return
    if theirs and isinstance(np.asarray(theirs).ravel()[0].item(), str):
        assert ours == theirs
        return
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_every_format_is_answered_as_mlflow_models_serve_answers_it(
    deployed: tuple[str, Any, TestClient, httpx.Client],
) -> None:
    kind, example, client, reference = deployed
    for case, (content_type, body) in cases(kind, example).items():
        headers = {"Content-Type": content_type}
        ours = client.post("/invocations", content=body, headers=headers)
        theirs = reference.post("/invocations", content=body, headers=headers)
        if theirs.status_code >= 400:
            # MLflow answers 400 without naming where; the service's 4xx names it.
            assert 400 <= ours.status_code < 500, (kind, case, ours.text, theirs.text[:300])
            continue
        assert ours.status_code == 200, (kind, case, ours.text, theirs.text[:300])
        mine, expected = json.loads(ours.text), json.loads(theirs.text)
        assert set(mine) == set(expected) == {"predictions"}, (kind, case)
        same(mine["predictions"], expected["predictions"])


def test_predict_answers_typed_values(deployed: tuple[str, Any, TestClient, httpx.Client]) -> None:
    kind, example, client, _ = deployed
    if kind == "tensor":
        body: dict[str, Any] = {"inputs": example.tolist()}
    else:
        frame = example
        if kind == "binary":
            frame = frame.assign(blob=[base64.b64encode(b).decode() for b in frame.blob])
        body = {"instances": frame.to_dict(orient="records")}
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    kinds = {"text": str, "labels": str, "dataframe": dict}
    assert all(isinstance(p, kinds.get(kind, float)) for p in predictions), predictions


# A version of another output type, per corpus kind: what a hot swap must refuse as a contract change.
OTHER_TYPE = {"text": "multi", "tensor": "labels", "dataframe": "dataframe2", "params": "labels", "binary": "labels",
              "labels": "multi"}  # fmt: skip


def _served(client: TestClient) -> dict[str, Any]:
    return client.get("/health").json()


def test_served_promoted_rolled_back_and_a_change_of_output_type_refused(
    deployed: tuple[str, Any, TestClient, httpx.Client], tmp_path: Path
) -> None:
    """Promotion and rollback are alias moves (the service follows `models:/<name>@production`); a version whose
    outputs are of another type breaks the registered model's contract (tag `serving.contract`) and is refused,
    the serving version staying, with one verdict per version (service/core/model.py)."""
    kind, _, client, _ = deployed
    name = f"svc_corpus_{kind}"
    first = _served(client)["model"]["version"]
    second = register_saved(name, save(kind, tmp_path / "again").path)
    wait_for(lambda: _served(client)["model"]["version"] == second, 60, f"{kind}: version {second} promoted")
    MlflowClient().set_registered_model_alias(name, "production", first)
    wait_for(lambda: _served(client)["model"]["version"] == first, 60, f"{kind}: rolled back to {first}")
    other = register_saved(name, save(OTHER_TYPE[kind], tmp_path / "other").path)

    def refused() -> bool:
        rejection = _served(client)["last_rejection"]
        return rejection is not None and rejection["version"] == other

    wait_for(refused, 60, f"{kind}: version {other} refused")
    health = _served(client)
    assert "contract" in health["last_rejection"]["reason"], health["last_rejection"]
    assert health["model"]["version"] == first
    MlflowClient().set_registered_model_alias(name, "production", first)


def test_a_label_challenger_takes_its_ab_share_without_a_5xx(tracking: str, tmp_path: Path) -> None:
    """service/core/variants.py: the weighted split sends unkeyed requests to either variant at random; a
    challenger answering string labels answers them (before string labels were served, its labels failed a finite
    check and every request fell back)."""
    name = "svc_corpus_ab"
    register_saved(name, save("labels", tmp_path / "champion").path)
    register_saved(name, save("labels", tmp_path / "challenger").path, alias="challenger")
    settings = settings_for(
        tracking, name, tmp_path / "svc", challenger_alias="challenger", ab_weights="champion=50,challenger=50",
        ab_unkeyed="random",
    )  # fmt: skip
    rows = save("labels", tmp_path / "rows").example.to_dict(orient="records")
    with serving(settings) as client:
        wait_for(lambda: (_served(client)["challenger"] or {}).get("serving") is True, 60, "the challenger serves")
        variants = set()
        for _ in range(40):
            answer = client.post("/predict", json={"instances": rows})
            assert answer.status_code == 200, answer.text
            assert all(isinstance(label, str) for label in answer.json()["predictions"])
            variants.add(answer.headers["X-Model-Variant"])
    assert variants == {"champion", "challenger"}
