"""IAM roles for Kubernetes service accounts (IRSA): one role per workload, trusted by exactly one service account."""

from __future__ import annotations

import json
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws


class OidcIdentity(Protocol):
    """A cluster's IAM OIDC provider, which IRSA roles trust."""

    @property
    def oidc_provider_arn(self) -> pulumi.Input[str]: ...
    # The issuer without https://, as IAM condition keys name it.
    @property
    def oidc_issuer(self) -> pulumi.Input[str]: ...


def trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Trust pinned to one service account and to tokens minted for STS (CIS EKS 5.2.1)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{oidc_issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{oidc_issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def wildcard_actions(policy: dict[str, Any]) -> list[str]:
    """The `*` actions (`*`, `s3:*`, `s3:Get*`) a policy allows; least privilege means there are none."""
    found = []
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if "*" in action:
                found.append(action)
    return found


def _least_privilege(policy: str) -> str:
    wildcards = wildcard_actions(json.loads(policy))
    if wildcards:
        raise ValueError(f"an IRSA policy must name its actions, found wildcard actions {wildcards}")
    return policy


def irsa_role(
    name: str,
    *,
    namespace: str,
    service_account: str,
    cluster: OidcIdentity,
    policy: pulumi.Input[str] | None,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions | None = None,
) -> aws.iam.Role:
    """A role only `system:serviceaccount:<namespace>:<service_account>` of `cluster` can assume, with `policy`
    (a JSON document without wildcard actions) inline. Annotate the service account with the role's ARN."""
    if isinstance(policy, str):
        _least_privilege(policy)  # fail at the call site, before anything is registered
    trust = pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer).apply(
        lambda a: json.dumps(trust_policy(a[0], a[1], namespace, service_account))
    )
    role = aws.iam.Role(
        name,
        assume_role_policy=trust,
        description=f"IRSA role of service account {namespace}/{service_account}",
        tags={**tags, "Name": name},
        opts=opts,
    )
    if policy is not None:
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.from_input(policy).apply(_least_privilege),
            opts=pulumi.ResourceOptions(parent=role),
        )
    return role
