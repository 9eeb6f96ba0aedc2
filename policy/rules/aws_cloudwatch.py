"""CloudWatch Logs: every log group (flow logs, EKS control plane, RDS, the cache's slow log) expires its logs and
is KMS-encrypted."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .base import Props, get, number, resource_rule

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@resource_rule(
    "aws-cloudwatch-loggroup-configure-retention",
    "Every log group sets a retention period (CloudWatch keeps logs forever otherwise).",
    controls=("CKV_AWS_66", "CIS EKS 2.1.1"),
    types=(LOG_GROUP,),
)
def retention(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    days = number(get(props, "retentionInDays"))
    if not days or days <= 0:
        yield "retentionInDays must be set (> 0)"


@resource_rule(
    "aws-cloudwatch-loggroup-enable-kms-encryption",
    "Every log group is encrypted with a customer-managed KMS key.",
    controls=("CKV_AWS_158",),
    types=(LOG_GROUP,),
)
def kms_encryption(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not get(props, "kmsKeyId"):
        yield "kmsKeyId must name a KMS key (a key whose policy admits logs.<region>.amazonaws.com)"
