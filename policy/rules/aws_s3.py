"""S3: the bucket's companion resources (pulumi-aws 7 splits a bucket's settings into separate resources).

A section per kind of companion: the resource rule saying what a good one is, then the stack rule saying that every
bucket has one (judged by that resource rule, citing its controls). The bucket's own ACL rule and the stack rules'
machinery come first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from .base import (
    Findings,
    Props,
    ResourceRule,
    StackRule,
    as_list,
    get,
    is_true,
    items,
    json_document,
    linked,
    number,
    of_type,
    resource_rule,
    stack_rule,
)
from .shapes import value_rule

BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
OWNERSHIP = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)
LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
ACL = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _log_targets(resources: Sequence[PolicyResource], buckets: Sequence[PolicyResource]) -> set[str]:
    """URNs of the buckets that receive another bucket's server access logs."""
    targets = set()
    for logging in of_type(resources, *LOGGING):
        for bucket in buckets:
            if linked(logging, "targetBucket", bucket, "bucket"):
                targets.add(bucket.urn)
    return targets


def _companions(
    resources: Sequence[PolicyResource], bucket: PolicyResource, types: Collection[str]
) -> list[PolicyResource]:
    return [c for c in of_type(resources, *types) if linked(c, "bucket", bucket, "bucket")]


def _bucket_rule(
    name: str,
    summary: str,
    controls: Sequence[str],
    types: Collection[str],
    requirement: str,
    *,
    satisfied: Callable[[PolicyResource, bool], bool] = lambda companion, is_log_target: True,
    skip_log_targets: bool = False,
) -> StackRule:
    """A stack rule: every bucket has a companion of `types` that `satisfied` accepts (given the companion and
    whether the bucket receives another's access logs)."""

    @stack_rule(name, summary, controls=controls)
    def check(args: StackValidationArgs) -> Findings:
        buckets = of_type(args.resources, *BUCKET)
        log_targets = _log_targets(args.resources, buckets)
        for bucket in buckets:
            is_log_target = bucket.urn in log_targets
            if skip_log_targets and is_log_target:
                continue
            companions = _companions(args.resources, bucket, types)
            if not any(satisfied(c, is_log_target) for c in companions):
                yield f"bucket {bucket.name} has no {requirement}", bucket.urn

    return check


def _every_bucket_has(companion_rule: ResourceRule, name: str, summary: str, requirement: str) -> StackRule:
    """A stack rule: every bucket has a companion that `companion_rule`, the resource rule judging that kind, passes.
    It cites the companion rule's controls: the resource rule says what a good companion is, this one that each
    bucket has one."""
    return _bucket_rule(
        name,
        summary,
        companion_rule.controls,
        companion_rule.types,
        requirement,
        satisfied=lambda companion, _: companion_rule.passes(companion),
    )


@resource_rule(
    "aws-s3-bucket-disallow-public-acl",
    "No bucket ACL grants access to everyone or to any authenticated AWS user.",
    controls=("CKV_AWS_20", "CKV_AWS_57", "Security Hub S3.2", "Security Hub S3.3"),
    types=BUCKET + ACL,
)
def public_acl(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    acl = get(props, "acl")
    if acl in PUBLIC_ACLS:
        yield f"acl {acl!r} makes the bucket public"
    for grant in items(get(props, "accessControlPolicy.grants")):
        uri = get(grant, "grantee.uri")
        if uri in PUBLIC_GRANTEES:
            yield f"accessControlPolicy grants {get(grant, 'permission')} to {uri}"


# -------------------------------------------------------------------------------------------------- public access block


@resource_rule(
    "aws-s3-bucketpublicaccessblock-enable-all-flags",
    "A bucket's public access block sets all four flags.",
    controls=("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "Security Hub S3.8"),
    types=PUBLIC_ACCESS_BLOCK,
)
def all_flags(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    off = [flag for flag in PAB_FLAGS if not is_true(get(props, flag))]
    if off:
        yield f"{', '.join(off)} must be true"


bucket_public_access_block = _bucket_rule(
    "aws-s3-bucket-enable-public-access-block",
    "Every bucket has a public access block.",
    ("CKV2_AWS_6", "Security Hub S3.8"),
    PUBLIC_ACCESS_BLOCK,
    "aws.s3.BucketPublicAccessBlock",
)


# --------------------------------------------------------------------------------------------------- default encryption


def sse_algorithm(props: Props) -> str | None:
    """The default-encryption algorithm a BucketServerSideEncryptionConfiguration applies, if any."""
    for rule in items(get(props, "rules")):
        algorithm = get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
        if algorithm:
            return str(algorithm)
    return None


@resource_rule(
    "aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key",
    "Default encryption is on; with SSE-KMS the S3 bucket key is on (fewer KMS calls, same protection).",
    controls=("CKV_AWS_19", "CKV_AWS_145", "Security Hub S3.17"),
    types=ENCRYPTION,
)
def bucket_key(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    rules = items(get(props, "rules"))
    if sse_algorithm(props) is None:
        yield "rules must set applyServerSideEncryptionByDefault.sseAlgorithm"
    for i, rule in enumerate(rules):
        algorithm = get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
        if algorithm in KMS_ALGORITHMS and not is_true(get(rule, "bucketKeyEnabled")):
            yield f"rules[{i}].bucketKeyEnabled must be true with {algorithm}"


def _kms_or_log_target(companion: PolicyResource, is_log_target: bool) -> bool:
    algorithm = sse_algorithm(companion.props)
    # Server access logs can be delivered only into SSE-S3 buckets: AES256 is right for a log bucket.
    return algorithm in KMS_ALGORITHMS or (is_log_target and algorithm == "AES256")


bucket_sse_kms = _bucket_rule(
    "aws-s3-bucket-enable-sse-kms",
    "Every bucket encrypts with SSE-KMS by default (an access-log bucket with SSE-S3, the only kind S3 logs into).",
    ("CKV_AWS_19", "CKV_AWS_145", "Security Hub S3.17"),
    ENCRYPTION,
    "aws.s3.BucketServerSideEncryptionConfiguration with aws:kms",
    satisfied=_kms_or_log_target,
)


# ----------------------------------------------------------------------------------------------------------- versioning


versioning = value_rule(
    "aws-s3-bucketversioning-enable-versioning",
    "Bucket versioning is enabled, so overwritten or deleted model artifacts can be recovered.",
    controls=("CKV_AWS_21", "Security Hub S3.14"),
    types=VERSIONING,
    path="versioningConfiguration.status",
    must="Enabled",
)


bucket_versioning = _every_bucket_has(
    versioning,
    "aws-s3-bucket-enable-versioning",
    "Every bucket has versioning enabled.",
    "aws.s3.BucketVersioning with status Enabled",
)


# -------------------------------------------------------------------------------------------------------- bucket policy


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def _any_principal(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    return principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))


def denies_insecure_transport(document: Any) -> bool:
    """Whether a bucket policy denies every request made without TLS (aws:SecureTransport = false)."""
    for s in _statements(document):
        if s.get("Effect") != "Deny" or not _any_principal(s):
            continue
        actions = as_list(s.get("Action"))
        if not ({"s3:*", "*"} & set(actions)):
            continue
        secure = (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
        if [str(v).lower() for v in as_list(secure)] == ["false"]:
            return True
    return False


@resource_rule(
    "aws-s3-bucketpolicy-enable-tls-only",
    "The bucket policy denies every request that does not use TLS (aws:SecureTransport = false).",
    controls=("Security Hub S3.5",),
    types=POLICY,
)
def tls_only(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    document = json_document(get(props, "policy"))
    if document is None:
        yield "policy is missing or not valid JSON"
    elif not denies_insecure_transport(document):
        yield 'policy needs a Deny of s3:* for Principal "*" when Bool aws:SecureTransport is "false"'


@resource_rule(
    "aws-s3-bucketpolicy-disallow-public-principal",
    "No bucket policy allows an action to any principal without a condition.",
    controls=("CKV_AWS_70", "Security Hub S3.2", "Security Hub S3.3"),
    types=POLICY,
)
def public_principal(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for i, s in enumerate(_statements(json_document(get(props, "policy")))):
        if s.get("Effect") == "Allow" and _any_principal(s) and not s.get("Condition"):
            yield f'Statement[{i}] allows {s.get("Action")} to Principal "*" with no Condition'


bucket_tls_only = _every_bucket_has(
    tls_only,
    "aws-s3-bucket-enable-tls-only-policy",
    "Every bucket has a policy denying requests without TLS.",
    "aws.s3.BucketPolicy denying aws:SecureTransport=false",
)


# --------------------------------------------------------------------------------------------------- ownership controls


owner_enforced = value_rule(
    "aws-s3-bucketownershipcontrols-configure-bucket-owner-enforced",
    "Object ownership is BucketOwnerEnforced: ACLs are disabled and the bucket owner owns every object.",
    controls=("CKV2_AWS_65", "Security Hub S3.12"),
    types=OWNERSHIP,
    path="rule.objectOwnership",
    must="BucketOwnerEnforced",
)


bucket_owner_enforced = _every_bucket_has(
    owner_enforced,
    "aws-s3-bucket-configure-bucket-owner-enforced",
    "Every bucket disables ACLs (ownership controls BucketOwnerEnforced).",
    "aws.s3.BucketOwnershipControls with BucketOwnerEnforced",
)


# ------------------------------------------------------------------------------------------------------------ lifecycle


def aborts_incomplete_uploads(props: Props) -> bool:
    for rule in items(get(props, "rules")):
        days = number(get(rule, "abortIncompleteMultipartUpload.daysAfterInitiation"))
        if get(rule, "status") == "Enabled" and days is not None and days >= 1:
            return True
    return False


@resource_rule(
    "aws-s3-bucketlifecycleconfiguration-configure-abort-multipart",
    "An enabled lifecycle rule aborts incomplete multipart uploads, so failed uploads do not accrue cost.",
    controls=("CKV_AWS_300", "Security Hub S3.13"),
    types=LIFECYCLE,
)
def abort_multipart(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not aborts_incomplete_uploads(props):
        yield "rules need an Enabled rule with abortIncompleteMultipartUpload.daysAfterInitiation >= 1"


bucket_lifecycle = _every_bucket_has(
    abort_multipart,
    "aws-s3-bucket-configure-lifecycle",
    "Every bucket has a lifecycle configuration that aborts incomplete multipart uploads.",
    "aws.s3.BucketLifecycleConfiguration aborting incomplete multipart uploads",
)


# ------------------------------------------------------------------------------------------------ server access logging


bucket_access_logging = _bucket_rule(
    "aws-s3-bucket-enable-access-logging",
    "Every bucket logs server access to a log bucket (the log bucket itself excepted).",
    ("CKV_AWS_18", "Security Hub S3.9"),
    LOGGING,
    "aws.s3.BucketLogging",
    skip_log_targets=True,
)
