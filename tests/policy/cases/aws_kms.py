"""Passing and failing cases for the rules of `policy/rules/aws_kms.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import KMS, KMS_T
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
    Case("aws-kms-key-enable-rotation", KMS_T, KMS),
    Case(
        "aws-kms-key-enable-rotation",
        KMS_T,
        changed(KMS, {"enableKeyRotation": DELETE, "customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"}),
        id="asymmetric",
    ),
    Case(
        "aws-kms-key-enable-rotation",
        KMS_T,
        changed(KMS, {"enableKeyRotation": False}),
        "enableKeyRotation must be true",
    ),
    Case("aws-kms-key-configure-key-policy", KMS_T, KMS),
    Case("aws-kms-key-configure-key-policy", KMS_T, changed(KMS, {"policy": DELETE}), "policy must be set"),
]
