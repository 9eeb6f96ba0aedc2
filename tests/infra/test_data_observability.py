"""What the data stores tell an operator, and how it is kept: RDS exports its PostgreSQL and upgrade logs, sends
OS metrics (Enhanced Monitoring) and Performance Insights (KMS-encrypted); ElastiCache delivers its slow log;
every log group the stack creates is KMS-encrypted with a key whose policy admits CloudWatch Logs for that group;
every KMS key carries an explicit key policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError
from tests.infra.harness import ACCOUNT_ID, REGION, Recording, Resource, run_stack

DB = "aws:rds/instance:Instance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY = "aws:kms/key:Key"
RETENTION = {"dev": 30, "staging": 90, "prod": 365}


def key_with_arn(rec: Recording, arn: str) -> Resource:
    (key,) = [k for k in rec.find(KEY) if k.outputs["arn"] == arn]
    return key


def statements(key: Resource) -> list[dict[str, Any]]:
    return list(json.loads(key.inputs["policy"])["Statement"])


def test_rds_exports_its_postgresql_and_upgrade_logs_into_retained_encrypted_groups_made_first(
    recording: Recording,
) -> None:
    """RDS User Guide, "Publishing PostgreSQL logs to Amazon CloudWatch Logs": the exportable types are
    `postgresql` and `upgrade`, written to /aws/rds/instance/<DB instance identifier>/<log type>; RDS creates
    that group itself (no retention, no KMS) unless it exists, so the program creates it first."""
    db = recording.one(DB)
    identifier = db.inputs["identifier"]
    assert identifier == f"mlp-{recording.stack}-mlflow"
    # Log groups are named after it before it exists: a name the program decides, not Pulumi's autoname.
    assert db.inputs["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    groups = {g.inputs["name"]: g for g in recording.find(LOG_GROUP)}
    for log in ("postgresql", "upgrade"):
        group = groups[f"/aws/rds/instance/{identifier}/{log}"]
        assert group.inputs["retentionInDays"] == RETENTION[recording.stack]
        assert group.urn in db.dependencies
        assert group.inputs["kmsKeyId"]


def test_rds_has_enhanced_monitoring_through_its_own_role(recording: Recording) -> None:
    """RDS User Guide, "Setting up and enabling Enhanced Monitoring": MonitoringInterval > 0 needs a
    MonitoringRoleArn trusted by monitoring.rds.amazonaws.com with the AmazonRDSEnhancedMonitoringRole policy."""
    db = recording.one(DB).inputs
    assert db["monitoringInterval"] == 60
    role = recording.one("aws:iam/role:Role", f"mlp-{recording.stack}-db-monitoring")
    assert db["monitoringRoleArn"] == role.outputs["arn"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    (attachment,) = [
        a
        for a in recording.find("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == role.outputs["name"]
    ]
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def test_rds_performance_insights_is_encrypted_with_the_databases_key(recording: Recording) -> None:
    """pulumi-aws rds.Instance `performance_insights_kms_key_id` ("Once KMS key is set, it can never be
    changed"): set from the first `up`, the database's own customer key; 7 days is the free retention."""
    db = recording.one(DB).inputs
    assert db["performanceInsightsEnabled"] is True
    assert db["performanceInsightsRetentionPeriod"] == 7
    assert db["performanceInsightsKmsKeyId"] == db["kmsKeyId"]


def test_the_cache_delivers_its_slow_log_to_a_retained_encrypted_group(recording: Recording) -> None:
    """ElastiCache User Guide, "Log delivery": LogDeliveryConfigurations with LogType slow-log, DestinationType
    cloudwatch-logs and the log group's name as the destination (pulumi-aws ReplicationGroup
    `log_delivery_configurations`)."""
    (delivery,) = recording.one(CACHE).inputs["logDeliveryConfigurations"]
    group = recording.one(LOG_GROUP, f"mlp-{recording.stack}-redis-slow-log")
    assert delivery == {
        "destinationType": "cloudwatch-logs",
        "destination": group.outputs["name"],
        "logFormat": "json",
        "logType": "slow-log",
    }
    assert group.inputs["retentionInDays"] == RETENTION[recording.stack]


def test_every_log_group_is_encrypted_with_a_key_that_admits_cloudwatch_logs_for_it(recording: Recording) -> None:
    """CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS": the key policy must allow
    `logs.<region>.amazonaws.com` kms:Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey*, Describe*, and the
    `kms:EncryptionContext:aws:logs:arn` condition limits it to the log group's ARN; without that grant,
    associating the key fails."""
    groups = recording.find(LOG_GROUP)
    assert len(groups) >= 5
    for group in groups:
        assert group.inputs.get("kmsKeyId"), f"{group.name} is not KMS-encrypted"
        key = key_with_arn(recording, group.inputs["kmsKeyId"])
        (grant,) = [s for s in statements(key) if s["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}]
        assert set(grant["Action"]) == {
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        }
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group.inputs['name']}"
        assert arn in grant["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]


def test_every_kms_key_has_an_explicit_policy_the_account_administers(recording: Recording) -> None:
    """AWS KMS Developer Guide, "Default key policy": a key without a policy gets one that delegates everything
    to the account; written out, a review sees it, and the services that use the key are named (kms:ViaService,
    "AWS KMS condition keys") or admitted by service principal (CloudWatch Logs)."""
    keys = recording.find(KEY)
    for key in keys:
        assert key.inputs.get("policy"), f"{key.name} has no explicit key policy"
        found = statements(key)
        root = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
        assert [s["Action"] for s in found if s["Principal"] == root and s["Action"] == "kms:*"] == ["kms:*"]
        # Nothing outside the account: every principal is the account, or an AWS service bound by a condition.
        for s in found:
            assert s["Principal"] == root or "Condition" in s, f"{key.name}: {s}"
        assert len(found) >= 2, f"{key.name}: no service is named as the key's user"
    via = {
        key.name: [
            s["Condition"]["StringEquals"]["kms:ViaService"]
            for s in statements(key)
            if "StringEquals" in s.get("Condition", {})
        ]
        for key in keys
    }
    # RDS encrypts the instance with it, Secrets Manager the master user secret RDS keeps (infra/database.py).
    assert via[f"mlp-{recording.stack}-db-key"] == [
        [f"rds.{REGION}.amazonaws.com", f"secretsmanager.{REGION}.amazonaws.com"]
    ]
    assert via[f"mlp-{recording.stack}-redis-key"] == [[f"elasticache.{REGION}.amazonaws.com"]]


def test_a_database_created_under_an_autoname_keeps_it_and_its_log_groups_follow() -> None:
    """A changed `identifier` renames the instance, endpoint included (terraform-provider-aws
    internal/service/rds/instance.go: `d.HasChange("identifier")` sends ModifyDBInstance NewDBInstanceIdentifier):
    a database created while the program autonamed it (e.g. mlp-staging-db-3f2a1c9) keeps its identifier through
    database.identifier, and the log groups RDS writes to (/aws/rds/instance/<identifier>/<log>) follow it."""
    rec = run_stack("staging", {"platform:database.identifier": "mlp-staging-db-3f2a1c9"})
    assert rec.one(DB).inputs["identifier"] == "mlp-staging-db-3f2a1c9"
    names = {g.inputs["name"] for g in rec.find(LOG_GROUP)}
    assert {
        "/aws/rds/instance/mlp-staging-db-3f2a1c9/postgresql",
        "/aws/rds/instance/mlp-staging-db-3f2a1c9/upgrade",
    } <= names
    with pytest.raises(ConfigError, match="database.identifier must be an RDS instance identifier"):
        run_stack("staging", {"platform:database.identifier": "Bad--Name"})
