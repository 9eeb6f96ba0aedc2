"""Deploy rehearsal, images: what a new stack's first `pulumi up` needs to find in ECR, and what must stay there.

Rules encoded here, each from its source:
- The Pulumi CLI refuses a stack that leaves a project key with neither `default` nor `value` unset
  (pulumi/pulumi `sdk/go/common/workspace/config.go` mergeConfig); test_rehearsal_project_config.py checks every
  key of every stack file against it, and this module that no image key can be one.
- A pod can only pull an image that is in its registry when the kubelet starts it: every image a Pod, Job or
  CronJob runs must be pushed by the same `up` before the workload is created (an Image resource it depends on,
  itself after its ECR repository), or be a digest given in config.
- ECR lifecycle rules select images by `tagStatus` (tagged / untagged / any, with tag prefixes or patterns) and
  expire by `imageCountMoreThan` or `sinceImagePushed` (Amazon ECR User Guide, "Lifecycle policy properties"):
  no rule may be able to select an image a stack references.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import images
from infra.config import IMAGE_KEYS, ConfigError
from tests.infra.harness import DOCKER_IMAGE, ROOT, Recording, Resource, qualified, run_stack
from tests.infra.k8s import WORKLOAD_KINDS, containers, pod_template
from tests.infra.stack_files import preview_config

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
STACK_FILES = ("dev", "staging", "prod")
DIGEST = "sha256:" + "0123456789abcdef" * 4


# ------------------------------------------------------------------------------- the CLI's project-config check


def test_no_image_key_is_required_by_the_project() -> None:
    """Tags are gone: a stack builds its images (images.build) or names digests, so none is a required key."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert not [key for key in project if key.endswith(".imageTag")]
    assert project["images.build"] == {**project["images.build"], "type": "boolean", "default": True}
    for key in IMAGE_KEYS.values():
        assert project[key]["default"] == ""


# ----------------------------------------------------------------- every image produced by the stack, by digest


def workload_images(rec: Recording) -> list[tuple[Resource, str]]:
    """(workload resource, image) for every container of every Deployment, Job and CronJob."""
    found = []
    for r in rec.resources:
        if r.type.startswith("kubernetes:") and r.inputs.get("kind") in WORKLOAD_KINDS:
            for c in containers(pod_template(r.inputs)["spec"]):
                found.append((r, str(c["image"])))
    return found


@pytest.fixture(scope="module")
def stacks(recordings: dict[str, Recording], preview: Recording) -> dict[str, Recording]:
    return {**recordings, "preview": preview}


@pytest.mark.parametrize("stack", [*STACK_FILES, "preview"])
def test_every_image_a_pod_runs_is_pushed_by_the_same_up_before_the_pod_exists(
    stack: str, stacks: dict[str, Recording]
) -> None:
    rec = stacks[stack]
    built = {r.outputs["digest"]: r for r in rec.find(DOCKER_IMAGE)}
    assert built, "a stack with images.build true pushes its own images"
    pods = workload_images(rec)
    assert pods
    for workload, image in pods:
        repository, _, digest = image.partition("@")
        assert digest in built, f"{workload.name} runs {image}, which no Image resource of {stack} pushed"
        pushed = built[digest]
        # Pushed into that very repository, tagged (the lifecycle keeps tagged images), with the push on.
        (tag,) = pushed.inputs["tags"]
        assert tag.rsplit(":", 1)[0] == repository and pushed.inputs["push"] is True
        assert rec.depends_on(workload, pushed), f"{workload.name} may start before {tag} is pushed"


@pytest.mark.parametrize("stack", STACK_FILES)
def test_each_image_is_pushed_only_once_its_repository_exists(stack: str, recordings: dict[str, Recording]) -> None:
    rec = recordings[stack]
    repositories = {r.outputs["repositoryUrl"]: r for r in rec.find(REPOSITORY)}
    for image in rec.find(DOCKER_IMAGE):
        repository = image.inputs["tags"][0].rsplit(":", 1)[0]
        assert rec.depends_on(image, repositories[repository]), image.name
        # Logged in to that repository's registry with a token of the same `up`.
        (registry,) = image.inputs["registries"]
        assert registry["address"] == repository.split("/", 1)[0] and image.is_secret("registries")


def test_a_preview_pushes_into_the_base_stacks_inference_repository(
    preview: Recording, recordings: dict[str, Recording]
) -> None:
    (image,) = preview.find(DOCKER_IMAGE)
    assert image.inputs["tags"][0].rsplit(":", 1)[0] == recordings["dev"].exports["ecrRepositoryUrls"]["inference"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_run_only_images_of_their_own_repositories(
    stack: str, recordings: dict[str, Recording]
) -> None:
    rec = recordings[stack]
    own = {r.outputs["repositoryUrl"] for r in rec.find(REPOSITORY)}
    assert all(url.endswith(f"/mlp-{stack}/{url.rsplit('/', 1)[1]}") for url in own)
    for workload, image in workload_images(rec):
        assert image.partition("@")[0] in own, f"{workload.name} runs {image}"


def prebuilt(rec: Recording, stack: str) -> dict[str, str]:
    """images.build false, each image a digest in the stack's own repository, as images.yml outputs them."""
    urls = rec.exports["ecrRepositoryUrls"]
    return {"platform:images.build": "false"} | {
        f"platform:{key}": f"{urls[image]}@{DIGEST}" for image, key in IMAGE_KEYS.items()
    }


@pytest.mark.parametrize("stack", STACK_FILES)
def test_with_the_build_off_the_pods_run_exactly_the_configured_digests(
    stack: str, recordings: dict[str, Recording]
) -> None:
    overrides = prebuilt(recordings[stack], stack)
    rec = run_stack(stack, overrides)
    assert not rec.find(DOCKER_IMAGE)
    for workload, image in workload_images(rec):
        assert image in overrides.values(), f"{workload.name} runs {image}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"platform:images.build": "false", "platform:inference.image": ""},
            "platform:inference.image must be a digest reference <registry>/<repository>@sha256:<64 hex> when "
            "images.build is false",
        ),
        (
            {"platform:images.build": "false", "platform:mlflow.image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1.0"},
            "platform:mlflow.image must be a digest reference",
        ),
        (
            {"platform:images.build": "false", "platform:trainingJob.image": ""},
            "platform:trainingJob.image must be a digest reference",
        ),
        (
            {"platform:images.build": "true"},
            "platform:inference.image must be empty when images.build is true (the stack builds its own image)",
        ),
    ],
)
def test_image_config_fails_naming_the_key(
    overrides: dict[str, str], message: str, recordings: dict[str, Recording]
) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack("staging", {**prebuilt(recordings["staging"], "staging"), **overrides})
    assert message in str(err.value)


def test_a_digest_written_after_a_colon_is_refused(recordings: dict[str, Recording]) -> None:
    """`repo:sha256:<hex>` is a tag reference, not a digest (distribution reference grammar,
    distribution/reference/reference.go: `name [":" tag] ["@" digest]`, and a tag cannot hold a colon): refused."""
    url = recordings["staging"].exports["ecrRepositoryUrls"]["inference"]
    with pytest.raises(ConfigError) as err:
        run_stack(
            "staging", {**prebuilt(recordings["staging"], "staging"), "platform:inference.image": f"{url}:{DIGEST}"}
        )
    assert str(err.value).startswith("platform:inference.image must be a digest reference")


def test_a_digest_from_another_stacks_repository_is_refused(recordings: dict[str, Recording]) -> None:
    """staging running dev's image would depend on dev's repository and its retention."""
    dev = recordings["dev"].exports["ecrRepositoryUrls"]["inference"]
    with pytest.raises(ConfigError) as err:
        run_stack(
            "staging", {**prebuilt(recordings["staging"], "staging"), "platform:inference.image": f"{dev}@{DIGEST}"}
        )
    assert str(err.value).startswith(
        "platform:inference.image must be an image of the stack's own repository mlp-staging/inference"
    )


def test_a_preview_can_run_a_prebuilt_digest_as_its_workflow_would_write_it(on_dev: dict[str, Recording]) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-dev/inference@" + DIGEST
    rec = run_stack("pr-7", preview_config(7, image), references=on_dev)
    assert not rec.find(DOCKER_IMAGE)
    assert {image for _, image in workload_images(rec)} == {image}


@pytest.fixture
def on_dev(recordings: dict[str, Recording]) -> dict[str, Recording]:
    return {qualified("dev"): recordings["dev"]}


# ------------------------------------------------------------------------------------- nothing in use can expire


def expired(policy: dict[str, Any], repository: list[dict[str, Any]], now: datetime) -> set[str]:
    """The images (by digest) ECR's lifecycle evaluation expires from `repository` under `policy`.

    Rules apply in rulePriority order, each image to the first rule that selects it; `imageCountMoreThan` keeps the
    N most recently pushed of the images the rule selects, `sinceImagePushed` expires those older than N days.
    """
    remaining = sorted(repository, key=lambda i: i["pushedAt"], reverse=True)
    gone: set[str] = set()
    for rule in sorted(policy["rules"], key=lambda r: r["rulePriority"]):
        selection = rule["selection"]

        def selects(image: dict[str, Any], selection: dict[str, Any] = selection) -> bool:
            status, tags = selection["tagStatus"], image["tags"]
            if status == "untagged":
                return not tags
            if status == "tagged":
                prefixes = selection.get("tagPrefixList") or []
                patterns = [p.rstrip("*") for p in selection.get("tagPatternList") or []]
                return any(t.startswith(tuple(prefixes + patterns)) for t in tags)
            return status == "any"

        chosen = [i for i in remaining if selects(i)]
        if selection["countType"] == "imageCountMoreThan":
            hit = chosen[selection["countNumber"] :]
        else:
            hit = [i for i in chosen if now - i["pushedAt"] > timedelta(days=selection["countNumber"])]
        gone |= {i["digest"] for i in hit}
        remaining = [i for i in remaining if i not in chosen]
    return gone


def test_the_lifecycle_model_expires_what_a_count_rule_selects() -> None:
    """The evaluation above can expire: the count rule the stacks had kept 20 images and dropped the 21st."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rule = {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20}
    count = {"rules": [{"rulePriority": 1, "selection": rule, "action": {"type": "expire"}}]}
    pushed = [{"digest": f"d{n}", "tags": [f"t{n}"], "pushedAt": now - timedelta(hours=n)} for n in range(21)]
    assert expired(count, pushed, now) == {"d20"}


@pytest.mark.parametrize("stack", [*STACK_FILES, "preview"])
def test_no_lifecycle_rule_can_expire_an_image_a_stack_runs(stack: str, stacks: dict[str, Recording]) -> None:
    """The image each workload runs, pushed years ago and followed by a thousand newer pushes, stays."""
    rec = stacks[stack]
    base = stacks["dev"] if stack == "preview" else rec
    policies = {p.inputs["repository"]: json.loads(p.inputs["policy"]) for p in base.find(LIFECYCLE)}
    names = {r.outputs["repositoryUrl"]: r.outputs["name"] for r in base.find(REPOSITORY)}
    built = {r.outputs["digest"]: r for r in rec.find(DOCKER_IMAGE)}
    now = datetime(2030, 1, 1, tzinfo=UTC)
    for _, image in workload_images(rec):
        repository, _, digest = image.partition("@")
        tags = [t.rsplit(":", 1)[1] for t in built[digest].inputs["tags"]]
        running = {"digest": digest, "tags": tags, "pushedAt": now - timedelta(days=3 * 365)}
        newer = [
            {"digest": f"sha256:{n:064x}", "tags": [f"src-{n}"] if n % 2 else [], "pushedAt": now - timedelta(days=n)}
            for n in range(1, 1000)
        ]
        assert digest not in expired(policies[names[repository]], [running, *newer], now), image


def test_what_ci_pushes_is_tagged_too() -> None:
    """With images.build false the digests come from images.yml, which pushes each under the commit's SHA."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "images.yml").read_text())
    (push,) = [s for s in workflow["jobs"]["build"]["steps"] if str(s.get("uses", "")).startswith("docker/build-push")]
    assert push["with"]["tags"].endswith(":${{ steps.commit.outputs.sha }}") and push["with"]["push"] is True


# ------------------------------------------------------------------------ a tag is never pushed twice (IMMUTABLE)


def test_each_dockerfile_ignore_file_admits_exactly_the_sources_its_tag_hashes() -> None:
    """The provider rebuilds when its hash of the context changes (pulumi-docker-build v0.0.22
    provider/internal/image.go, Diff: contextHash, honouring `<Dockerfile>.dockerignore`); the tag must change
    then too, or the push hits an existing IMMUTABLE tag. So the context is an allowlist of `sources`."""
    for name, source in images.IMAGE_SOURCES.items():
        dockerfile = ROOT / source.dockerfile
        ignore = [
            line.strip()
            for line in Path(f"{dockerfile}.dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        context = (ROOT / source.context).resolve()
        admitted = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
        if context == ROOT:
            assert ignore[0] == "*", name
            assert sorted(admitted) == sorted(source.sources), name
        else:
            assert admitted == [] and source.sources == (source.context,), name
        # Bytecode caches are the only thing left out, in both.
        assert {line for line in ignore if line != "*" and not line.startswith("!")} <= {
            f"{prefix}**/__pycache__" for prefix in ("", *(f"{s}/" for s in source.sources))
        } | {f"{prefix}**/*.pyc" for prefix in ("", *(f"{s}/" for s in source.sources))}, name
        assert dockerfile.is_relative_to(ROOT / source.sources[0]), f"{name}: the Dockerfile is part of its hash"


def test_a_tag_changes_with_every_file_mode_and_platform_of_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = images.IMAGE_SOURCES["mlflow"]
    shutil.copytree(ROOT / source.context, tmp_path / source.context, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(images, "ROOT", tmp_path)
    images.source_hash.cache_clear()
    try:

        def tag(platform: str = "linux/amd64") -> str:
            images.source_hash.cache_clear()
            return images.image_tag(source, platform, "src")

        first = tag()
        assert first == tag() and first.startswith("src-")
        assert tag("linux/arm64") != first
        entrypoint = tmp_path / source.context / "entrypoint.sh"
        entrypoint.chmod(0o700)
        moded = tag()
        assert moded != first
        entrypoint.write_text(entrypoint.read_text() + "\n")
        edited = tag()
        assert edited not in (first, moded)
        # What the ignore file leaves out of the context is left out of the tag.
        (tmp_path / source.context / "__pycache__").mkdir()
        (tmp_path / source.context / "__pycache__" / "x.pyc").write_bytes(b"\0")
        assert tag() == edited
    finally:
        images.source_hash.cache_clear()


def test_stack_and_preview_builds_never_share_a_tag(stacks: dict[str, Recording]) -> None:
    dev = {t for r in stacks["dev"].find(DOCKER_IMAGE) for t in r.inputs["tags"]}
    (preview,) = [t for r in stacks["preview"].find(DOCKER_IMAGE) for t in r.inputs["tags"]]
    assert preview not in dev and preview.rsplit(":", 1)[1].startswith("pr-42-")
    assert all(t.rsplit(":", 1)[1].startswith("src-") for t in dev)
