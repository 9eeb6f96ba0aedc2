"""KMS: the customer keys behind EKS secrets, Redis, RDS and S3 rotate yearly."""

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
