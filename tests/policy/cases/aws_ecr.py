"""Passing and failing cases for the rules of `policy/rules/aws_ecr.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import ECR, ECR_T
from tests.policy.cases.common import fails, table
from tests.policy.cases.stacks import drop, link, registry, stack_table
from tests.policy.support import DELETE

CASES = table(
    ECR_T,
    ECR,
    {
        "aws-ecr-repository-enable-immutable-tags": [
            fails("imageTagMutability", DELETE, "got 'MUTABLE'"),
            fails(
                "imageTagMutability", "MUTABLE", "imageTagMutability must be 'IMMUTABLE' (got 'MUTABLE')", id="mutable"
            ),
        ],
        "aws-ecr-repository-enable-scan-on-push": [
            fails("imageScanningConfiguration", DELETE, "scanOnPush must be true"),
            fails("imageScanningConfiguration.scanOnPush", False, "scanOnPush must be true", id="off"),
        ],
    },
)


# The stack rule: every repository has its lifecycle policy.
STACK_CASES = stack_table(
    registry,
    {
        "aws-ecr-repository-configure-lifecycle-policy": [
            link("inference-lifecycle", "repository").passes(id="linked-by-name"),
            drop("inference-lifecycle").fails("repository inference has no aws.ecr.LifecyclePolicy"),
        ],
    },
)
