"""RDS PostgreSQL, MLflow's backend store: encrypted, private, TLS enforced, backed up, reachable from nodes only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.config import DatabaseConfig
from infra.security import admitting_only, rotating_key

PORT = 5432
DB_NAME = "mlflow"
USERNAME = "mlflow"


@dataclass(frozen=True)
class DatabaseArgs:
    config: DatabaseConfig
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    # The only source admitted on 5432: the security group the cluster's nodes and pods carry.
    client_security_group_id: pulumi.Input[str]
    tags: dict[str, str]


class Database(pulumi.ComponentResource):
    """One PostgreSQL instance (Multi-AZ per config) holding MLflow's tracking and registry tables."""

    address: pulumi.Output[str]
    port: int
    db_name: str
    username: str
    password: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Database", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}"}

        key = rotating_key(
            f"{name}-db-key",
            description=f"Storage encryption of the MLflow database of {name}",
            tags=args.tags,
            parent=self,
        )
        security_group = admitting_only(
            f"{name}-db-sg",
            vpc_id=args.vpc_id,
            port=PORT,
            source_security_group_id=args.client_security_group_id,
            service="PostgreSQL",
            tags=args.tags,
            parent=self,
        )
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-db-subnets",
            description=f"Private subnets of the MLflow database of {name}",
            subnet_ids=list(args.subnet_ids),
            tags=tags("db-subnets"),
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-db-params",
            family=cfg.parameter_group_family,
            description="MLflow backend store: TLS required for every connection",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            tags=tags("db-params"),
            opts=child,
        )
        # Alphanumeric: RDS rejects '/', '@', '"' and ' ', and the password travels inside a database URI.
        password = random.RandomPassword(f"{name}-db-password", length=40, special=False, opts=child)
        instance = aws.rds.Instance(
            f"{name}-db",
            engine="postgres",
            engine_version=cfg.engine_version,
            instance_class=cfg.instance_class,
            allocated_storage=cfg.allocated_storage_gib,
            max_allocated_storage=cfg.max_allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=DB_NAME,
            username=USERNAME,
            password=password.result,
            port=PORT,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=cfg.multi_az,
            backup_retention_period=cfg.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            deletion_protection=cfg.deletion_protection,
            # A protected database leaves a final snapshot when it is deleted after all (CKV_AWS_293).
            skip_final_snapshot=not cfg.deletion_protection,
            final_snapshot_identifier=f"{name}-mlflow-final" if cfg.deletion_protection else None,
            tags=tags("db"),
            opts=child,
        )

        self.address = instance.address
        self.port = PORT
        self.db_name = DB_NAME
        self.username = USERNAME
        self.password = pulumi.Output.secret(password.result)
        self.security_group_id = security_group.id
        self.register_outputs({"address": self.address, "port": self.port, "dbName": self.db_name})
