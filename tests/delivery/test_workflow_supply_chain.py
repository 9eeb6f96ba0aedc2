"""The workflows' supply chain: every action is the commit its release resolved to, zizmor's offline audits find
nothing, and every real `pulumi preview`/`up` runs the policy pack."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.test_workflows import (
    ACTIONS,
    AWS_CREDENTIALS,
    DEV_POLICY_CONFIG,
    PULUMI,
    ROOT,
    WORKFLOWS,
    all_jobs,
    pinning_problems,
    steps,
    uses,
)

# Each action's commit, resolved from the action's own repository (`git rev-parse <tag>^{commit}` on a snapshot of
# it, 2026-12-06), with the release tag the workflows name beside it. Moving an action to a new release means
# resolving its tag again and changing both here and in the workflows.
ACTION_PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "actions/github-script": ("ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"),
    "docker/build-push-action": ("53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", "v7.3.0"),
    "docker/login-action": ("4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"),
    "docker/setup-buildx-action": ("37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"),
}
ZIZMOR = Path(sys.executable).parent / "zizmor"


def test_every_action_is_pinned_to_a_version() -> None:
    refs = [str(s["uses"]) for _, _, job in all_jobs() for s in steps(job) if "uses" in s]
    refs += [str(job["uses"]) for _, _, job in all_jobs() if "uses" in job]
    assert refs
    assert [problem for ref in refs for problem in pinning_problems(ref)] == []


@pytest.mark.parametrize(
    "ref",
    [
        "actions/checkout@main",
        "actions/checkout",
        "pulumi/actions@master",
        "foo/bar@v",
        "docker://alpine:latest",
        "actions/checkout@v7",
        "actions/checkout@v7.0.1",
        "actions/checkout@3d3c42e",
    ],
)
def test_the_pin_check_flags_branches_and_missing_versions(ref: str) -> None:
    assert pinning_problems(ref) == [ref]


def test_one_version_of_each_action_across_workflows() -> None:
    versions: dict[str, set[str]] = {}
    for _, _, job in all_jobs():
        for step in steps(job):
            if "uses" in step and not str(step["uses"]).startswith("./"):
                action, version = str(step["uses"]).split("@")
                versions.setdefault(action, set()).add(version)
    assert {a: v for a, v in versions.items() if len(v) > 1} == {}
    assert versions[PULUMI] == {ACTION_PINS[PULUMI][0]}
    assert versions[AWS_CREDENTIALS] == {ACTION_PINS[AWS_CREDENTIALS][0]}


USES_LINE = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@(\S+)(.*)$")


def test_every_action_is_the_resolved_commit_of_the_release_named_beside_it() -> None:
    """Each `uses:` names the commit its release tag resolved to, and that tag in a comment (`@<sha> # v7.0.1`), so
    a reader sees the release and an update is a reviewed change of both."""
    seen = set()
    for path in sorted(WORKFLOWS.glob("*.yml")) + sorted(ACTIONS.glob("*/action.yml")):
        for line in path.read_text().splitlines():
            if (m := USES_LINE.match(line)) is None:
                continue
            action, ref, rest = m.groups()
            assert action in ACTION_PINS, f"{path.name}: {action} has no resolved pin in ACTION_PINS"
            sha, tag = ACTION_PINS[action]
            assert (ref, rest.strip()) == (sha, f"# {tag}"), f"{path.name}: {line.strip()}"
            seen.add(action)
    assert seen == set(ACTION_PINS), "ACTION_PINS lists actions no workflow uses"


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    """zizmor's offline audits of the workflows and the composite actions (unpinned actions, template injection,
    credential persistence, excessive permissions, ...): no finding of medium severity or above (the one low "help"
    left suggests a syntax for calling this repository's own workflows that `uses: ./...` already is)."""
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--format", "plain", "--min-severity", "medium", str(WORKFLOWS), str(ACTIONS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings = [line for line in result.stdout.splitlines() if re.match(r"^(error|warning)\[", line)]
    assert findings == [], result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_flags_a_tag_pinned_action(tmp_path: Path) -> None:
    """The audit really runs offline: a workflow with an action pinned by tag is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v7\n        with:\n          persist-credentials: false\n"
    )
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--format", "plain", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "unpinned-uses" in result.stdout, result.stdout + result.stderr


def pulumi_runs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every Pulumi action step that previews or updates a stack, with its workflow and job."""
    for name, job_id, job in all_jobs():
        for step in steps(job):
            if uses(step, PULUMI) and step.get("with", {}).get("command") in ("up", "preview"):
                yield name, job_id, step


def test_every_preview_and_up_runs_the_policy_pack() -> None:
    """A mandatory violation stops a real `pulumi up`/`preview`, not only the offline test (pulumi/actions v7
    action.yml, input `policyPacks`, passed as `--policy-pack`); dev and the pull-request stacks built on it run
    with dev's config (its availability rules advisory), staging and prod with none."""
    runs = list(pulumi_runs())
    # preview.yml's matrix and PR stack, deploy-stack.yml's `up` (called once per stack)
    assert len(runs) >= 3
    for name, job_id, step in runs:
        given = step["with"]
        assert given.get("policyPacks") == "policy", f"{name}/{job_id} runs pulumi without the policy pack"
        stack = str(given["stack-name"])
        configs = str(given.get("policyPackConfigs", ""))
        if stack == "${{ inputs.stack }}":
            # deploy-stack.yml: each caller names its stack, and only dev passes a policy config.
            assert configs == "${{ inputs.policy-pack-config }}", f"{name}/{job_id}"
            callers = [j for _, _, j in all_jobs() if j.get("uses") == f"./.github/workflows/{name}.yml"]
            assert callers, f"nothing calls {name}"
            for caller in callers:
                given_config = caller["with"].get("policy-pack-config", "")
                expected = DEV_POLICY_CONFIG if caller["with"]["stack"] == "dev" else ""
                assert given_config == expected, f"{caller['with']['stack']} runs with policy config {given_config!r}"
            continue
        if stack in ("staging", "prod"):
            assert configs == "", f"{name}/{job_id}: {stack} relaxes no rule"
        elif "matrix.stack" in stack:
            assert configs == "", f"{name}/{job_id}: the matrix previews staging and prod, which relax no rule"
        else:
            assert configs == DEV_POLICY_CONFIG, f"{name}/{job_id}: {stack} is a dev stack"
    assert (ROOT / DEV_POLICY_CONFIG).is_file()
