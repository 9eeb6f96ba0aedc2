"""Passing and failing cases for the rules of `policy/rules/aws_kms.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import KMS, KMS_T
from tests.policy.cases.common import fails, passes, table
from tests.policy.support import DELETE

CASES = table(
    KMS_T,
    KMS,
    {
        "aws-kms-key-enable-rotation": [
            passes(
                {"enableKeyRotation": DELETE, "customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"},
                id="asymmetric",
            ),
            fails("enableKeyRotation", False, "enableKeyRotation must be true"),
        ],
        "aws-kms-key-configure-key-policy": [
            fails("policy", DELETE, "policy must be set"),
        ],
    },
)
