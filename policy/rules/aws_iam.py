"""IAM: no wildcard actions, no administrator policies, no open trust, IRSA trust pinned to one service account."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, StackValidationArgs

from . import aws_eks
from .base import (
    Findings,
    Props,
    as_list,
    config,
    get,
    items,
    json_document,
    of_type,
    referenced,
    references,
    resource_rule,
    stack_rule,
)

ROLE = "aws:iam/role:Role"
POLICY_DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEC2ContainerRegistryPullOnly",
)
ADMIN_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?"
)


def statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def wildcard_action_faults(document: Any, where: str) -> Iterator[str]:
    for i, s in enumerate(statements(document)):
        if s.get("Effect") != "Allow":
            continue
        if "NotAction" in s:
            yield f"{where} Statement[{i}] allows NotAction {s['NotAction']}: an allow-everything-but list"
        for action in as_list(s.get("Action")):
            if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                yield f"{where} Statement[{i}] allows {action!r}: list the actions the workload needs"


@resource_rule(
    "aws-iam-policy-disallow-wildcard-actions",
    'No IAM policy allows "*" or "service:*" actions (or NotAction); every grant names its actions.',
    controls=(
        "CKV_AWS_1",
        "CKV_AWS_49",
        "CKV_AWS_62",
        "CKV_AWS_63",
        "CKV_AWS_286",
        "CKV_AWS_287",
        "CKV_AWS_288",
        "CKV_AWS_289",
        "CKV_AWS_290",
        "Security Hub IAM.1",
        "Security Hub IAM.21",
    ),
    types=(*POLICY_DOCUMENT_TYPES, ROLE),
)
def wildcard_actions(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == ROLE:
        for inline in items(get(props, "inlinePolicies")):
            yield from wildcard_action_faults(
                json_document(get(inline, "policy")), f"inline policy {get(inline, 'name')}"
            )
        return
    document = json_document(get(props, "policy"))
    if document is None:
        yield "policy is missing or not valid JSON"
        return
    yield from wildcard_action_faults(document, "policy")


def _is_admin(arn: Any) -> bool:
    return isinstance(arn, str) and arn.startswith("arn:") and arn.rsplit("/", 1)[-1] in ADMIN_POLICIES


@resource_rule(
    "aws-iam-role-disallow-admin-policies",
    "No role, user or group holds AdministratorAccess, PowerUserAccess or IAMFullAccess.",
    controls=("CKV_AWS_274", "Security Hub IAM.1"),
    types=(*ATTACHMENT_TYPES, ROLE),
)
def admin_policies(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    arns = items(get(props, "managedPolicyArns")) if args.resource_type == ROLE else [get(props, "policyArn")]
    for arn in arns:
        if _is_admin(arn):
            yield f"{arn} grants administrator rights: attach a least-privilege policy"


def trust_faults(document: Any) -> Iterator[str]:
    for i, s in enumerate(statements(document)):
        if s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal")
        open_principal = principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))
        if open_principal and not s.get("Condition"):
            yield f'assumeRolePolicy Statement[{i}] lets any principal ("*") assume the role'
        federated = as_list(principal.get("Federated")) if isinstance(principal, dict) else []
        if any(isinstance(f, str) and ":oidc-provider/" in f for f in federated):
            yield from _irsa_faults(i, s)


def _irsa_faults(i: int, statement: dict[str, Any]) -> Iterator[str]:
    condition = statement.get("Condition") or {}
    if "StringLike" in condition:
        yield f"assumeRolePolicy Statement[{i}] uses StringLike: pin the service account with StringEquals"
    equals = condition.get("StringEquals") or {}
    subjects = [v for k, v in equals.items() if k.endswith(":sub")]
    audiences = [v for k, v in equals.items() if k.endswith(":aud")]
    subject_values = [s for v in subjects for s in as_list(v)]
    if not subject_values or not all(
        isinstance(s, str) and SERVICE_ACCOUNT_SUBJECT.fullmatch(s) for s in subject_values
    ):
        yield (
            f"assumeRolePolicy Statement[{i}] must pin <issuer>:sub with StringEquals to "
            f"system:serviceaccount:<namespace>:<name> (got {subject_values or 'nothing'})"
        )
    if [a for v in audiences for a in as_list(v)] != ["sts.amazonaws.com"]:
        yield f"assumeRolePolicy Statement[{i}] must pin <issuer>:aud with StringEquals to sts.amazonaws.com"


@resource_rule(
    "aws-iam-role-configure-trusted-principals",
    "Roles trust named principals only; IRSA roles trust one service account (sub) for audience sts.amazonaws.com.",
    controls=("CKV_AWS_60", "CIS EKS 5.2.1"),
    types=(ROLE,),
)
def trusted_principals(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    document = json_document(get(props, "assumeRolePolicy"))
    if document is None:
        yield "assumeRolePolicy is missing or not valid JSON"
        return
    yield from trust_faults(document)


# ---------------------------------------------------------------------------------------------------------- stack rules


@stack_rule(
    "aws-iam-role-configure-node-role-least-privilege",
    "The node role holds only the worker, CNI and ECR read-only managed policies; workloads use IRSA.",
    controls=("CIS EKS 5.1.3", "CIS EKS 5.2.1", "CKV_AWS_274"),
    config_schema=PolicyConfigSchema(
        properties={
            "allowedPolicies": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(NODE_POLICIES),
                "description": "AWS managed policy names the node role may hold.",
            }
        }
    ),
)
def node_role(args: StackValidationArgs) -> Findings:
    allowed = set(config(args, "allowedPolicies", NODE_POLICIES))
    roles = {r.urn: r for g in of_type(args.resources, aws_eks.NODE_GROUP) for r in referenced(g, "nodeRoleArn", ROLE)}
    for role in roles.values():
        arns = items(get(role.props, "managedPolicyArns"))
        arns += [
            get(a.props, "policyArn")
            for a in of_type(args.resources, ROLE_POLICY_ATTACHMENT)
            if references(a, role, "role")
        ]
        for arn in arns:
            if str(arn).rsplit("/", 1)[-1] not in allowed:
                yield f"node role {role.name} holds {arn}; give workloads AWS access through IRSA", role.urn
        inline = [p for p in of_type(args.resources, ROLE_POLICY) if references(p, role, "role")]
        if inline or items(get(role.props, "inlinePolicies")):
            yield f"node role {role.name} has inline policies; it may hold only {sorted(allowed)}", role.urn
