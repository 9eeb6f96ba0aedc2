"""The rules of `policy/rules/aws_rds.py` on the compliant instance and parameter group: each row one change and the
messages it must produce."""

from __future__ import annotations

from tests.policy.cases.aws_resources import PARAMS, PARAMS_T, RDS, RDS_T
from tests.policy.cases.common import fails, passes, table
from tests.policy.cases.stacks import data_stores, drop, edit, link, rds_params, stack_table
from tests.policy.support import DELETE

CASES = [
    *table(
        RDS_T,
        RDS,
        {
            "aws-rds-instance-enable-storage-encryption": [
                fails("storageEncrypted", False, "storageEncrypted must be true"),
            ],
            "aws-rds-instance-configure-backup-retention": [
                fails("backupRetentionPeriod", 1, "must be >= 7 (got 1)"),
                fails("backupRetentionPeriod", DELETE, "must be >= 7 (got 0)", id="unset"),
                fails(None, None, "must be >= 14 (got 7)", id="configured-minimum", config={"minimumDays": 14}),
            ],
            "aws-rds-instance-enable-deletion-protection": [
                fails("deletionProtection", False, "deletionProtection must be true"),
            ],
            "aws-rds-instance-configure-final-snapshot": [
                fails("skipFinalSnapshot", True, "skipFinalSnapshot must be false"),
                fails("finalSnapshotIdentifier", DELETE, "finalSnapshotIdentifier must be set", id="no-identifier"),
            ],
            "aws-rds-instance-disallow-public-access": [
                fails("publiclyAccessible", True, "publiclyAccessible must be false"),
            ],
            "aws-rds-instance-enable-multi-az": [
                fails("multiAz", False, "multiAz must be true"),
            ],
            "aws-rds-instance-enable-managed-master-password": [
                fails("manageMasterUserPassword", False, "manageMasterUserPassword must be true"),
                fails("manageMasterUserPassword", DELETE, "manageMasterUserPassword must be true", id="unset"),
                fails("masterUserSecretKmsKeyId", DELETE, "masterUserSecretKmsKeyId must name the stack's"),
                fails("password", "generated-by-the-program", "password must be unset"),
                fails("passwordWo", "write-only-still-in-state", "passwordWo must be unset", id="write-only"),
            ],
            "aws-rds-instance-configure-subnet-group": [
                fails("dbSubnetGroupName", DELETE, "dbSubnetGroupName must name a subnet group"),
                fails("vpcSecurityGroupIds", DELETE, "without it the database gets the VPC's default security group"),
            ],
        },
    ),
    *table(
        PARAMS_T,
        PARAMS,
        {
            "aws-rds-parametergroup-enable-force-ssl": [
                fails("parameters.0.value", "0", "rds.force_ssl = 1"),
                fails("parameters", DELETE, "rds.force_ssl = 1", id="no-parameters"),
                passes({"family": "mysql8.0", "parameters": DELETE}, id="not-postgres"),
            ],
        },
    ),
]


# The stack rules: who the database's security groups admit, and the parameter group it really uses.
STACK_CASES = stack_table(
    data_stores,
    {
        "aws-rds-instance-configure-cluster-only-ingress": [
            link("db-from-nodes", "referencedSecurityGroupId", "eks").passes(id="cluster-sg"),
            edit("db-from-nodes", "cidrIpv4", "10.30.0.0/16").fails("db: rule db-from-nodes admits CIDR ranges"),
            link("db-from-nodes", "referencedSecurityGroupId", "alb-sg").fails(
                "db: rule db-from-nodes admits SecurityGroup alb-sg, not the cluster's"
            ),
            # (The engine sends numbers as floats; the message shows them so: "0.0-5432.0".)
            edit("db-from-nodes", "fromPort", 0).fails(
                "db: rule db-from-nodes opens ports 0", "the data store listens on 5432 only"
            ),
            link("db", "vpcSecurityGroupIds").fails("db: vpcSecurityGroupIds are not security groups of this stack"),
        ],
    },
) + stack_table(
    rds_params,
    {
        "aws-rds-instance-enable-force-ssl-parameter-group": [
            link("db", "parameterGroupName").passes(id="linked-by-name"),
            edit("db-params", "parameters.0.value", "0").fails(
                "db: parameterGroupName must be a parameter group with rds.force_ssl = 1"
            ),
            drop("db-params").fails("db: parameterGroupName must be a parameter group with rds.force_ssl = 1"),
            edit("db", "engine", "mysql").passes(id="not-postgres"),
        ],
    },
)
