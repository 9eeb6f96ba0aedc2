"""ECR repositories for the platform's images: immutable tags, scanned on push, old images expired."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import RegistryConfig

REPOSITORIES = ("inference", "mlflow", "training")
# Untagged images are leftovers of interrupted pushes or multi-arch builds' superseded manifests.
UNTAGGED_EXPIRY_DAYS = 7


def lifecycle_policy(keep_images: int) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images after {UNTAGGED_EXPIRY_DAYS} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": UNTAGGED_EXPIRY_DAYS,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the {keep_images} most recent images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
                    "action": {"type": "expire"},
                },
            ]
        }
    )


@dataclass(frozen=True)
class RegistryArgs:
    config: RegistryConfig
    # Repositories are named `<repository_prefix>/<image>`, e.g. mlp-prod/inference.
    repository_prefix: str
    tags: dict[str, str]
    # teardown.allowDataLoss: a destroy deletes the repositories with their images.
    force_delete: bool = False


class Registry(pulumi.ComponentResource):
    """One repository per image the platform builds."""

    repository_urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository_urls = {}
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
                policy=lifecycle_policy(args.config.keep_images),
                opts=child,
            )
            self.repository_urls[image] = repository.repository_url
        self.register_outputs({"repositoryUrls": self.repository_urls})
