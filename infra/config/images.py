"""Config of the platform's images: built and pushed by `pulumi up`, or prebuilt digests from CI."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.config.keys import Keys

# The images a stack runs, and the config key that names each one's prebuilt digest.
IMAGE_KEYS = {"inference": "inference.image", "mlflow": "mlflow.image", "training": "trainingJob.image"}
# registry/repository@sha256:<digest>: a digest names one image for good, whatever happens to its tags.
DIGEST_REF = re.compile(
    r"(?P<registry>[a-z0-9.-]+(:\d+)?)/(?P<repository>[a-z0-9._-]+(/[a-z0-9._-]+)*)@sha256:[0-9a-f]{64}"
)


@dataclass(frozen=True)
class ImagesConfig:
    """Where the workloads' images come from.

    `build`: `pulumi up` builds each image from this repository and pushes it to the stack's own ECR repository
    (infra/images.py), so a new stack's first `up` needs nothing pushed by hand. Otherwise `prebuilt` maps each
    image the stack runs to the digest CI pushed (`images.build: false`).
    """

    build: bool
    prebuilt: dict[str, str]


def read_images(keys: Keys, images: tuple[str, ...], repository_prefix: str | None) -> ImagesConfig:
    """The image source of a stack that runs `images`.

    `repository_prefix` is the stack's own repositories' prefix (`<namePrefix>-<stack>`): a prebuilt digest must
    come from there, so no environment runs, or loses to another's lifecycle, an image of another stack. None
    (a preview, which runs from its base stack's repository) checks the digest's form only.
    """
    build = keys.boolean("images.build")
    prebuilt: dict[str, str] = {}
    for image, key in IMAGE_KEYS.items():
        value = keys.optional_string(key)
        if build:
            if value is not None:
                raise keys.fail(key, "empty when images.build is true (the stack builds its own image)", value)
            continue
        if image not in images:
            continue
        expected = "a digest reference <registry>/<repository>@sha256:<64 hex> when images.build is false"
        if value is None:
            raise keys.fail(key, expected)
        match = DIGEST_REF.fullmatch(value)
        if match is None:
            raise keys.fail(key, expected, value)
        if repository_prefix is not None and match["repository"] != f"{repository_prefix}/{image}":
            raise keys.fail(key, f"an image of the stack's own repository {repository_prefix}/{image}", value)
        prebuilt[image] = value
    return ImagesConfig(build=build, prebuilt=prebuilt)
