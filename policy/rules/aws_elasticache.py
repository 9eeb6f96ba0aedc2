"""ElastiCache Redis replication groups: encryption in transit and at rest, AUTH, failover, snapshots, placement."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .base import AVAILABILITY, Props, get, is_true, items, number, resource_rule
from .data_store import data_store_rule

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


@resource_rule(
    "aws-elasticache-replicationgroup-enable-transit-encryption",
    "Redis requires TLS from every client (in-transit encryption, mode required).",
    controls=("CKV_AWS_30", "Security Hub ElastiCache.5"),
    types=(REPLICATION_GROUP,),
)
def transit_encryption(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "transitEncryptionEnabled")):
        yield "transitEncryptionEnabled must be true"
    mode = get(props, "transitEncryptionMode")
    if mode is not None and mode != "required":
        yield f"transitEncryptionMode must be 'required' (got {mode!r}): 'preferred' still accepts plaintext"


@resource_rule(
    "aws-elasticache-replicationgroup-enable-at-rest-encryption",
    "Redis data and snapshots are encrypted at rest with a customer-managed KMS key.",
    controls=("CKV_AWS_29", "CKV_AWS_191", "Security Hub ElastiCache.4"),
    types=(REPLICATION_GROUP,),
)
def at_rest_encryption(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "atRestEncryptionEnabled")):
        yield "atRestEncryptionEnabled must be true"
    if not get(props, "kmsKeyId"):
        yield "kmsKeyId must name a customer-managed KMS key"


@resource_rule(
    "aws-elasticache-replicationgroup-enable-auth-token",
    "Redis clients authenticate (an AUTH token, or RBAC user groups).",
    controls=("CKV_AWS_31", "Security Hub ElastiCache.6"),
    types=(REPLICATION_GROUP,),
)
def auth_token(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not (get(props, "authToken") or get(props, "authTokenWo") or items(get(props, "userGroupIds"))):
        yield "set authToken (from a random.RandomPassword, kept secret) or userGroupIds: Redis must require AUTH"


@resource_rule(
    "aws-elasticache-replicationgroup-enable-automatic-failover",
    "Redis survives the loss of a node or a zone: automatic failover and Multi-AZ with at least 2 nodes.",
    controls=("CKV2_AWS_50", "Security Hub ElastiCache.3"),
    types=(REPLICATION_GROUP,),
    category=AVAILABILITY,
)
def automatic_failover(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "automaticFailoverEnabled")):
        yield "automaticFailoverEnabled must be true"
    if not is_true(get(props, "multiAzEnabled")):
        yield "multiAzEnabled must be true"
    if get(props, "numNodeGroups") is not None or get(props, "replicasPerNodeGroup") is not None:
        replicas = number(get(props, "replicasPerNodeGroup")) or 0
        if replicas < 1:
            yield "replicasPerNodeGroup must be >= 1 so each shard has a replica to fail over to"
    else:
        nodes = number(get(props, "numCacheClusters")) or 1
        if nodes < 2:
            yield f"numCacheClusters must be >= 2 (got {nodes:g}): failover needs a replica"


@resource_rule(
    "aws-elasticache-replicationgroup-configure-snapshot-retention",
    "Redis keeps at least one daily snapshot.",
    controls=("Security Hub ElastiCache.1",),
    types=(REPLICATION_GROUP,),
)
def snapshot_retention(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    days = number(get(props, "snapshotRetentionLimit")) or 0
    if days < 1:
        yield f"snapshotRetentionLimit must be >= 1 (got {days:g})"


@resource_rule(
    "aws-elasticache-replicationgroup-configure-subnet-group",
    "Redis runs in our private subnet group, never the default one.",
    controls=("Security Hub ElastiCache.7",),
    types=(REPLICATION_GROUP,),
)
def subnet_group(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    name = get(props, "subnetGroupName")
    if not name or name == "default":
        yield "subnetGroupName must name a subnet group of private subnets"
    if not items(get(props, "securityGroupIds")):
        yield "securityGroupIds must be set: without it Redis gets the VPC's default security group"


# ---------------------------------------------------------------------------------------------------------- stack rules


redis_cluster_only = data_store_rule(
    "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
    "Redis's security groups admit 6379 from the cluster's (node or cluster) security group only.",
    ("Platform baseline: 6379 only from the cluster/node security group",),
    REPLICATION_GROUP,
    "securityGroupIds",
    6379,
)
