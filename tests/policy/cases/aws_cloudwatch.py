"""Passing and failing cases for the rules of `policy/rules/aws_cloudwatch.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import LOG_GROUP, LOG_GROUP_T
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
    Case("aws-cloudwatch-loggroup-enable-kms-encryption", LOG_GROUP_T, LOG_GROUP),
    Case(
        "aws-cloudwatch-loggroup-enable-kms-encryption",
        LOG_GROUP_T,
        changed(LOG_GROUP, {"kmsKeyId": DELETE}),
        "kmsKeyId must name a KMS key",
    ),
    Case("aws-cloudwatch-loggroup-configure-retention", LOG_GROUP_T, LOG_GROUP),
    Case(
        "aws-cloudwatch-loggroup-configure-retention",
        LOG_GROUP_T,
        changed(LOG_GROUP, {"retentionInDays": DELETE}),
        "retentionInDays must be set",
    ),
]
