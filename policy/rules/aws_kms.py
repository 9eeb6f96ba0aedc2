"""KMS: the customer keys behind EKS secrets, Redis, RDS, S3 and the log groups rotate yearly and carry an explicit
key policy."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from .base import Props, get, is_true, resource_rule

KEY = "aws:kms/key:Key"


@resource_rule(
    "aws-kms-key-enable-rotation",
    "Symmetric customer-managed KMS keys rotate automatically.",
    controls=("CKV_AWS_7", "CIS EKS 5.3.1", "Security Hub KMS.4"),
    types=(KEY,),
)
def key_rotation(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    # Only symmetric encryption keys can rotate; asymmetric and HMAC keys are out of scope.
    spec = get(props, "customerMasterKeySpec", "SYMMETRIC_DEFAULT")
    if spec == "SYMMETRIC_DEFAULT" and not is_true(get(props, "enableKeyRotation")):
        yield "enableKeyRotation must be true"


@resource_rule(
    "aws-kms-key-configure-key-policy",
    "Every KMS key carries an explicit key policy (the account as administrator, the services that use it named).",
    controls=("CKV2_AWS_64",),
    types=(KEY,),
)
def key_policy(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    # Without one, KMS writes the default policy: everything delegated to IAM, nothing about who uses the key.
    if not get(props, "policy"):
        yield "policy must be set (an explicit key policy)"
