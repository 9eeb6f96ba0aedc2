"""The rules of `policy/rules/aws_elasticache.py` on the compliant replication group: each row one change and the
messages it must produce."""

from __future__ import annotations

from tests.policy.cases.aws_resources import REDIS, REDIS_T
from tests.policy.cases.common import fails, passes, table
from tests.policy.support import DELETE

SHARDED = {**{k: v for k, v in REDIS.items() if k != "numCacheClusters"}, "numNodeGroups": 2, "replicasPerNodeGroup": 1}

CASES = table(
    REDIS_T,
    REDIS,
    {
        "aws-elasticache-replicationgroup-enable-transit-encryption": [
            fails("transitEncryptionEnabled", False, "transitEncryptionEnabled must be true"),
            fails("transitEncryptionMode", "preferred", "'preferred' still accepts plaintext", id="preferred"),
            passes({"transitEncryptionMode": DELETE}, id="mode-unset"),
        ],
        "aws-elasticache-replicationgroup-enable-at-rest-encryption": [
            fails("atRestEncryptionEnabled", False, "atRestEncryptionEnabled must be true"),
            fails("kmsKeyId", DELETE, "kmsKeyId must name a customer-managed KMS key"),
        ],
        "aws-elasticache-replicationgroup-enable-auth-token": [
            passes({"authToken": DELETE, "userGroupIds": ["mlp-prod-users"]}, id="rbac"),
            passes({"authToken": DELETE, "authTokenWo": "mock-write-only-token"}, id="write-only-token"),
            fails("authToken", DELETE, "Redis must require AUTH"),
        ],
        "aws-elasticache-replicationgroup-enable-automatic-failover": [
            fails("automaticFailoverEnabled", False, "automaticFailoverEnabled must be true"),
            fails("multiAzEnabled", False, "multiAzEnabled must be true"),
            fails("numCacheClusters", 1, "numCacheClusters must be >= 2 (got 1)"),
            fails("numCacheClusters", DELETE, "numCacheClusters must be >= 2 (got 1)", id="nodes-unset"),
            fails("replicasPerNodeGroup", 0, "replicasPerNodeGroup must be >= 1", on=(REDIS_T, SHARDED)),
        ],
        "aws-elasticache-replicationgroup-configure-snapshot-retention": [
            fails("snapshotRetentionLimit", 0, "snapshotRetentionLimit must be >= 1 (got 0)"),
            fails("snapshotRetentionLimit", DELETE, "snapshotRetentionLimit must be >= 1 (got 0)", id="unset"),
        ],
        "aws-elasticache-replicationgroup-configure-subnet-group": [
            fails("subnetGroupName", DELETE, "subnetGroupName must name a subnet group of private subnets"),
            fails("subnetGroupName", "default", "subnetGroupName must name", id="default-group"),
            fails("securityGroupIds", DELETE, "without it Redis gets the VPC's default security group"),
        ],
    },
)
