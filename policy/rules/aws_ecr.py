"""ECR: immutable tags and scanning for the inference, MLflow and training images."""

from __future__ import annotations

from pulumi_policy import StackValidationArgs

from .base import Findings, linked, of_type, stack_rule
from .shapes import flag_rule, value_rule

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"


immutable_tags = value_rule(
    "aws-ecr-repository-enable-immutable-tags",
    "Image tags are immutable, so a tag deployed once always names the same image.",
    controls=("CKV_AWS_51", "Security Hub ECR.2"),
    types=(REPOSITORY,),
    path="imageTagMutability",
    must="IMMUTABLE",
    default="MUTABLE",
)


scan_on_push = flag_rule(
    "aws-ecr-repository-enable-scan-on-push",
    "Every pushed image is scanned for vulnerabilities.",
    controls=("CKV_AWS_163", "CIS EKS 5.1.1", "Security Hub ECR.1"),
    types=(REPOSITORY,),
    path="imageScanningConfiguration.scanOnPush",
)


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
