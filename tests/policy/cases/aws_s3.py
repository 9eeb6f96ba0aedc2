"""The rules of `policy/rules/aws_s3.py` on each compliant companion of a bucket: each row one change and the messages
it must produce. The stack rules over a bucket and its companions are in `stacks.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import (
    BUCKET_ACL_T,
    BUCKET_POLICY,
    BUCKET_POLICY_T,
    BUCKET_T,
    LIFECYCLE,
    LIFECYCLE_T,
    LOG_DELIVERY,
    OWNERSHIP,
    OWNERSHIP_T,
    PAB,
    PAB_T,
    SSE,
    SSE_T,
    TLS_ONLY,
    VERSIONING,
    VERSIONING_T,
)
from tests.policy.cases.common import TAGS, doc, fails, passes, table
from tests.policy.cases.stacks import LINKED_BY_NAME, buckets, drop, edit, stack_table
from tests.policy.support import DELETE

BUCKET = {"bucket": "mlp-prod-artifacts-1a2b3c4", "tags": TAGS}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
# An ACL resource as a bucket owner writes one: full control to the owner's canonical user, nobody else.
BUCKET_ACL = {
    "bucket": "mlp-prod-artifacts-1a2b3c4",
    "accessControlPolicy": {
        "owner": {"id": "abc"},
        "grants": [{"permission": "FULL_CONTROL", "grantee": {"type": "CanonicalUser", "id": "abc"}}],
    },
}

CASES = [
    *table(
        PAB_T,
        PAB,
        {
            "aws-s3-bucketpublicaccessblock-enable-all-flags": [
                fails("restrictPublicBuckets", False, "restrictPublicBuckets must be true"),
                fails("blockPublicAcls", DELETE, "blockPublicAcls must be true", id="unset"),
            ],
        },
    ),
    *table(
        SSE_T,
        SSE,
        {
            "aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key": [
                fails("rules.0.bucketKeyEnabled", False, "bucketKeyEnabled must be true with aws:kms"),
                fails("rules", [], "must set applyServerSideEncryptionByDefault", id="no-rule"),
                passes(
                    {
                        "rules.0.applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"},
                        "rules.0.bucketKeyEnabled": False,
                    },
                    id="sse-s3",
                ),
            ],
        },
    ),
    *table(
        VERSIONING_T,
        VERSIONING,
        {
            "aws-s3-bucketversioning-enable-versioning": [
                fails("versioningConfiguration.status", "Suspended", "got 'Suspended'"),
            ],
        },
    ),
    *table(
        BUCKET_POLICY_T,
        BUCKET_POLICY,
        {
            "aws-s3-bucketpolicy-enable-tls-only": [
                fails("policy", doc(LOG_DELIVERY), "needs a Deny of s3:*"),
                fails("policy", DELETE, "policy is missing or not valid JSON", id="no-document"),
                fails(
                    "policy",
                    doc({**TLS_ONLY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
                    "needs a Deny of s3:*",
                    id="inverted-condition",
                ),
            ],
            "aws-s3-bucketpolicy-disallow-public-principal": [
                passes({"policy": doc(TLS_ONLY, LOG_DELIVERY)}, id="conditioned-service-grant"),
                fails(
                    "policy",
                    doc(
                        TLS_ONLY,
                        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"},
                    ),
                    'Statement[1] allows s3:GetObject to Principal "*"',
                ),
            ],
        },
    ),
    *table(
        OWNERSHIP_T,
        OWNERSHIP,
        {
            "aws-s3-bucketownershipcontrols-configure-bucket-owner-enforced": [
                fails("rule.objectOwnership", "ObjectWriter", "got 'ObjectWriter'"),
            ],
        },
    ),
    *table(
        LIFECYCLE_T,
        LIFECYCLE,
        {
            "aws-s3-bucketlifecycleconfiguration-configure-abort-multipart": [
                fails("rules.0.status", "Disabled", "abortIncompleteMultipartUpload"),
            ],
        },
    ),
    *table(
        BUCKET_T,
        BUCKET,
        {
            "aws-s3-bucket-disallow-public-acl": [
                fails("acl", "public-read", "acl 'public-read' makes the bucket public"),
                passes({"acl": "private"}, id="private"),
                fails(
                    "accessControlPolicy.grants.0.grantee",
                    {"type": "Group", "uri": ALL_USERS},
                    f"grants FULL_CONTROL to {ALL_USERS}",
                    id="grant",
                    on=(BUCKET_ACL_T, BUCKET_ACL),
                ),
            ],
        },
    ),
]


# The stack rules: a bucket and its companions.
COMPANIONS = {
    "aws-s3-bucket-enable-public-access-block": ("public-access", "aws.s3.BucketPublicAccessBlock"),
    "aws-s3-bucket-enable-versioning": ("versioning", "aws.s3.BucketVersioning with status Enabled"),
    "aws-s3-bucket-enable-tls-only-policy": ("policy", "aws.s3.BucketPolicy denying aws:SecureTransport=false"),
    "aws-s3-bucket-configure-bucket-owner-enforced": ("ownership", "aws.s3.BucketOwnershipControls"),
    "aws-s3-bucket-configure-lifecycle": ("lifecycle", "aws.s3.BucketLifecycleConfiguration aborting"),
    "aws-s3-bucket-enable-sse-kms": ("encryption", "aws.s3.BucketServerSideEncryptionConfiguration with aws:kms"),
}
# What breaks the one companion each rule wants, short of dropping it.
BROKEN = {
    "aws-s3-bucket-enable-versioning": ("versioningConfiguration.status", "Suspended"),
    "aws-s3-bucket-enable-tls-only-policy": ("policy", doc(LOG_DELIVERY)),
    "aws-s3-bucket-configure-bucket-owner-enforced": ("rule.objectOwnership", "ObjectWriter"),
    "aws-s3-bucket-configure-lifecycle": ("rules.0.status", "Disabled"),
    "aws-s3-bucket-enable-sse-kms": ("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
}

ROWS = {
    rule: [
        LINKED_BY_NAME.passes(),
        drop(f"access-logs-{companion}").fails(f"bucket access-logs has no {requirement}"),
        drop(f"artifacts-{companion}").fails(f"bucket artifacts has no {requirement}"),
    ]
    + (
        [edit(f"artifacts-{companion}", *BROKEN[rule]).fails(f"bucket artifacts has no {requirement}")]
        if rule in BROKEN
        else []
    )
    for rule, (companion, requirement) in COMPANIONS.items()
}
# Only a bucket receiving access logs may use SSE-S3 (the only kind S3 delivers logs into).
ROWS["aws-s3-bucket-enable-sse-kms"].append(
    drop("artifacts-logging").fails(
        "bucket access-logs has no aws.s3.BucketServerSideEncryptionConfiguration with aws:kms",
        id="log-bucket-without-logs",
    )
)
ROWS["aws-s3-bucket-enable-access-logging"] = [
    LINKED_BY_NAME.passes(),
    # The log bucket is exempt only while it receives logs: without the logging, both buckets lack it.
    drop("artifacts-logging").fails(
        "bucket artifacts has no aws.s3.BucketLogging", "bucket access-logs has no aws.s3.BucketLogging"
    ),
]
STACK_CASES = stack_table(buckets, ROWS)
