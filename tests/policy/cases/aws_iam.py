"""The rules of `policy/rules/aws_iam.py` on the compliant role policy, attachment and IRSA role: each row one
change (to a document, one change to its statement) and the messages it must produce."""

from __future__ import annotations

from typing import Any

from tests.policy.cases.aws_resources import ATTACHMENT_T, IAM_POLICY_T, IRSA_TRUST, MLFLOW_S3, ROLE, ROLE_T
from tests.policy.cases.common import OIDC, doc, fails, passes, table
from tests.policy.cases.stacks import add, edit, node_role, stack_table
from tests.policy.support import DELETE

POLICY_T = "aws:iam/policy:Policy"
ROLE_POLICY = {"role": "mlflow", "policy": doc(MLFLOW_S3)}
ATTACHMENT = {"role": "mlp-prod-node-role", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}
SUB, AUD = f"{OIDC}:sub", f"{OIDC}:aud"


def s3_grant(**changes: Any) -> str:
    """The MLflow grant as a document, with one field of its statement changed (None removes it)."""
    statement = {**MLFLOW_S3, **changes}
    return doc({k: v for k, v in statement.items() if v is not None})


def irsa_trust(**condition: Any) -> str:
    """The IRSA trust as a document, with one operator of its Condition changed (None removes it)."""
    merged = {**IRSA_TRUST["Condition"], **condition}
    return doc({**IRSA_TRUST, "Condition": {k: v for k, v in merged.items() if v is not None}})


CASES = [
    *table(
        IAM_POLICY_T,
        ROLE_POLICY,
        {
            "aws-iam-policy-disallow-wildcard-actions": [
                fails("policy", s3_grant(Action="s3:*"), "Statement[0] allows 's3:*'"),
                fails("policy", s3_grant(Action="*"), "Statement[0] allows '*'", id="admin"),
                fails("policy", s3_grant(Action=None, NotAction="iam:*"), "allows NotAction iam:*", id="not-action"),
                fails("policy", DELETE, "policy is missing or not valid JSON", id="no-document"),
                fails("policy", "{not json", "policy is missing or not valid JSON", id="malformed"),
                fails(
                    "policy", s3_grant(Action="*"), "Statement[0] allows '*'", id="managed", on=(POLICY_T, ROLE_POLICY)
                ),
                passes({"policy": s3_grant(Effect="Deny", Action="s3:*")}, id="deny-wildcard"),
                fails(
                    "inlinePolicies",
                    [{"name": "all", "policy": s3_grant(Action="ec2:*")}],
                    "inline policy all Statement[0] allows 'ec2:*'",
                    id="role-inline",
                    on=(ROLE_T, ROLE),
                ),
            ],
        },
    ),
    *table(
        ATTACHMENT_T,
        ATTACHMENT,
        {
            "aws-iam-role-disallow-admin-policies": [
                fails("policyArn", "arn:aws:iam::aws:policy/AdministratorAccess", "grants administrator rights"),
                passes({"policyArn": "AdministratorAccess"}, id="not-an-arn"),
                fails(
                    "managedPolicyArns",
                    ["arn:aws:iam::aws:policy/PowerUserAccess"],
                    "PowerUserAccess grants administrator rights",
                    id="managed-arns",
                    on=(ROLE_T, ROLE),
                ),
            ],
        },
    ),
    *table(
        ROLE_T,
        ROLE,
        {
            "aws-iam-role-configure-trusted-principals": [
                passes(
                    {
                        "assumeRolePolicy": doc(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ec2.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        )
                    },
                    id="service",
                ),
                fails(
                    "assumeRolePolicy",
                    doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
                    'lets any principal ("*") assume the role',
                ),
                fails(
                    "assumeRolePolicy",
                    doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
                    'lets any principal ("*") assume the role',
                    id="bare-star",
                ),
                passes(
                    {"assumeRolePolicy": doc({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"})},
                    id="deny-anyone",
                ),
                fails("assumeRolePolicy", DELETE, "assumeRolePolicy is missing or not valid JSON", id="no-document"),
                fails(
                    "assumeRolePolicy",
                    irsa_trust(StringLike={SUB: "system:serviceaccount:mlflow:*"}),
                    "uses StringLike",
                    id="irsa-string-like",
                ),
                fails(
                    "assumeRolePolicy",
                    irsa_trust(StringEquals={AUD: "sts.amazonaws.com"}),
                    "must pin <issuer>:sub with StringEquals to system:serviceaccount:<namespace>:<name> (got nothing)",
                    id="irsa-no-subject",
                ),
                fails(
                    "assumeRolePolicy",
                    irsa_trust(StringEquals={SUB: "system:serviceaccount:mlflow:*", AUD: "sts.amazonaws.com"}),
                    "must pin <issuer>:sub",
                    id="irsa-wildcard-subject",
                ),
                fails(
                    "assumeRolePolicy",
                    irsa_trust(StringEquals={SUB: "system:serviceaccount:mlflow:mlflow"}),
                    "aud with StringEquals to sts.amazonaws.com",
                    id="irsa-no-audience",
                ),
            ],
        },
    ),
]


# The stack rule: what the node role holds.
STACK_CASES = stack_table(
    node_role,
    {
        "aws-iam-role-configure-node-role-least-privilege": [
            add(
                ATTACHMENT_T,
                "node-s3",
                {"role": "mlp-prod-node-role", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"},
                role="node-role",
            ).fails("node role node-role holds arn:aws:iam::aws:policy/AmazonS3FullAccess; give workloads AWS access"),
            edit("node-role", "managedPolicyArns", ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]).fails(
                "node role node-role holds arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
            ),
            add(
                IAM_POLICY_T, "node-extra", {"role": "mlp-prod-node-role", "policy": doc(MLFLOW_S3)}, role="node-role"
            ).fails("node role node-role has inline policies"),
            edit("node-role", "inlinePolicies", [{"name": "extra", "policy": doc(MLFLOW_S3)}]).fails(
                "node role node-role has inline policies; it may hold only"
            ),
            add(
                ATTACHMENT_T,
                "node-ssm",
                {"role": "mlp-prod-node-role", "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"},
                role="node-role",
            ).passes(
                id="configured",
                config={
                    "allowedPolicies": [
                        "AmazonEKSWorkerNodePolicy",
                        "AmazonEKS_CNI_Policy",
                        "AmazonEC2ContainerRegistryReadOnly",
                        "AmazonSSMManagedInstanceCore",
                    ]
                },
            ),
        ],
    },
)
