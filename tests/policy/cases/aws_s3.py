"""Passing and failing cases for the rules of `policy/rules/aws_s3.py`."""

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
from tests.policy.cases.common import TAGS, Case, doc
from tests.policy.support import changed

CASES = [
    Case("aws-s3-bucketpublicaccessblock-enable-all-flags", PAB_T, PAB),
    Case(
        "aws-s3-bucketpublicaccessblock-enable-all-flags",
        PAB_T,
        changed(PAB, {"restrictPublicBuckets": False}),
        "restrictPublicBuckets must be true",
    ),
    Case("aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key", SSE_T, SSE),
    Case(
        "aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key",
        SSE_T,
        changed(SSE, {"rules.0.bucketKeyEnabled": False}),
        "bucketKeyEnabled must be true with aws:kms",
    ),
    Case(
        "aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key",
        SSE_T,
        changed(SSE, {"rules": []}),
        "must set applyServerSideEncryptionByDefault",
        id="no-rule",
    ),
    Case("aws-s3-bucketversioning-enable-versioning", VERSIONING_T, VERSIONING),
    Case(
        "aws-s3-bucketversioning-enable-versioning",
        VERSIONING_T,
        changed(VERSIONING, {"versioningConfiguration.status": "Suspended"}),
        "got 'Suspended'",
    ),
    Case("aws-s3-bucketpolicy-enable-tls-only", BUCKET_POLICY_T, BUCKET_POLICY),
    Case(
        "aws-s3-bucketpolicy-enable-tls-only",
        BUCKET_POLICY_T,
        changed(BUCKET_POLICY, {"policy": doc(LOG_DELIVERY)}),
        "needs a Deny of s3:*",
    ),
    Case(
        "aws-s3-bucketpolicy-enable-tls-only",
        BUCKET_POLICY_T,
        changed(BUCKET_POLICY, {"policy": doc({**TLS_ONLY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}),
        "needs a Deny of s3:*",
        id="inverted-condition",
    ),
    Case(
        "aws-s3-bucketpolicy-disallow-public-principal",
        BUCKET_POLICY_T,
        changed(BUCKET_POLICY, {"policy": doc(TLS_ONLY, LOG_DELIVERY)}),
    ),
    Case(
        "aws-s3-bucketpolicy-disallow-public-principal",
        BUCKET_POLICY_T,
        changed(
            BUCKET_POLICY,
            {
                "policy": doc(
                    TLS_ONLY, {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}
                )
            },
        ),
        'Statement[1] allows s3:GetObject to Principal "*"',
    ),
    Case("aws-s3-bucketownershipcontrols-configure-bucket-owner-enforced", OWNERSHIP_T, OWNERSHIP),
    Case(
        "aws-s3-bucketownershipcontrols-configure-bucket-owner-enforced",
        OWNERSHIP_T,
        changed(OWNERSHIP, {"rule.objectOwnership": "ObjectWriter"}),
        "got 'ObjectWriter'",
    ),
    Case("aws-s3-bucketlifecycleconfiguration-configure-abort-multipart", LIFECYCLE_T, LIFECYCLE),
    Case(
        "aws-s3-bucketlifecycleconfiguration-configure-abort-multipart",
        LIFECYCLE_T,
        changed(LIFECYCLE, {"rules.0.status": "Disabled"}),
        "abortIncompleteMultipartUpload",
    ),
    Case("aws-s3-bucket-disallow-public-acl", BUCKET_T, {"tags": TAGS}),
    Case(
        "aws-s3-bucket-disallow-public-acl", BUCKET_T, {"acl": "public-read", "tags": TAGS}, "makes the bucket public"
    ),
    Case(
        "aws-s3-bucket-disallow-public-acl",
        BUCKET_ACL_T,
        {
            "bucket": "mlp-prod-artifacts-1a2b3c4",
            "accessControlPolicy": {
                "owner": {"id": "abc"},
                "grants": [
                    {
                        "permission": "READ",
                        "grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
                    }
                ],
            },
        },
        "grants READ to http://acs.amazonaws.com/groups/global/AllUsers",
        id="grant",
    ),
]
