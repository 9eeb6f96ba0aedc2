"""ECR: immutable tags and scanning for the inference, MLflow and training images."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from .base import Findings, Props, get, is_true, linked, of_type, resource_rule, stack_rule

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"


@resource_rule(
    "aws-ecr-repository-enable-immutable-tags",
    "Image tags are immutable, so a tag deployed once always names the same image.",
    controls=("CKV_AWS_51", "Security Hub ECR.2"),
    types=(REPOSITORY,),
)
def immutable_tags(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    mutability = get(props, "imageTagMutability", "MUTABLE")
    if mutability != "IMMUTABLE":
        yield f"imageTagMutability must be 'IMMUTABLE' (got {mutability!r})"


@resource_rule(
    "aws-ecr-repository-enable-scan-on-push",
    "Every pushed image is scanned for vulnerabilities.",
    controls=("CKV_AWS_163", "CIS EKS 5.1.1", "Security Hub ECR.1"),
    types=(REPOSITORY,),
)
def scan_on_push(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "imageScanningConfiguration.scanOnPush")):
        yield "imageScanningConfiguration.scanOnPush must be true"


# ---------------------------------------------------------------------------------------------------------- stack rules


@stack_rule(
    "aws-ecr-repository-configure-lifecycle-policy",
    "Every ECR repository has a lifecycle policy (untagged and old images expire).",
    controls=("Security Hub ECR.3",),
)
def ecr_lifecycle(args: StackValidationArgs) -> Findings:
    policies = of_type(args.resources, LIFECYCLE_POLICY)
    for repository in of_type(args.resources, REPOSITORY):
        if not any(linked(p, "repository", repository, "name") for p in policies):
            yield f"repository {repository.name} has no aws.ecr.LifecyclePolicy", repository.urn
