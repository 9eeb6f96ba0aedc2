"""MLflow's stores: the S3 artifact bucket (and its access-log bucket) and the RDS PostgreSQL backend store."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.harness import Recording, Resource

BUCKET = "aws:s3/bucket:Bucket"
DB = "aws:rds/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

RETENTION = {  # stack: (noncurrent artifact version days, access-log days)
    "dev": (30, 90),
    "staging": (90, 365),
    "prod": (90, 365),
}
DATABASE = {  # stack: (instance class, Multi-AZ, deletion protection, backup days)
    "dev": ("db.t4g.micro", False, False, 7),
    "staging": ("db.t4g.medium", True, True, 7),
    "prod": ("db.m7g.large", True, True, 14),
}


def buckets(rec: Recording) -> tuple[Resource, Resource]:
    """(artifact bucket, access-log bucket)."""
    found = {b.name.rsplit("-", 1)[-1]: b for b in rec.find(BUCKET)}
    return found["artifacts"], found["logs"]


def config_of(rec: Recording, type_: str, bucket: Resource) -> dict[str, Any]:
    """The one bucket-level configuration resource of `type_` attached to `bucket`."""
    (found,) = [r for r in rec.find(type_) if r.inputs["bucket"] == bucket.id]
    return found.inputs


def policy_of(rec: Recording, bucket: Resource) -> dict[str, Any]:
    return json.loads(config_of(rec, "aws:s3/bucketPolicy:BucketPolicy", bucket)["policy"])


def test_both_buckets_block_every_kind_of_public_access(recording: Recording) -> None:
    for bucket in buckets(recording):
        block = config_of(recording, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        assert {k: v for k, v in block.items() if k != "bucket"} == {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        }
        ownership = config_of(recording, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_artifacts_are_encrypted_with_a_rotating_kms_key_and_a_bucket_key(recording: Recording) -> None:
    artifacts, _ = buckets(recording)
    key = recording.within("platform:index:ArtifactStore").one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    sse = config_of(
        recording, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", artifacts
    )
    (rule,) = sse["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    assert rule["bucketKeyEnabled"] is True


def test_access_logs_use_sse_s3_because_s3_logging_cannot_write_sse_kms(recording: Recording) -> None:
    _, logs = buckets(recording)
    sse = config_of(
        recording, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", logs
    )
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_both_buckets_are_versioned_and_deny_plain_http(recording: Recording) -> None:
    for bucket in buckets(recording):
        versioning = config_of(recording, "aws:s3/bucketVersioning:BucketVersioning", bucket)
        assert versioning["versioningConfiguration"] == {"status": "Enabled"}
        deny = policy_of(recording, bucket)["Statement"][0]
        assert deny == {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket.outputs["arn"], f"{bucket.outputs['arn']}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }


def test_artifact_bucket_policy_grants_nothing(recording: Recording) -> None:
    artifacts, _ = buckets(recording)
    assert [s["Effect"] for s in policy_of(recording, artifacts)["Statement"]] == ["Deny"]


def test_artifact_access_is_logged_to_the_log_bucket_and_only_s3_logging_may_write_there(
    recording: Recording,
) -> None:
    artifacts, logs = buckets(recording)
    logging = config_of(recording, "aws:s3/bucketLogging:BucketLogging", artifacts)
    assert logging["targetBucket"] == logs.id and logging["targetPrefix"] == "artifacts/"
    allows = {s["Sid"]: s for s in policy_of(recording, logs)["Statement"] if s["Effect"] == "Allow"}
    assert set(allows) == {"S3ServerAccessLogs", "AlbAccessLogs", "NlbAccessLogsWrite", "NlbAccessLogsAclCheck"}
    allow = allows["S3ServerAccessLogs"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == f"{logs.outputs['arn']}/artifacts/*"
    assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": artifacts.outputs["arn"]}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_only_this_accounts_load_balancers_may_write_alb_logs_and_only_under_alb(recording: Recording) -> None:
    """Every stack file is in us-east-1, where the Region's ELB account delivers the logs: the key, not a
    condition, limits it to this account's (tests/infra/test_rehearsal_addons.py covers newer Regions)."""
    _, logs = buckets(recording)
    (alb,) = [s for s in policy_of(recording, logs)["Statement"] if s.get("Sid") == "AlbAccessLogs"]
    assert alb["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}
    assert alb["Action"] == "s3:PutObject"
    assert alb["Resource"] == f"{logs.outputs['arn']}/alb/*/AWSLogs/123456789012/*"
    assert "Condition" not in alb


def test_every_alb_logs_to_the_access_log_bucket_once_its_policy_admits_elb(recording: Recording) -> None:
    """No ingress.accessLogsBucket in any stack file: access logs are on by default, under alb/."""
    _, logs = buckets(recording)
    policy = recording.one("aws:s3/bucketPolicy:BucketPolicy", f"mlp-{recording.stack}-access-logs-policy")
    assert recording.config["platform:ingress.accessLogsBucket"] == ""
    for ingress in recording.find("kubernetes:networking.k8s.io/v1:Ingress"):
        annotations = ingress.inputs["metadata"]["annotations"]
        attributes = dict(
            kv.split("=", 1) for kv in annotations["alb.ingress.kubernetes.io/load-balancer-attributes"].split(",")
        )
        assert attributes["access_logs.s3.enabled"] == "true"
        assert attributes["access_logs.s3.bucket"] == logs.outputs["bucket"]
        assert attributes["access_logs.s3.prefix"].startswith("alb/")
        # The ALB's access-log check fails unless the bucket policy already admits ELB log delivery.
        assert recording.depends_on(ingress, policy), ingress.name
    assert not any("accessLogsBucket" in w for w in recording.warnings)


def test_lifecycle_aborts_stale_uploads_and_expires_old_versions(recording: Recording) -> None:
    noncurrent_days, log_days = RETENTION[recording.stack]
    artifacts, logs = buckets(recording)
    rules = {
        r["id"]: r
        for r in config_of(recording, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", artifacts)[
            "rules"
        ]
    }
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": noncurrent_days}
    assert "expire-objects" not in rules  # artifacts are kept; only superseded versions go
    assert all(r["status"] == "Enabled" for r in rules.values())
    log_rules = {
        r["id"]: r
        for r in config_of(recording, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", logs)["rules"]
    }
    assert log_rules["expire-objects"]["expiration"] == {"days": log_days}
    assert "abort-incomplete-multipart-uploads" in log_rules


def test_bucket_name_and_key_are_exported_for_mlflow(recording: Recording) -> None:
    artifacts, _ = buckets(recording)
    assert recording.exports["artifactBucket"] == artifacts.outputs["bucket"]


def database(rec: Recording) -> Resource:
    return rec.one(DB)


def test_postgres_storage_is_encrypted_with_a_rotating_key(recording: Recording) -> None:
    db = database(recording).inputs
    key = recording.within("platform:index:Database").one("aws:kms/key:Key", f"mlp-{recording.stack}-db-key")
    assert db["engine"] == "postgres"
    assert db["storageEncrypted"] is True and db["kmsKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True


def test_postgres_availability_backups_and_deletion_follow_the_stack(recording: Recording) -> None:
    instance_class, multi_az, protected, backup_days = DATABASE[recording.stack]
    db = database(recording).inputs
    assert db["instanceClass"] == instance_class
    assert db["multiAz"] is multi_az
    assert db["backupRetentionPeriod"] == backup_days >= 7
    assert db["deletionProtection"] is protected
    assert db["skipFinalSnapshot"] is (not protected)
    if protected:
        suffix = recording.one("random:index/randomId:RandomId").outputs["hex"]
        assert db["finalSnapshotIdentifier"] == f"mlp-{recording.stack}-mlflow-final-{suffix}"


def test_postgres_is_private_and_admits_only_the_nodes_on_5432(recording: Recording) -> None:
    db = database(recording).inputs
    assert db["publiclyAccessible"] is False
    subnet_group = recording.one("aws:rds/subnetGroup:SubnetGroup")
    assert subnet_group.inputs["subnetIds"] == recording.exports["dataSubnetIds"]
    assert not set(subnet_group.inputs["subnetIds"]) & set(recording.exports["privateSubnetIds"])
    assert db["dbSubnetGroupName"] == subnet_group.outputs["name"]
    security_group = recording.within("platform:index:Database").one("aws:ec2/securityGroup:SecurityGroup")
    node_sg = recording.one("aws:ec2/securityGroup:SecurityGroup", f"mlp-{recording.stack}-node-sg")
    assert db["vpcSecurityGroupIds"] == [security_group.id]
    (rule,) = [r for r in recording.find(INGRESS) if r.inputs["securityGroupId"] == security_group.id]
    assert (rule.inputs["referencedSecurityGroupId"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
        node_sg.id,
        5432,
        5432,
    )
    assert rule.inputs["ipProtocol"] == "tcp"


def test_postgres_refuses_connections_without_tls(recording: Recording) -> None:
    params = recording.one("aws:rds/parameterGroup:ParameterGroup")
    assert params.inputs["family"] == "postgres17"
    assert {p["name"]: p["value"] for p in params.inputs["parameters"]}["rds.force_ssl"] == "1"
    assert database(recording).inputs["parameterGroupName"] == params.outputs["name"]


def test_postgres_master_user_is_mlflow_and_its_password_rds_managed(recording: Recording) -> None:
    """The password itself: tests/infra/test_database_secret.py."""
    db = database(recording)
    assert db.inputs["manageMasterUserPassword"] is True and "password" not in db.inputs
    assert db.inputs["username"] == "mlflow" and db.inputs["dbName"] == "mlflow"


def test_rds_endpoint_is_exported(recording: Recording) -> None:
    assert recording.exports["rdsEndpoint"] == database(recording).outputs["address"]
    assert recording.exports["rdsPort"] == 5432
