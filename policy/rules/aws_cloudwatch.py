"""CloudWatch Logs: every log group expires its logs (flow logs, EKS control plane)."""

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
