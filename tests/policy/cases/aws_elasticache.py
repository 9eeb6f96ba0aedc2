"""The rules of `policy/rules/aws_elasticache.py` on the compliant replication group: each row one change and the
messages it must produce."""

from __future__ import annotations

from tests.policy.cases.aws_resources import REDIS, REDIS_T, SG_RULE_T
from tests.policy.cases.common import fails, passes, table
from tests.policy.cases.stacks import add, data_stores, data_stores_inline, edit, link, stack_table
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


# The stack rule: who Redis's security groups admit (data_stores: each store admits the node security group).
STACK_CASES = stack_table(
    data_stores,
    {
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress": [
            link("redis-from-nodes", "referencedSecurityGroupId", "eks").passes(id="cluster-sg"),
            link("redis-from-nodes", "referencedSecurityGroupId", "alb-sg").fails(
                "redis: rule redis-from-nodes admits SecurityGroup alb-sg, not the cluster's"
            ),
            link("redis-from-nodes", "referencedSecurityGroupId").fails(
                "redis: rule redis-from-nodes admits sg-0node00000000000, not a security group this stack gives the "
                "cluster"
            ),
            edit("redis-from-nodes", "cidrIpv4", "10.30.0.0/16").fails(
                "redis: rule redis-from-nodes admits CIDR ranges ['10.30.0.0/16']; admit the cluster's security group"
            ),
            edit("redis-from-nodes", "toPort", 65535).fails("the data store listens on 6379 only"),
            edit("redis", "port", 6380).fails("the data store listens on 6380 only", id="store-port"),
            add(
                SG_RULE_T,
                "redis-self",
                {"type": "ingress", "protocol": "tcp", "fromPort": 6379, "toPort": 6379, "self": True},
                securityGroupId="redis-sg",
            ).fails("redis: rule redis-self admits the group itself"),
            add(
                SG_RULE_T,
                "redis-from-alb",
                {
                    "type": "ingress",
                    "protocol": "tcp",
                    "fromPort": 6379,
                    "toPort": 6379,
                    "sourceSecurityGroupId": "sg-alb",
                },
                securityGroupId="redis-sg",
                sourceSecurityGroupId="alb-sg",
            ).fails("redis: rule redis-from-alb admits SecurityGroup alb-sg, not the cluster's"),
            add(
                SG_RULE_T,
                "redis-egress",
                {"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]},
                securityGroupId="redis-sg",
            ).passes(),
            edit(
                "redis-sg",
                "ingress",
                [{"protocol": "tcp", "fromPort": 6379, "toPort": 6379, "cidrBlocks": ["10.0.0.0/8"]}],
            ).fails(
                "redis: security group redis-sg ingress[0] admits CIDR ranges; admit the cluster's security group only"
            ),
            edit("redis-sg", "ingress", [{"protocol": "tcp", "fromPort": 6379, "toPort": 6379, "self": True}]).fails(
                "redis: security group redis-sg ingress[0] admits the group itself", id="inline-self"
            ),
            edit(
                "redis-sg",
                "ingress",
                [{"protocol": "tcp", "fromPort": 6379, "toPort": 6379, "securityGroups": ["sg-0"]}],
            ).fails(
                "redis: security group redis-sg ingress[0] admits security groups other than the cluster's",
                id="inline-groups",
            ),
            link("redis", "securityGroupIds").fails(
                "redis: securityGroupIds are not security groups of this stack; cannot show who they admit"
            ),
        ],
    },
) + stack_table(
    data_stores_inline,
    {
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress": [
            link("redis-sg", "ingress", "alb-sg").fails(
                "redis: security group redis-sg ingress[0] admits security groups other than the cluster's"
            ),
            link("redis-sg", "ingress", "node-sg", "alb-sg").fails(
                "redis: security group redis-sg ingress[0] admits security groups other than the cluster's",
                id="node-and-alb",
            ),
            link("redis-sg", "ingress").fails(
                "redis: security group redis-sg ingress[0] admits security groups other than the cluster's",
                id="unresolved",
            ),
        ],
    },
    id="inline",
)
