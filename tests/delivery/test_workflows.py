"""The GitHub Actions workflows, checked offline: schema-valid, least privilege, pinned, keyless, ordered.

check-jsonschema validates against the GitHub workflow schema it ships (no network); the tests below assert what a
schema cannot: who may write what, where AWS is assumed, and the order environments are deployed in.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import IMAGE_KEYS
from tests.infra.harness import ACCOUNT_ID, DOCKER_IMAGE, REGION, Recording, run_stack

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
# Composite actions of this repository (`uses: ./.github/actions/<name>`).
ACTIONS = ROOT / ".github" / "actions"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
NAMES = ("ci", "images", "preview", "preview-cleanup", "deploy", "deploy-stack")

AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
PULUMI = "pulumi/actions"
# Steps that write to the pull request: the Pulumi action when it comments, and the comment script.
COMMENTERS = ("actions/github-script",)
# A full commit SHA: a tag can be moved (or deleted and re-pushed) by whoever controls the action's repository, a
# commit cannot (GitHub's "Security hardening for GitHub Actions": pin to a full-length commit SHA).
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$")
# The policy pack's config for a stack of environment dev (dev itself and every pr-<N> preview on it).
DEV_POLICY_CONFIG = "policy/config/dev.json"
ALLOWED_PERMISSIONS = {"contents": {"read"}, "id-token": {"write"}, "pull-requests": {"write"}}


def load(name: str) -> dict[str, Any]:
    """A workflow as GitHub reads it; YAML 1.1 reads the key `on` as True, so it is put back."""
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def composite_steps(ref: str) -> list[dict[str, Any]]:
    """The steps of one of this repository's composite actions, as a job runs them."""
    action: dict[str, Any] = yaml.safe_load((ROOT / ref / "action.yml").read_text())
    assert action["runs"]["using"] == "composite", ref
    return list(action["runs"]["steps"])


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's steps, each of this repository's composite actions replaced by the steps it runs."""
    found: list[dict[str, Any]] = []
    for step in job.get("steps", []):
        ref = str(step.get("uses", ""))
        found += composite_steps(ref) if ref.startswith("./.github/actions/") else [step]
    return found


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def assumes_aws(job: dict[str, Any]) -> bool:
    """A job assumes an AWS role itself, or calls a workflow of this repository that does."""
    if "uses" in job:
        called = str(job["uses"])
        return called.startswith("./") and any(assumes_aws(j) for j in load(Path(called).stem)["jobs"].values())
    return any(uses(s, AWS_CREDENTIALS) for s in steps(job))


def comments_on_pr(job: dict[str, Any]) -> bool:
    return any(
        (uses(s, PULUMI) and str(s.get("with", {}).get("comment-on-pr")).lower() == "true")
        or any(uses(s, c) for c in COMMENTERS)
        for s in steps(job)
    )


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name in NAMES:
        for job_id, job in load(name)["jobs"].items():
            yield name, job_id, job


def pinning_problems(ref: str) -> list[str]:
    """What is wrong with one `uses:` reference (empty when it is pinned or local)."""
    if ref.startswith("./"):
        return []  # versioned with this repository
    if ref.startswith("docker://"):
        return [] if re.search(r"(:[\w.-]+|@sha256:[0-9a-f]{64})$", ref) and not ref.endswith(":latest") else [ref]
    return [] if PINNED.match(ref) else [ref]


# --- schema ---------------------------------------------------------------------------------------------------------


def test_the_workflow_set_is_exactly_the_delivery_pipeline() -> None:
    assert sorted(p.stem for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


def test_every_workflow_validates_against_the_github_schema() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_composite_action_validates_against_the_github_schema() -> None:
    files = sorted(str(p) for p in ACTIONS.glob("*/action.yml"))
    assert files
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-actions", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The validator really validates (and does so offline): a misspelt key fails."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz:\n      - run: echo hi\n")
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "'stepz' was unexpected" in result.stdout


# --- least privilege ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_workflow_default_permissions_are_read_only(name: str) -> None:
    assert load(name)["permissions"] == {"contents": "read"}


def test_every_job_states_its_permissions_from_the_allowed_set() -> None:
    for name, job_id, job in all_jobs():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}.{job_id} must state its permissions"
        for scope, level in permissions.items():
            assert level in ALLOWED_PERMISSIONS.get(scope, set()), f"{name}.{job_id}: {scope}: {level}"


def test_id_token_write_exactly_where_an_aws_role_is_assumed() -> None:
    for name, job_id, job in all_jobs():
        has_token = job["permissions"].get("id-token") == "write"
        assert has_token == assumes_aws(job), f"{name}.{job_id}: id-token write={has_token}"


def test_pull_request_write_only_where_the_job_comments() -> None:
    for name, job_id, job in all_jobs():
        writes = job["permissions"].get("pull-requests") == "write"
        assert writes == comments_on_pr(job), f"{name}.{job_id}: pull-requests write={writes}"


def test_no_workflow_runs_on_pull_request_target() -> None:
    """pull_request_target runs with write tokens and secrets on a fork's code: never used here."""
    for name in NAMES:
        assert "pull_request_target" not in load(name)["on"], name


def test_expressions_never_reach_a_shell_or_script_directly() -> None:
    """Values reach `run:` and github-script through env, so no PR field or output can inject code."""
    for name, job_id, job in all_jobs():
        for step in steps(job):
            for body in (step.get("run"), step.get("with", {}).get("script")):
                assert body is None or "${{" not in str(body), f"{name}.{job_id}: {step.get('name', step)}"


def test_every_job_has_a_timeout() -> None:
    for name, job_id, job in all_jobs():
        if "uses" not in job:
            assert isinstance(job.get("timeout-minutes"), int), f"{name}.{job_id}"


# --- pinned actions, no long-lived keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_no_long_lived_aws_keys(name: str) -> None:
    text = (WORKFLOWS / f"{name}.yml").read_text()
    for forbidden in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "aws-secret-access-key"):
        assert forbidden not in text
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), "an access key id is written in the workflow"


def test_aws_roles_come_from_variables_through_oidc() -> None:
    for name, job_id, job in all_jobs():
        for step in steps(job):
            if uses(step, AWS_CREDENTIALS):
                inputs = step["with"]
                assert set(inputs) <= {"role-to-assume", "role-session-name", "aws-region"}, f"{name}.{job_id}"
                assert re.fullmatch(r"\$\{\{ vars(\.AWS_[A-Z_]+|\[matrix\.[a-z-]+\]) \}\}", inputs["role-to-assume"])


def test_pulumi_token_is_the_only_secret_and_only_where_pulumi_runs() -> None:
    for name, job_id, job in all_jobs():
        for step in steps(job):
            secrets = set(re.findall(r"secrets\.([A-Za-z_]+)", str(step)))
            assert secrets <= {"PULUMI_ACCESS_TOKEN"}, f"{name}.{job_id}: {secrets}"
            if secrets:
                assert step.get("env", {}).get("PULUMI_ACCESS_TOKEN") == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


# --- what each workflow does ----------------------------------------------------------------------------------------


def test_ci_runs_make_test_and_the_reliability_suite_on_every_push_and_pull_request() -> None:
    ci = load("ci")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["on"]["push"] is None and ci["on"]["pull_request"] is None  # no branch filters
    assert set(ci["jobs"]) == {"test", "reliability"}
    for name, target in (("test", "make test"), ("reliability", "make test-reliability")):
        job = ci["jobs"][name]
        assert job["runs-on"] == "ubuntu-latest"
        python = next(s for s in steps(job) if uses(s, "actions/setup-python"))
        assert python["with"]["python-version"] == "3.11" and python["with"]["cache"] == "pip"
        assert [s["run"] for s in steps(job) if "run" in s][-1] == target


def test_images_are_built_for_all_three_dockerfiles_and_tagged_with_the_commit() -> None:
    images = load("images")
    assert {"workflow_call", "workflow_dispatch"} <= set(images["on"])
    build = images["jobs"]["build"]
    matrix = {m["image"]: (m["dockerfile"], m["context"]) for m in build["strategy"]["matrix"]["include"]}
    assert matrix == {
        "inference": ("service/Dockerfile", "."),
        "mlflow": ("images/mlflow/Dockerfile", "images/mlflow"),
        "training": ("training/Dockerfile", "."),
    }
    push = next(s for s in steps(build) if uses(s, "docker/build-push-action"))
    assert push["with"]["tags"] == "${{ env.ECR_REGISTRY }}/${{ env.REPOSITORY }}:${{ steps.commit.outputs.sha }}"
    # A plain manifest: no attestation index with untagged children for the lifecycle rule to expire.
    assert push["with"]["provenance"] is False
    for image in matrix:
        output = images["on"]["workflow_call"]["outputs"][f"{image}-image"]["value"]
        assert output == f"${{{{ jobs.build.outputs.{image}-image }}}}"
        assert build["outputs"][f"{image}-image"] == f"${{{{ steps.reference.outputs.{image}-image }}}}"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_prebuilt_images_go_to_the_stacks_own_repositories_as_digests(stack: str) -> None:
    """images.yml pushes to the repositories the stack itself creates, in the stack's environment (its account),
    and hands back `<repository URL>@sha256:...`, the form platform:*.image accepts (infra/config/images.py)."""
    rec = run_stack(stack)
    prefix = rec.config["platform:namePrefix"]
    images = load("images")
    build = images["jobs"]["build"]
    assert build["environment"] == "${{ inputs.stack }}"
    registry = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
    digest = "sha256:" + "0" * 64

    def render(expression: str, image: str) -> str:
        if "${REPOSITORY}" in expression:
            expression = expression.replace("${REPOSITORY}", render(build["env"]["REPOSITORY"], image))
        return (
            expression.replace("${{ vars.NAME_PREFIX || 'mlp' }}", prefix)
            .replace("${{ inputs.stack }}", stack)
            .replace("${{ matrix.image }}", image)
            .replace("${ECR_REGISTRY}", registry)
            .replace("${IMAGE}", image)
            .replace("${DIGEST}", digest)
        )

    created = {r.inputs["name"] for r in rec.find("aws:ecr/repository:Repository")}
    pushed = {render(build["env"]["REPOSITORY"], m["image"]) for m in build["strategy"]["matrix"]["include"]}
    assert pushed == created == {f"{prefix}-{stack}/{image}" for image in ("inference", "mlflow", "training")}
    (reference,) = [s for s in steps(build) if s.get("id") == "reference"]
    (line,) = [line.strip() for line in reference["run"].splitlines() if line.strip().startswith("reference=")]
    references = {}
    for image, url in rec.exports["ecrRepositoryUrls"].items():
        assert render(line, image) == f'reference="{url}@{digest}"'
        references[f"platform:{IMAGE_KEYS[image]}"] = f"{url}@{digest}"
    # ...which the stack runs as given when it builds nothing itself.
    prebuilt = run_stack(stack, {"platform:images.build": "false", **references})
    assert not prebuilt.find(DOCKER_IMAGE)
    assert set(prebuilt.exports["images"].values()) <= set(references.values())


DEPLOY_ORDER = ("dev", "staging", "prod")


def checks_docker_before_up(job: dict[str, Any]) -> bool:
    """A step runs `docker buildx inspect --bootstrap` (daemon reachable, BuildKit builder up) before `pulumi up`."""
    ran = [str(s.get("run", "")).strip() for s in steps(job)]
    up = next(i for i, s in enumerate(steps(job)) if uses(s, PULUMI) and s.get("with", {}).get("command") == "up")
    return "docker buildx inspect --bootstrap" in ran[:up]


def stack_job() -> dict[str, Any]:
    """The one job of deploy-stack.yml, which deploy.yml calls once per stack."""
    called = load("deploy-stack")
    assert set(called["on"]) == {"workflow_call"}
    (job,) = called["jobs"].values()
    return dict(job)


def render(value: Any, stack: str, policy_config: str = "") -> str:
    """A value of deploy-stack.yml as it runs for `stack`."""
    return str(value).replace("${{ inputs.stack }}", stack).replace("${{ inputs.policy-pack-config }}", policy_config)


def test_deploy_runs_on_main_dev_then_staging_then_prod_behind_environments() -> None:
    deploy = load("deploy")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    jobs = deploy["jobs"]
    assert set(jobs["dev"]["needs"]) == {"test"}
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    for before, after in zip(DEPLOY_ORDER, DEPLOY_ORDER[1:], strict=False):
        assert before in jobs[after]["needs"], f"{after} must wait for {before}"
    job = stack_job()
    (up,) = [s for s in steps(job) if uses(s, PULUMI)]
    for stack in DEPLOY_ORDER:
        assert jobs[stack]["uses"] == "./.github/workflows/deploy-stack.yml"
        assert jobs[stack]["with"]["stack"] == stack
        assert render(job["environment"]["name"], stack) == stack
        assert up["with"]["command"] == "up" and render(up["with"]["stack-name"], stack) == stack


@pytest.mark.parametrize("stack", DEPLOY_ORDER)
def test_each_deploy_runs_the_images_its_own_up_builds_with_docker_on_the_runner(stack: str) -> None:
    """Every stack file builds its images in `up` (images.build), so its job passes no image and needs no
    images.yml run; the job checks the runner's Docker and BuildKit before `up` changes anything (the provider
    fails an Image with "buildkit is not supported on this host" otherwise: pulumi-docker-build v0.0.22
    provider/internal/image.go, Create)."""
    rec = run_stack(stack)
    assert rec.config["platform:images.build"] == "true"
    running = ["inference", "mlflow"] + (["training"] if rec.config["platform:trainingJob.enabled"] == "true" else [])
    pushed_to = {r.inputs["tags"][0].split("/", 1)[1].split(":")[0] for r in rec.find(DOCKER_IMAGE)}
    assert pushed_to == {f"mlp-{stack}/{image}" for image in running}
    deploy = load("deploy")
    assert "images" not in deploy["jobs"]
    assert set(deploy["jobs"][stack]["with"]) <= {"stack", "policy-pack-config"}
    job = stack_job()
    (up,) = [s for s in steps(job) if uses(s, PULUMI)]
    assert "image" not in str(up["with"].get("config-map", ""))
    assert checks_docker_before_up(job)


def test_two_deploys_of_one_stack_never_overlap() -> None:
    deploy = load("deploy")
    assert deploy["concurrency"]["cancel-in-progress"] is False
    group = stack_job()["concurrency"]
    assert [render(group["group"], deploy["jobs"][s]["with"]["stack"]) for s in DEPLOY_ORDER] == [
        f"pulumi-{stack}" for stack in DEPLOY_ORDER
    ]
    assert group["cancel-in-progress"] is False, "a cancelled up leaves pending operations"


def test_the_three_deploy_jobs_differ_only_by_their_stack() -> None:
    """One workflow for three environments: the callers differ by the stack they name, dev's policy config and
    their order, and the called workflow names no stack of its own."""
    jobs = load("deploy")["jobs"]
    needs = {stack: jobs[stack].pop("needs") for stack in DEPLOY_ORDER}
    assert {stack: jobs[stack]["with"].pop("stack") for stack in DEPLOY_ORDER} == {s: s for s in DEPLOY_ORDER}
    # dev alone relaxes the availability rules (test_every_preview_and_up_runs_the_policy_pack).
    assert jobs["dev"]["with"].pop("policy-pack-config") == DEV_POLICY_CONFIG
    assert len({yaml.safe_dump(jobs[stack]) for stack in DEPLOY_ORDER}) == 1
    assert needs["prod"] == ["staging"]
    # requirements-dev.txt is a file name, not the dev stack
    shape = yaml.safe_dump(stack_job()).replace("requirements-dev", "")
    assert not re.search(r"\b(dev|staging|prod)\b", shape), "deploy-stack.yml names a stack"


def test_preview_posts_staging_and_prod_diffs_on_the_pull_request() -> None:
    preview = load("preview")
    assert preview["on"] == {"pull_request": {"types": ["opened", "synchronize", "reopened"]}}
    job = preview["jobs"]["preview"]
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == ["staging", "prod"]
    (step,) = [s for s in steps(job) if uses(s, PULUMI)]
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["comment-on-pr"] is True


def test_preview_creates_or_updates_the_pr_stack_from_the_template_and_comments_its_url() -> None:
    job = load("preview")["jobs"]["pr-stack"]
    assert job["env"]["STACK"] == "pr-${{ github.event.pull_request.number }}"
    script = "\n".join(str(s.get("run", "")) for s in steps(job))
    assert 'pulumi stack select --create "${STACK}"' in script
    # No --image: the preview's own `up` builds the pull request's inference image (images.build).
    assert '.github/scripts/preview_stacks.py config --pr "${PR_NUMBER}"\n' in script + "\n"
    (up,) = [s for s in steps(job) if uses(s, PULUMI) and s.get("with", {}).get("command") == "up"]
    assert up["with"]["stack-name"] == "${{ env.STACK }}"
    comment = next(s for s in steps(job) if uses(s, "actions/github-script"))
    assert comment["env"]["INFERENCE_URL"] == f"${{{{ steps.{up['id']}.outputs.inferenceUrl }}}}"
    assert comment["env"]["IMAGE"] == f"${{{{ steps.{up['id']}.outputs.inferenceImage }}}}"
    assert checks_docker_before_up(job)
    assert f"steps.{up['id']}.outputs.inferenceUrl" in job["environment"]["url"]


def test_fork_pull_requests_are_not_previewed() -> None:
    """They get no OIDC token or secrets, so every job is skipped for them."""
    jobs = load("preview")["jobs"]
    assert {j["if"] for j in jobs.values()} == {"github.event.pull_request.head.repo.full_name == github.repository"}


def test_the_preview_exports_the_image_the_workflow_comments(preview: Recording) -> None:
    repository = preview.one(DOCKER_IMAGE).inputs["tags"][0].split(":")[0]
    assert preview.exports["inferenceImage"].startswith(f"{repository}@sha256:")


def test_cleanup_destroys_the_pr_stack_when_the_pr_closes() -> None:
    cleanup = load("preview-cleanup")
    assert cleanup["on"]["pull_request"] == {"types": ["closed"]}
    job = cleanup["jobs"]["destroy"]
    assert job["if"].startswith("github.event_name == 'pull_request'")
    (run,) = [s for s in steps(job) if "preview_stacks.py" in str(s.get("run", ""))]
    assert run["run"] == '.venv/bin/python .github/scripts/preview_stacks.py destroy --pr "${PR_NUMBER}"'
    assert run["env"]["PR_NUMBER"] == "${{ github.event.pull_request.number }}"
    # the same group as the preview's `up`, so a destroy never races an update of the same stack
    assert job["concurrency"] == load("preview")["jobs"]["pr-stack"]["concurrency"]


def test_cleanup_janitor_runs_on_a_schedule_with_a_ttl() -> None:
    cleanup = load("preview-cleanup")
    (schedule,) = cleanup["on"]["schedule"]
    assert len(schedule["cron"].split()) == 5
    job = cleanup["jobs"]["janitor"]
    assert "schedule" in job["if"]
    (run,) = [s for s in steps(job) if "preview_stacks.py" in str(s.get("run", ""))]
    assert 'sweep --ttl-hours "${TTL_HOURS}"' in run["run"]
    assert run["env"]["TTL_HOURS"] == "${{ inputs.ttl-hours || vars.PREVIEW_TTL_HOURS || '72' }}"


def test_pulumi_runs_only_with_the_project_venv_built() -> None:
    """Pulumi.yaml points the Python runtime at .venv; every job running the program builds it first."""
    for name, job_id, job in all_jobs():
        ran = [s.get("run") for s in steps(job)]
        if any(uses(s, PULUMI) for s in steps(job)):
            assert "make venv" in ran, f"{name}.{job_id}"
            pulumi_at = next(i for i, s in enumerate(steps(job)) if uses(s, PULUMI))
            assert ran.index("make venv") < pulumi_at, f"{name}.{job_id}"


def checkout_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every actions/checkout step, in the workflows and in this repository's composite actions."""
    for name, job_id, job in all_jobs():
        for step in steps(job):
            if uses(step, "actions/checkout"):
                yield f"{name}/{job_id}", step
    for action in sorted(ACTIONS.glob("*/action.yml")):
        for step in yaml.safe_load(action.read_text())["runs"].get("steps", []):
            if uses(step, "actions/checkout"):
                yield str(action.relative_to(ROOT)), step


def test_no_checkout_leaves_the_token_in_the_repository() -> None:
    """actions/checkout persists the job's GITHUB_TOKEN in .git/config by default (action.yml@v7.0.1 input
    `persist-credentials`, default true), where every later step, a build's own scripts included, can read it;
    zizmor's `artipacked` audit reports the same. Each checkout turns it off."""
    found = list(checkout_steps())
    assert len(found) >= 5
    assert [where for where, step in found if step.get("with", {}).get("persist-credentials") is not False] == []
