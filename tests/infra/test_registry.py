"""ECR: one repository per image, immutable tags, scanned on push, encrypted, untagged leftovers expired."""

from __future__ import annotations

import json

from tests.infra.harness import Recording

REPOSITORY = "aws:ecr/repository:Repository"


def test_one_repository_per_platform_image(recording: Recording) -> None:
    names = sorted(r.inputs["name"] for r in recording.find(REPOSITORY))
    assert names == [f"mlp-{recording.stack}/{image}" for image in ("inference", "mlflow", "training")]


def test_tags_are_immutable_and_pushes_are_scanned_and_encrypted(recording: Recording) -> None:
    for repository in recording.find(REPOSITORY):
        assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS"}]
        # Images go with a destroy only where teardown.allowDataLoss says so (tests/infra/test_teardown.py).
        assert repository.inputs.get("forceDelete") is (recording.stack == "dev")


def test_each_repository_expires_untagged_images_only(recording: Recording) -> None:
    """A tagged image is never expired: every image a stack runs is tagged (see test_rehearsal_images.py)."""
    policies = {
        p.inputs["repository"]: json.loads(p.inputs["policy"])
        for p in recording.find("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    }
    for repository in recording.find(REPOSITORY):
        (rule,) = policies[repository.outputs["name"]]["rules"]
        assert rule["selection"] == {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 7,
        }
        assert rule["action"] == {"type": "expire"}


def test_repository_urls_are_exported(recording: Recording) -> None:
    urls = {r.inputs["name"].split("/")[1]: r.outputs["repositoryUrl"] for r in recording.find(REPOSITORY)}
    assert recording.exports["ecrRepositoryUrls"] == urls
