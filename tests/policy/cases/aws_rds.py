"""Passing and failing cases for the rules of `policy/rules/aws_rds.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import PARAMS, PARAMS_T, RDS, RDS_T
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
    Case("aws-rds-instance-enable-storage-encryption", RDS_T, RDS),
    Case(
        "aws-rds-instance-enable-storage-encryption",
        RDS_T,
        changed(RDS, {"storageEncrypted": False}),
        "storageEncrypted must be true",
    ),
    Case("aws-rds-instance-configure-backup-retention", RDS_T, RDS),
    Case(
        "aws-rds-instance-configure-backup-retention",
        RDS_T,
        changed(RDS, {"backupRetentionPeriod": 1}),
        "must be >= 7 (got 1)",
    ),
    Case(
        "aws-rds-instance-configure-backup-retention",
        RDS_T,
        RDS,
        "must be >= 14 (got 7)",
        config={"minimumDays": 14},
        id="configured-minimum",
    ),
    Case("aws-rds-instance-enable-deletion-protection", RDS_T, RDS),
    Case(
        "aws-rds-instance-enable-deletion-protection",
        RDS_T,
        changed(RDS, {"deletionProtection": False}),
        "deletionProtection must be true",
    ),
    Case("aws-rds-instance-configure-final-snapshot", RDS_T, RDS),
    Case(
        "aws-rds-instance-configure-final-snapshot",
        RDS_T,
        changed(RDS, {"skipFinalSnapshot": True, "finalSnapshotIdentifier": DELETE}),
        "skipFinalSnapshot must be false",
    ),
    Case(
        "aws-rds-instance-configure-final-snapshot",
        RDS_T,
        changed(RDS, {"finalSnapshotIdentifier": DELETE}),
        "finalSnapshotIdentifier must be set",
        id="no-identifier",
    ),
    Case("aws-rds-instance-disallow-public-access", RDS_T, RDS),
    Case(
        "aws-rds-instance-disallow-public-access",
        RDS_T,
        changed(RDS, {"publiclyAccessible": True}),
        "publiclyAccessible must be false",
    ),
    Case("aws-rds-instance-enable-multi-az", RDS_T, RDS),
    Case("aws-rds-instance-enable-multi-az", RDS_T, changed(RDS, {"multiAz": False}), "multiAz must be true"),
    Case("aws-rds-instance-configure-subnet-group", RDS_T, RDS),
    Case(
        "aws-rds-instance-configure-subnet-group",
        RDS_T,
        changed(RDS, {"dbSubnetGroupName": DELETE}),
        "dbSubnetGroupName must name a subnet group",
    ),
    Case("aws-rds-parametergroup-enable-force-ssl", PARAMS_T, PARAMS),
    Case(
        "aws-rds-parametergroup-enable-force-ssl",
        PARAMS_T,
        changed(PARAMS, {"parameters": [{"name": "rds.force_ssl", "value": "0"}]}),
        "rds.force_ssl = 1",
    ),
]
