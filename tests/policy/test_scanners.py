"""Third-party scanners as gates: checkov over every stack's rendered Kubernetes manifests, hadolint over every
Dockerfile. Both run offline; checkov from its own pinned venv (`make scan-venv`), hadolint from .venv."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.harness import ROOT, Recording
from tests.support.stacks import STACKS

CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
# Directories that hold no Dockerfile of ours (virtualenvs, build output, tool caches).
SKIP_DIRS = {"build", "node_modules", "__pycache__"}


def render(recording: Recording, directory: Path) -> int:
    """Write each Kubernetes object the stack creates to its own YAML file; returns how many."""
    directory.mkdir(parents=True, exist_ok=True)
    manifests = recording.kubernetes_manifests()
    for i, manifest in enumerate(manifests):
        meta = manifest.get("metadata") or {}
        stem = "-".join(str(p) for p in (i, manifest["kind"], meta.get("namespace", "cluster"), meta["name"]))
        (directory / f"{stem}.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return len(manifests)


def checkov(directory: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make scan-venv` (checkov has its own pinned venv)")
    # Not --quiet: it drops the passed checks, which show each stack was really evaluated.
    command = [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "--skip-download", "--compact"]
    command += ["-o", "json"]
    if CHECKOV_CONFIG.exists():
        command += ["--config-file", str(CHECKOV_CONFIG)]
    # No telemetry, no platform calls: the scan is offline by construction.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode in (0, 1), f"checkov failed to run ({done.returncode}): {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    # One framework gives one report; checkov wraps several in a list.
    first: dict[str, Any] = report[0] if isinstance(report, list) else report
    return first


@pytest.fixture(scope="module")
def checkov_reports(recordings: dict[str, Recording], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over every stack's manifests (a directory per stack); per stack, its count and report."""
    root = tmp_path_factory.mktemp("manifests")
    counts = {stack: render(rec, root / stack) for stack, rec in recordings.items()}
    reports: dict[str, Any] = {stack: {"manifests": n, "failed": [], "passed": 0} for stack, n in counts.items()}
    if not any(counts.values()):
        return reports
    report = checkov(root)
    assert report.get("summary", report).get("parsing_errors", 0) == 0, report
    results = report.get("results", {})
    for check in results.get("failed_checks", []):
        reports[check["file_path"].strip("/").split("/")[0]]["failed"].append(check)
    for check in results.get("passed_checks", []):
        reports[check["file_path"].strip("/").split("/")[0]]["passed"] += 1
    return reports


@pytest.mark.parametrize("stack", STACKS)
def test_manifests_pass_checkov(stack: str, checkov_reports: dict[str, Any]) -> None:
    report = checkov_reports[stack]
    if report["manifests"] == 0:
        pytest.skip(f"{stack} creates no Kubernetes objects yet (the workload layer adds them)")
    failed = [f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})" for c in report["failed"]]
    assert not failed, f"checkov fails {stack}; fix the manifest or skip in .checkov.yaml with a reason:\n" + "\n".join(
        failed
    )
    assert report["passed"] > 0, "checkov evaluated nothing: were the manifests rendered?"


def dockerfiles() -> list[Path]:
    found = []
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in SKIP_DIRS]
        for name in files:
            if name.endswith(".dockerignore"):
                continue  # a per-Dockerfile ignore list, not a Dockerfile
            if name == "Dockerfile" or name.endswith(".Dockerfile") or name.startswith("Dockerfile."):
                found.append(Path(directory, name))
    return sorted(found)


DOCKERFILES = dockerfiles()


@pytest.mark.parametrize(
    "dockerfile",
    [pytest.param(d, id=str(d.relative_to(ROOT))) for d in DOCKERFILES]
    or [pytest.param(None, marks=pytest.mark.skip(reason="the repository has no Dockerfile yet"), id="none")],
)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    # From the repository root, so a .hadolint.yaml there (ignores with reasons) applies.
    done = subprocess.run(
        [str(HADOLINT), "--no-color", str(dockerfile.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"hadolint {dockerfile.relative_to(ROOT)}:\n{done.stdout}{done.stderr}"


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    """The gate can fail: an unpinned, root, latest-tagged image is rejected."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    done = subprocess.run([str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "DL3007" in done.stdout  # latest tag
    assert "DL3013" in done.stdout  # unpinned pip install


def test_checkov_rejects_a_bad_manifest(tmp_path: Path) -> None:
    """The gate can fail: a privileged root pod in the default namespace is reported."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad"},
        "spec": {"containers": [{"name": "c", "image": "nginx:latest", "securityContext": {"privileged": True}}]},
    }
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    failed = {c["check_id"] for c in checkov(tmp_path).get("results", {}).get("failed_checks", [])}
    assert {"CKV_K8S_16", "CKV_K8S_21", "CKV_K8S_14"} <= failed
