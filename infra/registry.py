"""ECR repositories for the platform's images: immutable tags, scanned on push, untagged leftovers expired."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import RegistryConfig

REPOSITORIES = ("inference", "mlflow", "training")


def lifecycle_policy(untagged_expiry_days: int) -> str:
    """Expire untagged images only; a tagged image is kept for as long as the repository exists.

    Every image a stack runs is named by digest and was pushed under a tag: `pulumi up` tags what it builds
    (infra/images.py), CI tags what it pushes with the commit SHA (images.yml), and the repositories' tags are
    IMMUTABLE, so nothing ever moves a tag off an image once pushed. Untagged images are then only leftovers of
    interrupted pushes, which no stack can reference. A count rule ("keep the N most recent") cannot tell an image
    a running environment uses from a superseded one: the 21st push to dev expired whatever dev (and, before,
    staging and prod) still ran. Superseded tagged images are removed by hand (docs/first-deploy.md, "Images").
    """
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images after {untagged_expiry_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_expiry_days,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


@dataclass(frozen=True)
class ImageRegistryArgs:
    config: RegistryConfig
    # Repositories are named `<repository_prefix>/<image>`, e.g. mlp-prod/inference.
    repository_prefix: str
    tags: dict[str, str]
    # teardown.allowDataLoss: a destroy deletes the repositories with their images.
    force_delete: bool = False


class ImageRegistry(pulumi.ComponentResource):
    """The ECR repositories: one per image the platform builds."""

    repository_urls: dict[str, pulumi.Output[str]]
    repositories: dict[str, aws.ecr.Repository]

    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The type token keeps its first name: it is part of every child's URN, and renaming it would replace the
        # repositories (with their images) on the next `pulumi up`.
        super().__init__("platform:index:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository_urls = {}
        self.repositories = {}
        for image in REPOSITORIES:
            repository = aws.ecr.Repository(
                f"{name}-{image}",
                name=f"{args.repository_prefix}/{image}",
                # A tag names one image forever: what was tested is what runs (CKV_AWS_51).
                image_tag_mutability="IMMUTABLE",
                force_delete=args.force_delete,
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
                tags={**args.tags, "Name": f"{name}-{image}"},
                opts=child,
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{image}-lifecycle",
                repository=repository.name,
                policy=lifecycle_policy(args.config.untagged_expiry_days),
                opts=child,
            )
            self.repository_urls[image] = repository.repository_url
            self.repositories[image] = repository
        self.register_outputs({"repositoryUrls": self.repository_urls})
