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
