"""The workloads' images: built from this repository and pushed by the same `pulumi up` that runs them.

A new stack's first `up` needs nothing pushed by hand: each image is built (pulumi-docker-build, BuildKit on the
machine running `pulumi up`) and pushed to the stack's own ECR repository once that repository exists, and the
workloads name the pushed digest (`<repository>@sha256:...`), so a pod starts only after its image is in ECR and
never runs an image another stack pushed. With `images.build: false` the stack runs the digests CI pushed instead
(config keys `inference.image`, `mlflow.image`, `trainingJob.image`) and builds nothing.

Tags. The repositories' tags are IMMUTABLE, so a tag may be pushed once only: each image's tag is a hash of
everything that makes the build (`src-<hash>`, `pr-<N>-<hash>` for a preview): the files its Dockerfile's ignore
file admits (with their paths and modes), the Dockerfile and the build settings. The provider rebuilds only when
its own hash of the context or an input changes; both change this tag too, so a rebuild never pushes to a tag
that exists. The tag is what keeps the image: the lifecycle policy expires untagged images only (infra/registry.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from infra.config import ImagesConfig

# The project root: docker-build resolves relative contexts from the directory `pulumi up` runs the program in,
# which is this one; relative paths also keep the state the same on every machine.
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ImageSource:
    """How one image is built: its Dockerfile, its context, and the paths the Dockerfile's ignore file admits."""

    dockerfile: str
    context: str
    # Relative to the project root. Each Dockerfile has a `<Dockerfile>.dockerignore` admitting exactly these
    # (minus bytecode caches), which BuildKit and the provider's context hash both honour.
    sources: tuple[str, ...]


IMAGE_SOURCES = {
    "inference": ImageSource(dockerfile="service/Dockerfile", context=".", sources=("service",)),
    "mlflow": ImageSource(dockerfile="images/mlflow/Dockerfile", context="images/mlflow", sources=("images/mlflow",)),
    "training": ImageSource(dockerfile="training/Dockerfile", context=".", sources=("training",)),
}
# What the ignore files leave out; never part of an image, so never part of its tag.
_IGNORED_DIRS = frozenset({"__pycache__"})
_IGNORED_SUFFIXES = (".pyc",)


@functools.cache
def source_hash(source: ImageSource) -> str:
    """sha256 over every file `source` admits: relative path, type and mode, content, in a fixed order."""
    digest = hashlib.sha256()
    for top in source.sources:
        for directory, dirs, files in os.walk(ROOT / top):
            dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
            for file in sorted(f for f in files if not f.endswith(_IGNORED_SUFFIXES)):
                path = Path(directory) / file
                # lstat: like the provider, a symlink counts as a different file from its target.
                digest.update(f"{path.relative_to(ROOT).as_posix()}\0{path.lstat().st_mode:o}\0".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def image_tag(source: ImageSource, platform: str, prefix: str) -> str:
    """The tag of a build of `source` for `platform`: a new one whenever anything that makes the build changes."""
    settings = json.dumps(
        {"dockerfile": source.dockerfile, "context": source.context, "platform": platform}, sort_keys=True
    )
    build = hashlib.sha256(f"{settings}\0{source_hash(source)}".encode()).hexdigest()
    return f"{prefix}-{build[:32]}"


def registry_address(repository_url: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com` of a repository URL."""
    return repository_url.split("/", 1)[0]


@dataclass(frozen=True)
class ImagesArgs:
    config: ImagesConfig
    # The images the stack runs, each with the ECR repository it is pushed to.
    repository_urls: Mapping[str, pulumi.Input[str]]
    # linux/amd64 or linux/arm64: the nodes' architecture.
    platform: pulumi.Input[str]
    # First part of every tag: "src" for a stack's own images, "pr-<N>" for a preview's.
    tag_prefix: str = "src"


class Images(pulumi.ComponentResource):
    """One pushed image per entry of `repository_urls` (or the configured digests); `refs` are what pods run."""

    refs: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Images", name, None, opts)
        self.refs = {}
        for image, url in args.repository_urls.items():
            if not args.config.build:
                self.refs[image] = pulumi.Output.from_input(args.config.prebuilt[image])
                continue
            self.refs[image] = self._build(name, image, pulumi.Output.from_input(url), args)
        self.register_outputs({"refs": self.refs})

    def _build(self, name: str, image: str, url: pulumi.Output[str], args: ImagesArgs) -> pulumi.Output[str]:
        source = IMAGE_SOURCES[image]
        platform = pulumi.Output.from_input(args.platform)
        # The token is valid for 12 hours and differs on every run; the provider ignores password changes when
        # it diffs, so a new token alone never rebuilds.
        token = aws.ecr.get_authorization_token_output(
            registry_id=url.apply(lambda u: registry_address(u).split(".", 1)[0])
        )
        built = docker_build.Image(
            f"{name}-{image}",
            context=docker_build.BuildContextArgs(location=source.context),
            dockerfile=docker_build.DockerfileArgs(location=source.dockerfile),
            platforms=[cast(pulumi.Input[docker_build.Platform], platform)],
            push=True,
            tags=[
                pulumi.Output.all(url, platform).apply(
                    lambda parts: f"{parts[0]}:{image_tag(source, str(parts[1]), args.tag_prefix)}"
                )
            ],
            registries=[
                docker_build.RegistryArgs(
                    address=url.apply(registry_address),
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                )
            ],
            # `pulumi preview` (the pull-request diffs of staging and prod, with read-only roles) builds nothing:
            # the digest shows as unknown there, and `up` builds.
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # By digest: the pods run exactly what was pushed, whatever later happens to tags.
        return pulumi.Output.concat(url, "@", built.digest)
