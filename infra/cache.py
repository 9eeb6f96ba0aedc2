"""ElastiCache Redis, the prediction cache: TLS + AUTH, KMS at rest, reachable from the nodes only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.config import CacheConfig
from infra.security import admitting_only, rotating_key

PORT = 6379


@dataclass(frozen=True)
class CacheArgs:
    config: CacheConfig
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    # The only source admitted on 6379: the security group the cluster's nodes and pods carry.
    client_security_group_id: pulumi.Input[str]
    tags: dict[str, str]


class Cache(pulumi.ComponentResource):
    """A Redis replication group (cluster mode off): one primary and `node_count - 1` replicas."""

    primary_endpoint: pulumi.Output[str]
    port: int
    auth_token: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Cache", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}"}

        key = rotating_key(
            f"{name}-redis-key",
            description=f"At-rest encryption of ElastiCache Redis {name}",
            tags=args.tags,
            parent=self,
        )
        security_group = admitting_only(
            f"{name}-redis-sg",
            vpc_id=args.vpc_id,
            port=PORT,
            source_security_group_id=args.client_security_group_id,
            service="Redis",
            tags=args.tags,
            parent=self,
        )
        subnet_group = aws.elasticache.SubnetGroup(
            f"{name}-redis-subnets",
            description=f"Private subnets of ElastiCache Redis {name}",
            subnet_ids=list(args.subnet_ids),
            tags=tags("redis-subnets"),
            opts=child,
        )
        parameters = aws.elasticache.ParameterGroup(
            f"{name}-redis-params",
            family=f"redis{cfg.engine_version.split('.')[0]}",
            description="Prediction cache: evict least recently used keys when full",
            # A cache must evict rather than refuse writes (the default volatile-lru evicts only keys with a TTL).
            parameters=[aws.elasticache.ParameterGroupParameterArgs(name="maxmemory-policy", value="allkeys-lru")],
            tags=tags("redis-params"),
            opts=child,
        )
        # Alphanumeric: ElastiCache rejects some punctuation in AUTH tokens and clients must URL-encode the rest.
        token = random.RandomPassword(f"{name}-redis-auth", length=64, special=False, opts=child)
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description=f"Prediction cache of {name}",
            engine="redis",
            engine_version=cfg.engine_version,
            node_type=cfg.node_type,
            num_cache_clusters=cfg.node_count,
            port=PORT,
            automatic_failover_enabled=cfg.multi_az,
            multi_az_enabled=cfg.multi_az,
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.result,
            auth_token_update_strategy="ROTATE",
            subnet_group_name=subnet_group.name,
            security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            snapshot_retention_limit=cfg.snapshot_retention_days,
            snapshot_window="03:00-04:00",
            maintenance_window="sun:05:00-sun:06:00",
            auto_minor_version_upgrade=True,
            tags=tags("redis"),
            opts=child,
        )

        self.primary_endpoint = group.primary_endpoint_address
        self.port = PORT
        self.auth_token = pulumi.Output.secret(token.result)
        self.security_group_id = security_group.id
        self.register_outputs({"primaryEndpoint": self.primary_endpoint, "port": self.port})
