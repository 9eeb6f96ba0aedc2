"""ElastiCache (Valkey or Redis OSS), the prediction cache: TLS + AUTH, KMS at rest, reachable from the nodes only,
its slow log delivered to an encrypted log group; upgraded and its AUTH token rotated by config."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.config import RedisConfig
from infra.data_store import DataStorePlacement, data_store_base

PORT = 6379


def slow_log_group(name: str) -> str:
    return f"/aws/elasticache/{name}/slow-log"


@dataclass(frozen=True)
class RedisArgs:
    config: RedisConfig
    placement: DataStorePlacement


class Redis(pulumi.ComponentResource):
    """A replication group (cluster mode off): one primary and `node_count - 1` replicas."""

    primary_endpoint: pulumi.Output[str]
    port: int
    auth_token: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The type token is part of every child's URN: renaming it would replace the replication group.
        super().__init__("platform:index:Cache", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str) -> dict[str, str]:
            return {**args.placement.tags, "Name": f"{name}-{suffix}"}

        base = data_store_base(
            f"{name}-redis",
            service="elasticache",
            engine="Redis",
            port=PORT,
            placement=args.placement,
            key_description=f"At-rest encryption of ElastiCache {name}",
            log_groups={f"{name}-redis-slow-log": slow_log_group(name)},
            log_description=f"Encryption of the slow log of ElastiCache {name}",
            retention_days=cfg.log_retention_days,
            subnet_description=f"Data subnets of ElastiCache Redis {name}",
            parent=self,
        )
        # Autonamed (a unique name): a new engine or major version makes a new group of the new family, created
        # before the old one is deleted, and the replication group moves onto it with the version.
        parameters = aws.elasticache.ParameterGroup(
            f"{name}-redis-params",
            family=cfg.parameter_group_family,
            description="Prediction cache: evict least recently used keys when full",
            # A cache must evict rather than refuse writes (the default volatile-lru evicts only keys with a TTL).
            parameters=[aws.elasticache.ParameterGroupParameterArgs(name="maxmemory-policy", value="allkeys-lru")],
            tags=tags("redis-params"),
            opts=child,
        )
        # Alphanumeric: ElastiCache rejects some punctuation in AUTH tokens and clients must URL-encode the rest.
        # redis.authTokenVersion is a keeper: raising it generates a new token (docs/operations.md).
        token = random.RandomPassword(
            f"{name}-redis-auth",
            length=64,
            special=False,
            keepers={"version": str(cfg.auth_token_version)},
            opts=child,
        )
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description=f"Prediction cache of {name}",
            engine=cfg.engine,
            engine_version=cfg.engine_version,
            node_type=cfg.node_type,
            num_cache_clusters=cfg.node_count,
            port=PORT,
            automatic_failover_enabled=cfg.multi_az,
            multi_az_enabled=cfg.multi_az,
            at_rest_encryption_enabled=True,
            kms_key_id=base.key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            # Not auth_token_wo: pulumi-terraform-bridge still writes write-only inputs to the state
            # (pulumi/pulumi-terraform-bridge#3201), and the pods need the token from this stack anyway.
            auth_token=token.result,
            # A new token with ROTATE is accepted next to the old one; SET (after a ROTATE) drops the old one.
            # The provider re-sends the token when only the strategy changes, so each is one `pulumi up`.
            auth_token_update_strategy=cfg.auth_token_update_strategy,
            subnet_group_name=base.subnet_group_name,
            security_group_ids=[base.security_group.id],
            parameter_group_name=parameters.name,
            snapshot_retention_limit=cfg.snapshot_retention_days,
            snapshot_window="03:00-04:00",
            maintenance_window="sun:05:00-sun:06:00",
            auto_minor_version_upgrade=True,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination_type="cloudwatch-logs",
                    destination=base.log_groups[0].name,
                    log_format="json",
                    log_type="slow-log",
                )
            ],
            tags=tags("redis"),
            opts=child,
        )

        self.primary_endpoint = group.primary_endpoint_address
        self.port = PORT
        self.auth_token = pulumi.Output.secret(token.result)
        self.security_group_id = base.security_group.id
        self.register_outputs({"primaryEndpoint": self.primary_endpoint, "port": self.port})
