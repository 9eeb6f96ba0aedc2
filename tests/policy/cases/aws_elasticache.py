"""Passing and failing cases for the rules of `policy/rules/aws_elasticache.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import REDIS, REDIS_T
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
    Case("aws-elasticache-replicationgroup-enable-transit-encryption", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-transit-encryption",
        REDIS_T,
        changed(REDIS, {"transitEncryptionEnabled": False, "transitEncryptionMode": DELETE}),
        "transitEncryptionEnabled must be true",
    ),
    Case(
        "aws-elasticache-replicationgroup-enable-transit-encryption",
        REDIS_T,
        changed(REDIS, {"transitEncryptionMode": "preferred"}),
        "'preferred' still accepts plaintext",
        id="preferred",
    ),
    Case("aws-elasticache-replicationgroup-enable-at-rest-encryption", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-at-rest-encryption",
        REDIS_T,
        changed(REDIS, {"kmsKeyId": DELETE}),
        "kmsKeyId must name a customer-managed KMS key",
    ),
    Case("aws-elasticache-replicationgroup-enable-auth-token", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-auth-token",
        REDIS_T,
        changed(REDIS, {"authToken": DELETE, "userGroupIds": ["mlp-prod-users"]}),
        id="rbac",
    ),
    Case(
        "aws-elasticache-replicationgroup-enable-auth-token",
        REDIS_T,
        changed(REDIS, {"authToken": DELETE}),
        "Redis must require AUTH",
    ),
    Case("aws-elasticache-replicationgroup-enable-automatic-failover", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-automatic-failover",
        REDIS_T,
        changed(REDIS, {"numCacheClusters": 1, "automaticFailoverEnabled": False, "multiAzEnabled": False}),
        "numCacheClusters must be >= 2 (got 1)",
    ),
    Case("aws-elasticache-replicationgroup-configure-snapshot-retention", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-configure-snapshot-retention",
        REDIS_T,
        changed(REDIS, {"snapshotRetentionLimit": 0}),
        "snapshotRetentionLimit must be >= 1 (got 0)",
    ),
    Case("aws-elasticache-replicationgroup-configure-subnet-group", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-configure-subnet-group",
        REDIS_T,
        changed(REDIS, {"subnetGroupName": DELETE, "securityGroupIds": DELETE}),
        "default security group",
    ),
]
