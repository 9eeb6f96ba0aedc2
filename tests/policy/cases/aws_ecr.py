"""Passing and failing cases for the rules of `policy/rules/aws_ecr.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import ECR, ECR_T
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
    Case("aws-ecr-repository-enable-immutable-tags", ECR_T, ECR),
    Case(
        "aws-ecr-repository-enable-immutable-tags",
        ECR_T,
        changed(ECR, {"imageTagMutability": DELETE}),
        "got 'MUTABLE'",
    ),
    Case("aws-ecr-repository-enable-scan-on-push", ECR_T, ECR),
    Case(
        "aws-ecr-repository-enable-scan-on-push",
        ECR_T,
        changed(ECR, {"imageScanningConfiguration": DELETE}),
        "scanOnPush must be true",
    ),
]
