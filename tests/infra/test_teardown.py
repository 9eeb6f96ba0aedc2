"""Teardown that completes: previews on the cluster go first, deletion protection is lifted by config, data is
deleted only where config allows it (dev), and each database's final snapshot has a name of its own.

scripts/teardown.py is run against a fake `pulumi` on PATH that records its argv and answers from a small
picture of the backend (stacks, their config, their state): no real CLI or cloud here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.harness import ROOT, Recording, run_stack

DB = "aws:rds/instance:Instance"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SCRIPT = ROOT / "scripts" / "teardown.py"
DEV_URNS = {
    "db": "urn:pulumi:dev::platform::platform:index:Database$aws:rds/instance:Instance::mlp-dev-db",
    "ingress": "urn:pulumi:dev::platform::platform:index:Inference$kubernetes:networking.k8s.io/v1:Ingress::inf",
    "bucket": "urn:pulumi:dev::platform::platform:index:ArtifactStore$aws:s3/bucket:Bucket::mlp-dev-artifacts",
}
BACKEND = {
    "stacks": ["acme/platform/dev", "acme/platform/prod", "acme/platform/pr-7", "acme/platform/pr-12"],
    # pr-12 belongs to another base stack: it stays.
    "config": {"pr-7": {"preview.baseStack": "dev"}, "pr-12": {"preview.baseStack": "acme/platform/staging"}},
    "resources": [{"urn": urn, "type": urn.split("$")[1].split("::")[0]} for urn in DEV_URNS.values()],
    "fail": "",
}
FAKE_PULUMI = """\
#!{python}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
backend = json.load(open(os.path.join(here, "backend.json")))
args = sys.argv[1:]
if backend["fail"] and args[0] == backend["fail"]:
    sys.stderr.write("error: BucketNotEmpty: The bucket you tried to delete is not empty\\n")
    sys.exit(255)
if args[:3] == ["stack", "ls", "--json"]:
    print(json.dumps([{{"name": n}} for n in backend["stacks"]]))
elif args[:2] == ["config", "get"]:
    value = backend["config"].get(args[args.index("--stack") + 1], {{}}).get(args[2])
    if value is None:
        sys.stderr.write("error: configuration key not found\\n")
        sys.exit(255)
    print(value)
elif args[:2] == ["stack", "export"]:
    print(json.dumps({{"version": 3, "deployment": {{"resources": backend["resources"]}}}}))
"""


def fake_pulumi(tmp_path: Path, **changes: Any) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "backend.json").write_text(json.dumps({**BACKEND, **changes}))
    exe = bin_dir / "pulumi"
    exe.write_text(FAKE_PULUMI.format(python=sys.executable))
    exe.chmod(0o755)
    return bin_dir


def teardown(bin_dir: Path, *args: str, answer: str = "") -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], input=answer, capture_output=True, text=True, env=env, timeout=60
    )
    log = bin_dir / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def mutations(calls: list[list[str]]) -> list[list[str]]:
    """The calls that change something (not ls, get or export)."""
    return [c for c in calls if c[:2] not in (["stack", "ls"], ["config", "get"], ["stack", "export"])]


def test_previews_go_first_then_protection_is_lifted_then_the_stack_is_destroyed(tmp_path: Path) -> None:
    """AWS Load Balancer Controller: an ALB is deleted by the controller when its Ingress is deleted, and a VPC
    with a load balancer's ENIs or security groups left in it cannot be deleted (EC2 DeleteVpc DependencyViolation):
    the previews' Ingresses go while dev's cluster still runs their controller. RDS API_DeleteDBInstance and ELBv2
    DeleteLoadBalancer refuse a resource with deletion protection on."""
    done, calls = teardown(fake_pulumi(tmp_path), "dev", answer="dev\n")
    assert done.returncode == 0, done.stderr
    assert mutations(calls) == [
        ["destroy", "--stack", "pr-7", "--yes", "--skip-preview"],
        ["stack", "rm", "pr-7", "--yes"],
        ["config", "set", "teardown.releaseProtection", "true", "--stack", "dev"],
        ["config", "set", "database.applyImmediately", "true", "--stack", "dev"],
        [
            "up",
            "--stack",
            "dev",
            "--yes",
            "--skip-preview",
            "--target",
            DEV_URNS["db"],
            "--target",
            DEV_URNS["ingress"],
        ],
        ["destroy", "--stack", "dev", "--yes", "--skip-preview"],
    ]


def test_nothing_changes_unless_the_operator_types_the_stack_name(tmp_path: Path) -> None:
    done, calls = teardown(fake_pulumi(tmp_path), "dev", answer="yes\n")
    assert done.returncode == 1 and "not confirmed" in done.stderr
    assert mutations(calls) == []
    assert "preview stack 'pr-7'" in done.stdout and "preview stack 'pr-12'" not in done.stdout


def test_a_destroy_stopped_by_kept_data_says_what_to_do(tmp_path: Path) -> None:
    done, calls = teardown(fake_pulumi(tmp_path, fail="destroy", stacks=["acme/platform/prod"]), "prod", "--yes")
    assert done.returncode == 1
    assert "BucketNotEmpty" in done.stderr and "teardown.allowDataLoss" in done.stderr
    assert mutations(calls)[-1] == ["destroy", "--stack", "prod", "--yes", "--skip-preview"]


@pytest.fixture(scope="module")
def released(recordings: dict[str, Recording]) -> Recording:
    return run_stack("prod", {"platform:teardown.releaseProtection": True})


def test_release_protection_lifts_the_alb_and_rds_flags_but_keeps_the_final_snapshot(
    recordings: dict[str, Recording], released: Recording
) -> None:
    """ELBv2 load balancer attribute deletion_protection.enabled (set by the LB controller from the Ingress's
    alb.ingress.kubernetes.io/load-balancer-attributes); RDS DeletionProtection. CKV_AWS_293: a protected
    database still leaves a final snapshot when it is deleted."""

    def alb_protection(rec: Recording) -> set[str]:
        return {
            attribute
            for ingress in rec.find(INGRESS)
            for attribute in ingress.inputs["metadata"]["annotations"][
                "alb.ingress.kubernetes.io/load-balancer-attributes"
            ].split(",")
            if attribute.startswith("deletion_protection")
        }

    assert alb_protection(recordings["prod"]) == {"deletion_protection.enabled=true"}
    assert alb_protection(released) == {"deletion_protection.enabled=false"}
    before, after = recordings["prod"].one(DB).inputs, released.one(DB).inputs
    assert (before["deletionProtection"], after["deletionProtection"]) == (True, False)
    assert after["skipFinalSnapshot"] is False and after["finalSnapshotIdentifier"]


def test_the_final_snapshot_name_is_baked_per_database_from_a_random_suffix(recording: Recording) -> None:
    """RDS API_DeleteDBInstance FinalDBSnapshotIdentifier must not name an existing snapshot; Pulumi sends the
    value recorded in the instance's state at deletion. A RandomId created with the database (and destroyed with
    it) gives each database, so each destroy/re-create cycle, a name of its own."""
    db = recording.one(DB)
    suffix = recording.one("random:index/randomId:RandomId")
    assert suffix.parent == recording.one("platform:index:Database").urn
    if recording.stack == "dev":
        assert db.inputs["skipFinalSnapshot"] is True
        return
    assert db.inputs["finalSnapshotIdentifier"] == f"mlp-{recording.stack}-mlflow-final-{suffix.outputs['hex']}"
    assert suffix.urn in db.property_dependencies["finalSnapshotIdentifier"]


def test_buckets_and_repositories_are_emptied_by_a_destroy_only_where_config_allows(recording: Recording) -> None:
    """pulumi-aws s3.Bucket `force_destroy` ("all objects ... should be deleted from the bucket when the bucket is
    destroyed") and ecr.Repository `force_delete` ("delete the repository even if it contains images"):
    teardown.allowDataLoss, true in Pulumi.dev.yaml only."""
    allowed = recording.stack == "dev"
    assert recording.config.get("platform:teardown.allowDataLoss") == ("true" if allowed else "false")
    for bucket in recording.find("aws:s3/bucket:Bucket"):
        assert bucket.inputs["forceDestroy"] is allowed
    for repository in recording.find("aws:ecr/repository:Repository"):
        assert repository.inputs["forceDelete"] is allowed


def test_the_runbook_documents_the_teardown_order_and_keys() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    section = runbook[runbook.index("## Teardown") :]
    for needle in ("pr-", "teardown.releaseProtection", "teardown.allowDataLoss", "scripts/teardown.py"):
        assert needle in section, needle
    assert "scripts/teardown.py $(STACK)" in (ROOT / "Makefile").read_text()
