"""MLflow's usage telemetry is off in every image the project builds and in every pod the stacks run.

MLflow 3.x reports usage to its telemetry endpoint unless `MLFLOW_DISABLE_TELEMETRY` is true
(mlflow/environment_variables.py and mlflow/telemetry/utils.py `is_telemetry_disabled`, mlflow==3.17.2, the
version every requirements file pins); the server, the service and the training CLI all import MLflow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.harness import Recording
from tests.infra.k8s import containers, workloads

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(p for p in ROOT.glob("**/Dockerfile") if ".git" not in p.parts and ".venv" not in p.parts)
VARIABLE = "MLFLOW_DISABLE_TELEMETRY"


def final_stage_env(dockerfile: Path) -> dict[str, str]:
    """The ENV `key=value` pairs of a Dockerfile's last stage (the image that runs)."""
    instructions = re.sub(r"\\\n", " ", dockerfile.read_text())
    env: dict[str, str] = {}
    for line in instructions.splitlines():
        words = line.split()
        if not words or words[0].upper() == "FROM":
            env = {} if words else env
            continue
        if words[0].upper() == "ENV":
            env.update(dict(w.split("=", 1) for w in words[1:] if "=" in w))
    return env


def test_every_dockerfile_is_found() -> None:
    assert {p.parent.name for p in DOCKERFILES} >= {"mlflow", "service", "training"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_image_turns_telemetry_off(dockerfile: Path) -> None:
    assert final_stage_env(dockerfile).get(VARIABLE) == "true"


def test_a_variable_set_only_in_a_builder_stage_does_not_count(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM python AS builder\nENV A=1 \\\n    {VARIABLE}=true\nFROM python\nENV B=2\n")
    assert final_stage_env(dockerfile) == {"B": "2"}


@pytest.fixture(params=["dev", "staging", "prod", "preview"])
def every_stack(request: pytest.FixtureRequest, recordings: dict[str, Recording], preview: Recording) -> Recording:
    return preview if request.param == "preview" else recordings[request.param]


def test_every_container_of_every_pod_turns_telemetry_off(every_stack: Recording) -> None:
    pods = list(workloads(every_stack.kubernetes_manifests()))
    assert pods
    for workload, template in pods:
        for container in containers(template["spec"]):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert env.get(VARIABLE) == "true", f"{workload['kind']} {workload['metadata']['name']}/{container['name']}"
