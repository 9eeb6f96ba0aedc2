"""The lifecycle CLI against a real MLflow server (sqlite backend, artifacts proxied to SeaweedFS S3)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from service.core.loader import load_version
from service.core.registry import ModelRegistryClient
from service.core.trust import TrustPolicy, directory_digest
from tests.support.training import Trained, last_line, register, run_cli
from training import data
from training.registry import HISTORY_TAG, VERSION_TAG
from training.seal import CONTRACT_TAG, DIGEST_TAG, signature_output_shape

REPO = Path(__file__).resolve().parents[2]


def history(name: str, alias: str = "production") -> list[dict[str, object]]:
    tags = MlflowClient().get_registered_model(name).tags
    return list(json.loads(tags[HISTORY_TAG.format(alias=alias)]))


def version_tags(name: str, version: str, alias: str = "production") -> dict[str, str]:
    prefix = VERSION_TAG.format(alias=alias, key="")
    tags = MlflowClient().get_model_version(name, version).tags
    return {k[len(prefix) :]: v for k, v in tags.items() if k.startswith(prefix)}


def alias_version(name: str, alias: str = "production") -> str:
    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


# ------------------------------------------------------------------------------------------------- train


def test_train_logs_params_metrics_code_data_and_feature_stats(
    trained: dict[str, Trained], mlflow_tracking: str
) -> None:
    good = trained["good"]
    run = MlflowClient().get_run(good.run_id)

    assert run.data.params["estimator"] == "LinearRegression"
    assert run.data.params["data.seed"] == "42" and run.data.params["data.test_size"] == "0.2"
    assert run.data.params["estimator.fit_intercept"] == "True"
    assert set(run.data.metrics) >= {"r2", "mse", "rmse", "mae"}
    assert run.data.metrics["rmse"] == pytest.approx(np.sqrt(run.data.metrics["mse"]))
    assert 0.3 < run.data.metrics["r2"] < 0.7

    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert run.data.tags["git.commit"] == head.stdout.strip()
    assert run.data.tags["git.dirty"] in ("true", "false")

    split = data.load_split(0.2, 42)
    expected = f"sha256:{data.fingerprint(split.x_train, split.y_train)}"
    assert run.data.tags["data.fingerprint"] == expected == good.data_fingerprint

    stats = mlflow.artifacts.load_dict(f"runs:/{good.run_id}/feature_stats.json")
    assert list(stats["features"]) == list(data.FEATURES)
    bmi = stats["features"]["bmi"]
    assert bmi["count"] == len(split.x_train)
    assert bmi["mean"] == pytest.approx(split.x_train["bmi"].mean())
    assert len(bmi["bin_edges"]) == 11 and len(bmi["bin_fractions"]) == 10
    # The documented binning rule reproduces the recorded fractions from the training data.
    recomputed = np.bincount(data.bin_index(split.x_train["bmi"].to_numpy(), bmi["bin_edges"]), minlength=10)
    assert np.allclose(recomputed / len(split.x_train), bmi["bin_fractions"])


def test_registered_model_has_signature_example_pins_and_drift_reference(
    trained: dict[str, Trained], mlflow_tracking: str, tmp_path: Path
) -> None:
    good = trained["good"]
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{good.name}/{good.version}", dst_path=str(tmp_path)))
    info = mlflow.models.get_model_info(str(local))
    assert info.signature is not None
    assert [(c.name, c.type.name) for c in info.signature.inputs.inputs] == [(f, "double") for f in data.FEATURES]
    assert [c.type.name for c in info.signature.outputs.inputs] == ["double"]
    assert (local / "input_example.json").exists()
    pins = (local / "requirements.txt").read_text().split()
    assert "scikit-learn==1.9.1" in pins and all("==" in p for p in pins)
    assert json.loads((local / "extra_files" / "feature_stats.json").read_text())["schema_version"] == 1


# ------------------------------------------------------------------------------------------- promote


def test_promote_moves_the_alias_and_records_who_when_why(trained: dict[str, Trained], model_name: str) -> None:
    [v1] = register(model_name, trained["good"])
    result = run_cli(["promote", v1, "--alias", "production", "--model-name", model_name])

    assert last_line(result) == f"promoted {model_name} version {v1} to @production (previous none)"
    assert alias_version(model_name) == v1
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@production")
    assert np.isfinite(model.predict(data.load_split(0.2, 42).x_test.head(3))).all()
    tags = version_tags(model_name, v1)
    assert tags["action"] == "promote" and tags["previous_version"] == "none" and tags["by"]
    assert tags["at"].endswith("+00:00")
    [entry] = history(model_name)
    assert entry["version"] == v1 and entry["previous"] is None and entry["action"] == "promote"


def test_gate_refuses_a_worse_challenger_showing_both_metrics(trained: dict[str, Trained], model_name: str) -> None:
    good, worse = trained["good"], trained["worse"]
    v1, v2 = register(model_name, good, worse)
    run_cli(["promote", v1, "--model-name", model_name])

    result = run_cli(["promote", v2, "--model-name", model_name], expect=3)

    assert f"rmse={worse.metrics['rmse']:.4f}" in result.stderr
    assert f"rmse={good.metrics['rmse']:.4f}" in result.stderr
    assert "gate refused" in result.stderr
    assert alias_version(model_name) == v1
    assert len(history(model_name)) == 1


def test_gate_tolerance_admits_a_slightly_worse_challenger(trained: dict[str, Trained], model_name: str) -> None:
    good, worse = trained["good"], trained["worse"]
    v1, v2 = register(model_name, good, worse)
    run_cli(["promote", v1, "--model-name", model_name])
    ratio = worse.metrics["rmse"] / good.metrics["rmse"] - 1

    run_cli(["promote", v2, "--model-name", model_name, "--tolerance", f"{ratio + 0.01:.4f}"])

    assert alias_version(model_name) == v2


def test_force_needs_a_reason_and_records_it(trained: dict[str, Trained], model_name: str) -> None:
    v1, v2 = register(model_name, trained["good"], trained["worse"])
    run_cli(["promote", v1, "--model-name", model_name])

    refused = run_cli(["promote", v2, "--model-name", model_name, "--force"], expect=1)
    assert "--force needs --reason" in refused.stderr
    reason = "incident 42: baseline while features are re-validated"
    result = run_cli(["promote", v2, "--model-name", model_name, "--force", "--reason", reason])

    assert last_line(result).endswith("(previous 1, forced)")
    assert alias_version(model_name) == v2
    tags = version_tags(model_name, v2)
    assert tags["action"] == "force" and tags["reason"] == reason and tags["previous_version"] == v1
    entry = history(model_name)[-1]
    assert entry["reason"] == reason and entry["action"] == "force"
    assert entry["gate"] == {
        "metric": "rmse",
        "challenger": trained["worse"].metrics["rmse"],
        "champion": trained["good"].metrics["rmse"],
        "passed": False,
    }


def test_promoting_the_champion_again_changes_nothing(trained: dict[str, Trained], model_name: str) -> None:
    [v1] = register(model_name, trained["good"])
    run_cli(["promote", v1, "--model-name", model_name])

    result = run_cli(["promote", v1, "--model-name", model_name])

    assert last_line(result) == f"unchanged {model_name} version {v1} already at @production"
    assert len(history(model_name)) == 1


def test_also_stage_sets_the_deprecated_stage_and_says_so(trained: dict[str, Trained], model_name: str) -> None:
    v1, v2 = register(model_name, trained["good"], trained["good"])
    run_cli(["promote", v1, "--model-name", model_name, "--also-stage"])
    result = run_cli(["promote", v2, "--model-name", model_name, "--also-stage"])

    assert "deprecated" in result.stderr and f"models:/{model_name}/Production" in result.stderr
    client = MlflowClient()
    assert client.get_model_version(model_name, v2).current_stage == "Production"
    assert client.get_model_version(model_name, v1).current_stage == "Archived"

    refused = run_cli(["promote", v1, "--alias", "canary", "--model-name", model_name, "--also-stage"], expect=1)
    assert "--also-stage works for aliases production, staging only" in refused.stderr


# ------------------------------------------------------------------------------------------ rollback


def test_rollback_restores_the_previous_champion_then_has_nowhere_to_go(
    trained: dict[str, Trained], model_name: str
) -> None:
    v1, v2, v3 = register(model_name, trained["good"], trained["good"], trained["good"])
    for version in (v1, v2, v3):
        run_cli(["promote", version, "--model-name", model_name])

    first = run_cli(["rollback", "--alias", "production", "--model-name", model_name])
    assert last_line(first) == f"rolled back {model_name} @production from version {v3} to version {v2}"
    assert alias_version(model_name) == v2
    tags = version_tags(model_name, v2)
    assert tags["action"] == "rollback" and tags["previous_version"] == v3 and tags["by"]

    # A second rollback walks further back, not forward to the version just rolled back from.
    run_cli(["rollback", "--model-name", model_name, "--also-stage"])
    assert alias_version(model_name) == v1
    assert MlflowClient().get_model_version(model_name, v1).current_stage == "Production"

    stuck = run_cli(["rollback", "--model-name", model_name], expect=1)
    assert "has no previous champion" in stuck.stderr
    assert [e["action"] for e in history(model_name)] == ["promote"] * 3 + ["rollback"] * 2


def test_rollback_without_a_champion_is_a_clear_error(trained: dict[str, Trained], model_name: str) -> None:
    register(model_name, trained["good"])

    result = run_cli(["rollback", "--model-name", model_name], expect=1)

    assert f"model '{model_name}' has no champion at @production" in result.stderr


# --------------------------------------------------------------------------------------- inspection


def test_status_lists_versions_aliases_metrics_and_promotions(trained: dict[str, Trained], model_name: str) -> None:
    v1, v2 = register(model_name, trained["good"], trained["worse"])
    run_cli(["promote", v1, "--model-name", model_name])

    table = run_cli(["status", "--model-name", model_name]).stdout
    assert "@production" in table and "LinearRegression" in table and "DummyRegressor" in table
    assert f"{trained['good'].metrics['rmse']:.4f}" in table
    assert "promote by" in table

    status = json.loads(last_line(run_cli(["status", "--model-name", model_name, "--json"])))
    assert status["aliases"] == {"production": v1}
    rows = {row["version"]: row for row in status["versions"]}
    assert set(rows) == {v1, v2}
    assert rows[v1]["promotions"]["production"]["action"] == "promote"
    assert rows[v2]["promotions"] == {}

    audit = json.loads(last_line(run_cli(["history", "--model-name", model_name, "--json"])))
    assert [(e["action"], e["version"]) for e in audit] == [("promote", v1)]


def test_compare_shows_metrics_and_params_side_by_side(trained: dict[str, Trained], model_name: str) -> None:
    v1, v2 = register(model_name, trained["good"], trained["worse"])

    table = run_cli(["compare", v1, v2, "--model-name", model_name]).stdout
    assert "LinearRegression" in table and "DummyRegressor" in table and "delta" in table

    comparison = json.loads(last_line(run_cli(["compare", v1, v2, "--model-name", model_name, "--json"])))
    metrics = {m: (a, b) for m, a, b in comparison["metrics"]}
    assert metrics["rmse"] == (trained["good"].metrics["rmse"], trained["worse"].metrics["rmse"])
    params = {p: (a, b) for p, a, b in comparison["params"]}
    assert params["estimator"] == ("LinearRegression", "DummyRegressor")
    assert params["estimator.strategy"] == (None, "mean")


# ------------------------------------------------------------------------------------------- errors


def test_unknown_version_names_the_known_ones(trained: dict[str, Trained], model_name: str) -> None:
    [v1] = register(model_name, trained["good"])

    result = run_cli(["promote", "99", "--model-name", model_name], expect=1)
    assert f"model '{model_name}' has no version 99 (versions: {v1})" in result.stderr
    assert "version must be a positive integer" in run_cli(["promote", "abc", "-m", model_name], expect=1).stderr
    assert "no registered model named 'nope-" in run_cli(["status", "-m", f"nope-{model_name}"], expect=1).stderr


def test_bad_config_fails_before_contacting_the_server(tmp_path: Path, model_name: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("estimator:\n  class: RandomForestRegressor\n  params: {n_estimators: 0}\n")

    result = run_cli(["train", "--config", str(bad), "--tracking-uri", "http://127.0.0.1:1"], expect=1)

    assert f"{bad}: estimator.params: The 'n_estimators' parameter" in result.stderr


# ------------------------------------------------------------------------------------------------- seal
# What the CLI records at registration for the inference service: the version's digest and the contract. The
# service refuses a version without a digest matching its files and judges every version against the registered
# model's contract (service/core/trust.py, service/core/loader.py): the records must be what the service computes.

CONTRACT = {"inputs": [{"name": f, "type": "double"} for f in data.FEATURES], "output_shape": []}


def test_train_records_the_digest_and_the_contract_the_service_checks(
    trained: dict[str, Trained], mlflow_tracking: str, tmp_path: Path
) -> None:
    good = trained["good"]
    client = MlflowClient()
    tags = client.get_model_version(good.name, good.version).tags
    assert json.loads(tags[CONTRACT_TAG]) == CONTRACT
    assert json.loads(client.get_registered_model(good.name).tags[CONTRACT_TAG]) == CONTRACT
    registry = ModelRegistryClient(mlflow_tracking)
    version = registry.resolve_version(good.name, good.version)
    local = registry.download(version, tmp_path / "download")
    assert tags[DIGEST_TAG] == directory_digest(local)
    # The service loads it under its strictest settings: digest required, skops only, its own allow-list.
    models = tmp_path / "models"
    models.mkdir()
    loaded = load_version(registry, version, "production", models, None, TrustPolicy())
    assert loaded.flavor == "sklearn" and loaded.version == good.version


def test_seal_records_them_for_a_version_registered_another_way(
    trained: dict[str, Trained], model_name: str, tmp_path: Path
) -> None:
    [copy] = register(model_name, trained["good"], sealed=False)
    client = MlflowClient()
    assert DIGEST_TAG not in client.get_model_version(model_name, copy).tags
    result = run_cli(["seal", copy, "--model-name", model_name, "--json"])
    digest = json.loads(result.stdout.strip().splitlines()[-1])["digest"]
    tags = client.get_model_version(model_name, copy).tags
    assert tags[DIGEST_TAG] == digest and json.loads(tags[CONTRACT_TAG]) == CONTRACT
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(model_name, copy), dst_path=str(tmp_path)
    )
    assert directory_digest(Path(local)) == digest


@pytest.mark.parametrize(("outputs", "shape"), [(np.zeros(3), ()), (np.zeros((3, 2)), (2,))])
def test_the_output_shape_comes_from_the_signature(outputs: np.ndarray, shape: tuple[int, ...]) -> None:
    signature = infer_signature(np.zeros((3, 4)), outputs)
    assert signature_output_shape(signature) == shape
