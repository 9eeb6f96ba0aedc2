"""What the stack's data stores (ElastiCache, RDS) stand on alike: a rotating KMS key of their own, their log
groups created before them with retention and KMS, a security group admitting their one port from the cluster's
nodes and pods only, and a subnet group of the data subnets.

What differs by engine, the parameter group (its family, parameters and how a new one replaces the old) and the
store itself, stays in infra/cache.py and infra/database.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.security import admitting_only, encrypted_log_groups, rotating_key


@dataclass(frozen=True)
class DataStorePlacement:
    """Where a data store lives and who reaches it; the same for every data store of a stack."""

    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    # The only source admitted on the store's port: the security group the cluster's nodes and pods carry.
    client_security_group_id: pulumi.Input[str]
    tags: dict[str, str]


@dataclass(frozen=True)
class DataStoreBase:
    """What `data_store_base` built, for the store to name: its key, log groups, security group, subnet group."""

    key: aws.kms.Key
    log_groups: list[aws.cloudwatch.LogGroup]
    security_group: aws.ec2.SecurityGroup
    subnet_group_name: pulumi.Output[str]


def data_store_base(
    prefix: str,
    *,
    service: Literal["elasticache", "rds"],
    engine: str,
    port: int,
    placement: DataStorePlacement,
    key_description: str,
    log_groups: Mapping[str, str],
    log_description: str,
    retention_days: int,
    subnet_description: str,
    parent: pulumi.Resource,
    key_services: Sequence[str] = (),
) -> DataStoreBase:
    """`<prefix>-key` (used through `service` and `key_services` only), the log groups (resource name -> log group
    name) under `<prefix>-logs-key`, `<prefix>-sg` admitting `engine` on `port`, and the subnet group
    `<prefix>-subnets`."""
    key = rotating_key(
        f"{prefix}-key",
        description=key_description,
        tags=placement.tags,
        parent=parent,
        services=(service, *key_services),
    )
    groups = encrypted_log_groups(
        f"{prefix}-logs-key",
        description=log_description,
        log_groups=log_groups,
        retention_days=retention_days,
        tags=placement.tags,
        parent=parent,
    )
    security_group = admitting_only(
        f"{prefix}-sg",
        vpc_id=placement.vpc_id,
        port=port,
        source_security_group_id=placement.client_security_group_id,
        service=engine,
        tags=placement.tags,
        parent=parent,
    )
    subnet_group_type = aws.elasticache.SubnetGroup if service == "elasticache" else aws.rds.SubnetGroup
    subnet_group = subnet_group_type(
        f"{prefix}-subnets",
        description=subnet_description,
        subnet_ids=list(placement.subnet_ids),
        tags={**placement.tags, "Name": f"{prefix}-subnets"},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return DataStoreBase(key, groups, security_group, subnet_group.name)
