"""The MLflow artifact store: a private, KMS-encrypted, versioned S3 bucket with access logs kept in a second bucket.

The second bucket also receives the ALBs' access logs (under `alb/`), so every stack has them without more config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import ArtifactsConfig
from infra.security import rotating_key

# Parts of uploads abandoned this long are dropped: they are billed but invisible in listings.
ABORT_INCOMPLETE_UPLOADS_DAYS = 7
# Where the ALBs write their access logs in the access-log bucket (each Ingress below it, e.g. alb/inference).
ALB_LOG_PREFIX = "alb"
# Who writes ALB access logs depends on the Region's age (ELB User Guide, "Enable access logs for your Application
# Load Balancer", step 2): in Regions available before August 2022, the Region's Elastic Load Balancing account;
# in later ones, the log-delivery service principal. These are the older Regions, the ones
# `aws.elb.get_service_account` knows (terraform-provider-aws internal/service/elb/service_account_data_source.go,
# which refuses any other Region).
ELB_ACCOUNT_REGIONS = frozenset(
    """
    af-south-1 ap-east-1 ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-south-1 ap-southeast-1 ap-southeast-2
    ap-southeast-3 ca-central-1 cn-north-1 cn-northwest-1 eu-central-1 eu-north-1 eu-south-1 eu-west-1 eu-west-2
    eu-west-3 me-south-1 sa-east-1 us-east-1 us-east-2 us-gov-east-1 us-gov-west-1 us-west-1 us-west-2
""".split()
)
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
# Where the NLB (ingress.controller nginx, infra/nginx.py) writes its access logs; CloudWatch's log-delivery
# service writes them (ELB guide, "Access logs for your Network Load Balancer", bucket policy).
NLB_LOG_PREFIX = "nlb"
LOG_DELIVERY = "delivery.logs.amazonaws.com"


def alb_access_log_statement(bucket_arn: str, account_id: str, elb_account_arn: str | None) -> dict[str, Any]:
    """Let Elastic Load Balancing write this account's ALB logs under `alb/`: as the Region's ELB account when
    `elb_account_arn` is given (older Regions), else as the log-delivery service principal."""
    statement: dict[str, Any] = {"Sid": "AlbAccessLogs", "Effect": "Allow", "Action": "s3:PutObject"}
    if elb_account_arn is None:
        return statement | {
            "Principal": {"Service": ELB_LOG_DELIVERY},
            "Resource": f"{bucket_arn}/{ALB_LOG_PREFIX}/*",
            # Only this account's load balancers: no other account can write logs here.
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    # The ELB account writes for every customer in the Region and carries no aws:SourceAccount: the key names
    # the account instead (<prefix>/AWSLogs/<account>/...), as the guide's policy for these Regions does.
    return statement | {
        "Principal": {"AWS": elb_account_arn},
        "Resource": f"{bucket_arn}/{ALB_LOG_PREFIX}/*/AWSLogs/{account_id}/*",
    }


def nlb_access_log_statements(bucket_arn: str, account_id: str) -> list[dict[str, Any]]:
    """Let the log-delivery service write this account's NLB logs under `nlb/` and check the bucket's ACL, as the
    ELB guide's NLB bucket policy does; present on every stack, so choosing the controller never touches it."""
    source = {"aws:SourceAccount": account_id}
    return [
        {
            "Sid": "NlbAccessLogsWrite",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{NLB_LOG_PREFIX}/*/AWSLogs/{account_id}/*",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
        },
        {
            "Sid": "NlbAccessLogsAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": source},
        },
    ]


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny every request not made over TLS (S3.5); a Deny, so `s3:*` here widens nothing."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


@dataclass(frozen=True)
class ArtifactStoreArgs:
    config: ArtifactsConfig
    # Decides who delivers ALB access logs (ELB_ACCOUNT_REGIONS).
    region: str
    tags: dict[str, str]
    # teardown.allowDataLoss: a destroy deletes the buckets with every object version in them.
    force_destroy: bool = False


class ArtifactStore(pulumi.ComponentResource):
    """The artifact bucket (SSE-KMS with bucket key, versioned, TLS only, owner-enforced, logged) and its log bucket."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    # Available once the bucket's policy admits S3 and ALB log delivery: an ALB configured with it before then
    # would fail its access-log check.
    access_log_bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:ArtifactStore", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        account_id = aws.get_caller_identity(opts=invoke).account_id
        elb_account_arn = (
            aws.elb.get_service_account(region=args.region, opts=invoke).arn
            if args.region in ELB_ACCOUNT_REGIONS
            else None
        )

        def tags(suffix: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}"}

        key = rotating_key(
            f"{name}-artifacts-key",
            description=f"Encryption of the MLflow artifacts of {name}",
            tags=args.tags,
            parent=self,
            services=("s3",),
        )
        bucket = aws.s3.Bucket(
            f"{name}-artifacts", force_destroy=args.force_destroy, tags=tags("artifacts"), opts=child
        )
        log_bucket = aws.s3.Bucket(
            f"{name}-access-logs", force_destroy=args.force_destroy, tags=tags("access-logs"), opts=child
        )

        # S3 server access logging and ALB access logs cannot deliver into an SSE-KMS bucket: it uses SSE-S3.
        log_bucket_ready = self._harden(
            f"{name}-access-logs",
            log_bucket,
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            ),
            expire_after_days=cfg.access_log_retention_days,
            # Logs are never overwritten: their only noncurrent versions are the ones expiry just replaced.
            noncurrent_days=1,
            extra_statements=pulumi.Output.all(bucket.arn, log_bucket.arn).apply(
                lambda arns: [
                    {
                        "Sid": "S3ServerAccessLogs",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{arns[1]}/artifacts/*",
                        "Condition": {
                            "ArnLike": {"aws:SourceArn": arns[0]},
                            "StringEquals": {"aws:SourceAccount": account_id},
                        },
                    },
                    alb_access_log_statement(arns[1], account_id, elb_account_arn),
                    *nlb_access_log_statements(arns[1], account_id),
                ]
            ),
        )
        self._harden(
            f"{name}-artifacts",
            bucket,
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=key.arn
            ),
            expire_after_days=None,
            noncurrent_days=cfg.noncurrent_version_days,
        )
        # The log bucket's policy must admit the logging service before logging is switched on.
        aws.s3.BucketLogging(
            f"{name}-artifacts-logging",
            bucket=bucket.id,
            target_bucket=log_bucket.id,
            target_prefix="artifacts/",
            opts=pulumi.ResourceOptions(parent=self, depends_on=log_bucket_ready),
        )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.kms_key_arn = key.arn
        self.access_log_bucket_name = pulumi.Output.all(log_bucket.bucket, *[r.urn for r in log_bucket_ready]).apply(
            lambda v: str(v[0])
        )
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "kmsKeyArn": self.kms_key_arn,
                "accessLogBucketName": self.access_log_bucket_name,
            }
        )

    def _harden(
        self,
        prefix: str,
        bucket: aws.s3.Bucket,
        encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs,
        *,
        expire_after_days: int | None,
        noncurrent_days: int,
        extra_statements: pulumi.Output[list[dict[str, Any]]] | None = None,
    ) -> list[pulumi.Resource]:
        """Every control a bucket of this stack carries; returns what must exist before the bucket is used."""
        child = pulumi.ResourceOptions(parent=self)
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{prefix}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{prefix}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        encryption_config = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{prefix}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=encryption,
                    # One data key per bucket instead of per object: fewer KMS calls, same protection.
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{prefix}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        everything = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="abort-incomplete-multipart-uploads",
                status="Enabled",
                filter=everything,
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
                ),
            ),
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=everything,
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=noncurrent_days
                ),
            ),
        ]
        if expire_after_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-objects",
                    status="Enabled",
                    filter=everything,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_after_days),
                )
            )
        # Lifecycle rules on a versioned bucket are validated against its versioning state.
        aws.s3.BucketLifecycleConfiguration(
            f"{prefix}-lifecycle",
            bucket=bucket.id,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

        def document(args: list[Any]) -> str:
            arn, extra = args[0], args[1] or []
            return json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(arn), *extra]})

        policy = aws.s3.BucketPolicy(
            f"{prefix}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, extra_statements).apply(document),
            # S3 rejects concurrent configuration calls on one bucket (OperationAborted).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )
        return [public_access, ownership, encryption_config, versioning, policy]
