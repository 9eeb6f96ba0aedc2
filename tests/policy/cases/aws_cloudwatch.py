"""Passing and failing cases for the rules of `policy/rules/aws_cloudwatch.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import LOG_GROUP, LOG_GROUP_T
from tests.policy.cases.common import fails, table
from tests.policy.support import DELETE

CASES = table(
    LOG_GROUP_T,
    LOG_GROUP,
    {
        "aws-cloudwatch-loggroup-enable-kms-encryption": [
            fails("kmsKeyId", DELETE, "kmsKeyId must name a KMS key"),
        ],
        "aws-cloudwatch-loggroup-configure-retention": [
            fails("retentionInDays", DELETE, "retentionInDays must be set"),
            fails("retentionInDays", 0, "retentionInDays must be set (> 0)", id="zero"),
        ],
    },
)
