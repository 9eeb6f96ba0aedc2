"""Passing and failing cases for the rules of `policy/rules/aws_iam.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import ATTACHMENT_T, IAM_POLICY_T, IRSA_TRUST, MLFLOW_S3, ROLE, ROLE_T
from tests.policy.cases.common import OIDC, Case, doc
from tests.policy.support import changed

CASES = [
    Case("aws-iam-policy-disallow-wildcard-actions", IAM_POLICY_T, {"role": "mlflow", "policy": doc(MLFLOW_S3)}),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        IAM_POLICY_T,
        {"role": "mlflow", "policy": doc({**MLFLOW_S3, "Action": "s3:*"})},
        "allows 's3:*'",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        "aws:iam/policy:Policy",
        {"policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"})},
        "allows '*'",
        id="admin",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        "aws:iam/policy:Policy",
        {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})},
        "NotAction",
        id="not-action",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        ROLE_T,
        changed(
            ROLE,
            {
                "inlinePolicies": [
                    {"name": "all", "policy": doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})}
                ]
            },
        ),
        "inline policy all Statement[0] allows 'ec2:*'",
        id="role-inline",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        IAM_POLICY_T,
        {"role": "x", "policy": doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})},
        id="deny-wildcard",
    ),
    Case(
        "aws-iam-role-disallow-admin-policies",
        ATTACHMENT_T,
        {"role": "mlp-prod-node-role", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
    ),
    Case(
        "aws-iam-role-disallow-admin-policies",
        ATTACHMENT_T,
        {"role": "mlp-prod-node-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "grants administrator rights",
    ),
    Case(
        "aws-iam-role-disallow-admin-policies",
        ROLE_T,
        changed(ROLE, {"managedPolicyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"]}),
        "PowerUserAccess grants administrator rights",
        id="managed-arns",
    ),
    Case("aws-iam-role-configure-trusted-principals", ROLE_T, ROLE),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE,
            {
                "assumeRolePolicy": doc(
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                )
            },
        ),
        id="service",
    ),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE, {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})}
        ),
        'lets any principal ("*") assume the role',
    ),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE,
            {
                "assumeRolePolicy": doc(
                    {**IRSA_TRUST, "Condition": {"StringLike": {f"{OIDC}:sub": "system:serviceaccount:mlflow:*"}}}
                )
            },
        ),
        "uses StringLike",
        id="irsa-wildcard-subject",
    ),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE,
            {
                "assumeRolePolicy": doc(
                    {
                        **IRSA_TRUST,
                        "Condition": {"StringEquals": {f"{OIDC}:sub": "system:serviceaccount:mlflow:mlflow"}},
                    }
                )
            },
        ),
        "aud with StringEquals to sts.amazonaws.com",
        id="irsa-no-audience",
    ),
]
