"""Passing and failing cases for the rules of `policy/rules/aws_tagging.py`."""

from __future__ import annotations

import json

from tests.policy.cases.aws_resources import KMS, KMS_T, RDS, RDS_T
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
    Case("aws-tagging-resource-configure-required-tags", RDS_T, RDS),
    Case(
        "aws-tagging-resource-configure-required-tags",
        RDS_T,
        changed(RDS, {"tags": {"Name": "db"}}),
        id="provider-default-tags",
        provider={
            "region": "us-east-1",
            "defaultTags": json.dumps({"tags": {"Project": "mlp", "Environment": "dev", "ManagedBy": "pulumi"}}),
        },
    ),
    Case(
        "aws-tagging-resource-configure-required-tags",
        KMS_T,
        changed(KMS, {"tags": {"Project": "mlp", "Name": "k"}}),
        "tags must include Environment, ManagedBy",
    ),
    Case(
        "aws-tagging-resource-configure-required-tags",
        KMS_T,
        changed(KMS, {"tags": DELETE}),
        "tags must include Project, Environment, ManagedBy",
        id="untagged",
    ),
]
