"""RDS PostgreSQL (MLflow's backend store): encryption, exposure, the master password, backups and standby, deletion
safety, TLS."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from .base import (
    AVAILABILITY,
    Findings,
    Props,
    get,
    is_true,
    items,
    linked,
    of_type,
    resource_rule,
    stack_rule,
)
from .data_store import data_store_rule
from .shapes import flag_rule, minimum_rule

INSTANCE = "aws:rds/instance:Instance"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"

MIN_BACKUP_DAYS = 7


storage_encryption = flag_rule(
    "aws-rds-instance-enable-storage-encryption",
    "Database storage, backups and snapshots are encrypted at rest.",
    controls=("CKV_AWS_16", "Security Hub RDS.3"),
    types=(INSTANCE,),
    path="storageEncrypted",
)


public_access = flag_rule(
    "aws-rds-instance-disallow-public-access",
    "The database has no public endpoint.",
    controls=("CKV_AWS_17", "Security Hub RDS.2"),
    types=(INSTANCE,),
    path="publiclyAccessible",
    must=False,
)


@resource_rule(
    "aws-rds-instance-configure-subnet-group",
    "The database lives in our private DB subnet group and has its own security groups.",
    controls=("CKV_AWS_17", "Platform baseline: private subnet group"),
    types=(INSTANCE,),
)
def db_subnet_group(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not get(props, "dbSubnetGroupName"):
        yield "dbSubnetGroupName must name a subnet group of private subnets"
    if not items(get(props, "vpcSecurityGroupIds")):
        yield "vpcSecurityGroupIds must be set: without it the database gets the VPC's default security group"


@resource_rule(
    "aws-rds-instance-enable-managed-master-password",
    "RDS generates and rotates the master password in Secrets Manager under a customer key; the program passes none.",
    controls=("Platform baseline: master password managed by RDS in Secrets Manager, out of state",),
    types=(INSTANCE,),
)
def managed_master_password(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(props, "manageMasterUserPassword")):
        yield "manageMasterUserPassword must be true (RDS keeps and rotates the password in Secrets Manager)"
    elif not get(props, "masterUserSecretKmsKeyId"):
        yield "masterUserSecretKmsKeyId must name the stack's customer managed key, not Secrets Manager's default"
    # A password given to the provider is in the state, encrypted or not, the write-only one included
    # (pulumi/pulumi-terraform-bridge#3201).
    for key in ("password", "passwordWo"):
        if get(props, key):
            yield f"{key} must be unset: the provider would keep it in the state"


backup_retention = minimum_rule(
    "aws-rds-instance-configure-backup-retention",
    "Automated backups are kept for at least 7 days.",
    controls=("CKV_AWS_133", "Security Hub RDS.11"),
    types=(INSTANCE,),
    path="backupRetentionPeriod",
    setting="minimumDays",
    default=MIN_BACKUP_DAYS,
    description="Fewest backup days.",
    absent=0,
)


@resource_rule(
    "aws-rds-instance-configure-final-snapshot",
    "Deleting the database leaves a final snapshot.",
    controls=("CKV_AWS_293", "Platform baseline: final snapshot outside dev"),
    types=(INSTANCE,),
    category=AVAILABILITY,
)
def final_snapshot(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(props, "skipFinalSnapshot")):
        yield "skipFinalSnapshot must be false"
    elif not get(props, "finalSnapshotIdentifier"):
        yield "finalSnapshotIdentifier must be set (without it a delete fails or loses the data)"


multi_az = flag_rule(
    "aws-rds-instance-enable-multi-az",
    "The database has a synchronous standby in another zone.",
    controls=("CKV_AWS_157", "Security Hub RDS.5"),
    types=(INSTANCE,),
    path="multiAz",
    category=AVAILABILITY,
)


deletion_protection = flag_rule(
    "aws-rds-instance-enable-deletion-protection",
    "The database cannot be deleted until deletion protection is turned off.",
    controls=("CKV_AWS_293", "Security Hub RDS.8"),
    types=(INSTANCE,),
    path="deletionProtection",
    category=AVAILABILITY,
)


def forces_ssl(props: Props) -> bool:
    return any(
        get(p, "name") == "rds.force_ssl" and str(get(p, "value")) == "1" for p in items(get(props, "parameters"))
    )


@resource_rule(
    "aws-rds-parametergroup-enable-force-ssl",
    "PostgreSQL parameter groups set rds.force_ssl = 1, so the server refuses clients without TLS.",
    controls=("CKV2_AWS_69",),
    types=(PARAMETER_GROUP,),
)
def force_ssl(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(props, "family", "")).startswith("postgres") and not forces_ssl(props):
        yield "parameters must include rds.force_ssl = 1"


# ---------------------------------------------------------------------------------------------------------- stack rules


rds_cluster_only = data_store_rule(
    "aws-rds-instance-configure-cluster-only-ingress",
    "The database's security groups admit 5432 from the cluster's (node or cluster) security group only.",
    ("CKV_AWS_17", "Platform baseline: 5432 only from the cluster/node security group"),
    INSTANCE,
    "vpcSecurityGroupIds",
    5432,
)


@stack_rule(
    "aws-rds-instance-enable-force-ssl-parameter-group",
    "Every PostgreSQL instance uses a parameter group of this stack that sets rds.force_ssl = 1.",
    controls=("CKV2_AWS_69",),
)
def rds_force_ssl(args: StackValidationArgs) -> Findings:
    for instance in of_type(args.resources, INSTANCE):
        if not str(get(instance.props, "engine", "")).startswith("postgres"):
            continue
        groups = [
            g for g in of_type(args.resources, PARAMETER_GROUP) if linked(instance, "parameterGroupName", g, "name")
        ]
        if not any(forces_ssl(g.props) for g in groups):
            yield f"{instance.name}: parameterGroupName must be a parameter group with rds.force_ssl = 1", instance.urn
