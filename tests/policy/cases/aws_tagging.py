"""Passing and failing cases for the rules of `policy/rules/aws_tagging.py`."""

from __future__ import annotations

import json

from tests.policy.cases.aws_resources import KMS, KMS_T, RDS, RDS_T
from tests.policy.cases.common import fails, passes, table
from tests.policy.support import DELETE

CASES = table(
    RDS_T,
    RDS,
    {
        "aws-tagging-resource-configure-required-tags": [
            passes(
                {"tags": {"Name": "db"}},
                id="provider-default-tags",
                provider={
                    "region": "us-east-1",
                    "defaultTags": json.dumps(
                        {"tags": {"Project": "mlp", "Environment": "dev", "ManagedBy": "pulumi"}}
                    ),
                },
            ),
            fails("tags", {"Project": "mlp", "Name": "k"}, "tags must include Environment, ManagedBy", on=(KMS_T, KMS)),
            fails(("tags", "ManagedBy"), DELETE, "tags must include ManagedBy"),
            fails(("tags", "Environment"), "", "tags must include Environment", id="blank"),
            fails(None, None, "tags must include CostCenter", id="configured", config={"requiredTags": ["CostCenter"]}),
            fails("tags", DELETE, "tags must include Project, Environment, ManagedBy", id="untagged", on=(KMS_T, KMS)),
        ],
    },
)
