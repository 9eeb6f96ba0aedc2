"""RDS PostgreSQL, MLflow's backend store: encrypted, private, TLS enforced, backed up, reachable from nodes only,
its logs, OS metrics and Performance Insights kept; upgraded in place by config. Its master password is RDS's
own, in a Secrets Manager secret RDS creates and rotates: never in this program or its state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.config import DatabaseConfig
from infra.data_store import DataStorePlacement, data_store_base
from infra.security import service_trust_policy

PORT = 5432
DB_NAME = "mlflow"
USERNAME = "mlflow"
# The logs RDS for PostgreSQL can export (RDS User Guide, "Publishing PostgreSQL logs to Amazon CloudWatch Logs"):
# the server log, and what pg_upgrade writes during a major version upgrade.
EXPORTED_LOGS = ("postgresql", "upgrade")
# Enhanced Monitoring's granularity (seconds; RDS accepts 0, 1, 5, 10, 15, 30, 60): OS metrics each minute.
MONITORING_INTERVAL_SECONDS = 60
# Performance Insights' free retention (days).
PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7


def _secret_arn(secrets: Sequence[aws.rds.outputs.InstanceMasterUserSecret]) -> str:
    """The ARN of the secret RDS made for the instance (one element once it manages the password)."""
    if not secrets or not secrets[0].secret_arn:
        # Only while a switch of an existing instance to a managed password has not been applied yet.
        raise RuntimeError(
            "RDS has not created the master user secret yet (ManageMasterUserPassword pending?): "
            'see docs/operations.md, "Rotating secrets", and run `pulumi up` again once it is applied'
        )
    return secrets[0].secret_arn


def instance_log_group(identifier: str, log: str) -> str:
    """Where RDS writes an exported log (RDS User Guide, "Publishing database logs to Amazon CloudWatch Logs"):
    created by RDS, without retention or KMS, unless it exists already."""
    return f"/aws/rds/instance/{identifier}/{log}"


@dataclass(frozen=True)
class DatabaseArgs:
    config: DatabaseConfig
    placement: DataStorePlacement


class Database(pulumi.ComponentResource):
    """One PostgreSQL instance (Multi-AZ per config) holding MLflow's tracking and registry tables."""

    address: pulumi.Output[str]
    identifier: pulumi.Output[str]
    port: int
    db_name: str
    username: str
    # The secret RDS keeps the master credentials in (JSON username/password) and the key encrypting it.
    secret_arn: pulumi.Output[str]
    secret_kms_key_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Database", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=self)).partition
        # Named, not autonamed: RDS names the log groups after the instance, and they must exist before it.
        identifier = cfg.identifier or f"{name}-mlflow"

        def tags(suffix: str) -> dict[str, str]:
            return {**args.placement.tags, "Name": f"{name}-{suffix}"}

        base = data_store_base(
            f"{name}-db",
            service="rds",
            engine="PostgreSQL",
            port=PORT,
            placement=args.placement,
            key_description=(
                f"Storage, Performance Insights and master secret encryption of the MLflow database of {name}"
            ),
            # RDS encrypts the master password's Secrets Manager secret with it (manage_master_user_password).
            key_services=("secretsmanager",),
            log_groups={f"{name}-db-{log}-logs": instance_log_group(identifier, log) for log in EXPORTED_LOGS},
            log_description=f"Encryption of the exported logs of the MLflow database of {name}",
            retention_days=cfg.log_retention_days,
            subnet_description=f"Data subnets of the MLflow database of {name}",
            parent=self,
        )
        monitoring_role_arn = self._monitoring_role(name, partition, tags("db-monitoring"))
        # A major upgrade needs a group of the new family. The family is in the name prefix: a new major makes a
        # new group (a unique name, so it is created before the old one is deleted), the instance moves onto it
        # together with the engine version, and only then is the old group deleted.
        parameters = aws.rds.ParameterGroup(
            f"{name}-db-params",
            name_prefix=f"{name}-{cfg.parameter_group_family}-",
            family=cfg.parameter_group_family,
            description="MLflow backend store: TLS required for every connection",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            tags=tags("db-params"),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )
        # Baked into the instance's state at creation and sent from there at deletion: each database (a
        # destroy and a re-create make a new one) leaves a final snapshot of its own name.
        snapshot_suffix = random.RandomId(f"{name}-db-final-snapshot", byte_length=4, opts=child)
        instance = aws.rds.Instance(
            f"{name}-db",
            identifier=identifier,
            engine="postgres",
            engine_version=cfg.engine_version,
            # A major engine version change is an in-place upgrade (RDS refuses it without this flag).
            allow_major_version_upgrade=True,
            # "17" lets RDS apply minor versions in the maintenance window, and the provider matches "17" with
            # the running 17.x; a pinned "17.5" must stay 17.5, so RDS may not move it (auto minor upgrades off).
            auto_minor_version_upgrade=not cfg.minor_pinned,
            apply_immediately=cfg.apply_immediately,
            instance_class=cfg.instance_class,
            allocated_storage=cfg.allocated_storage_gib,
            max_allocated_storage=cfg.max_allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=base.key.arn,
            db_name=DB_NAME,
            username=USERNAME,
            # RDS generates the password into a Secrets Manager secret encrypted with this stack's key, and rotates
            # it (every 7 days by default): no password passes through Pulumi, so none is in its state (RDS User
            # Guide, "Password management with Amazon RDS and AWS Secrets Manager"). `password` must stay unset:
            # CreateDBInstance refuses MasterUserPassword together with ManageMasterUserPassword.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=base.key.arn,
            port=PORT,
            db_subnet_group_name=base.subnet_group_name,
            vpc_security_group_ids=[base.security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=cfg.multi_az,
            backup_retention_period=cfg.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=list(EXPORTED_LOGS),
            monitoring_interval=MONITORING_INTERVAL_SECONDS,
            monitoring_role_arn=monitoring_role_arn,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=base.key.arn,
            performance_insights_retention_period=PERFORMANCE_INSIGHTS_RETENTION_DAYS,
            deletion_protection=cfg.deletion_protection,
            # A protected database leaves a final snapshot when it is deleted after all (CKV_AWS_293).
            skip_final_snapshot=not cfg.final_snapshot,
            final_snapshot_identifier=(
                snapshot_suffix.hex.apply(lambda h: f"{identifier}-final-{h}") if cfg.final_snapshot else None
            ),
            tags=tags("db"),
            # The log groups exist first, with retention and KMS: RDS then writes into them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=base.log_groups),
        )

        self.address = instance.address
        self.identifier = instance.identifier
        self.port = PORT
        self.db_name = DB_NAME
        self.username = USERNAME
        self.secret_arn = instance.master_user_secrets.apply(_secret_arn)
        self.secret_kms_key_arn = base.key.arn
        self.security_group_id = base.security_group.id
        self.register_outputs(
            {"address": self.address, "port": self.port, "dbName": self.db_name, "secretArn": self.secret_arn}
        )

    def _monitoring_role(self, name: str, partition: str, tags: dict[str, str]) -> pulumi.Output[str]:
        """The role Enhanced Monitoring publishes OS metrics with (RDS User Guide, "Setting up and enabling
        Enhanced Monitoring": trusted by monitoring.rds.amazonaws.com, AmazonRDSEnhancedMonitoringRole); its ARN."""
        child = pulumi.ResourceOptions(parent=self)
        account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).account_id
        role = aws.iam.Role(
            f"{name}-db-monitoring",
            # Only for this account's instances (confused deputy).
            assume_role_policy=service_trust_policy("monitoring.rds.amazonaws.com", account_id),
            tags=tags,
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-db-monitoring",
            role=role.name,
            policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            opts=child,
        )
        # Handed out once the policy is attached: RDS checks the role when the instance starts using it.
        return pulumi.Output.all(role.arn, attachment.id).apply(lambda v: str(v[0]))
