"""What the preview workflow's roles may do on the cluster beyond AmazonEKSEditPolicy in `pr-*` (infra/cluster.py).

A preview's program creates its own namespace, `pr-<N>`, and destroying it deletes that namespace; namespaces are
cluster-scoped, so no namespace-scoped access policy covers them. RBAC lets the roles' group create, change and
delete namespaces, and an admission policy narrows that to namespaces named `pr-<N>` that keep Pod Security
`restricted` enforced: a pull request's code can neither delete `mlflow` nor relabel its own namespace privileged.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster import PREVIEW_GROUP

NAME = "platform-preview-namespaces"
# Evaluated for requests of the preview group only (matchConditions); `request.name` is empty for a create that
# asks the server to generate the name, which the pattern refuses too.
RULES = (
    ("request.name.matches('^pr-[0-9]+$')", "preview roles may only manage namespaces named pr-<N>"),
    (
        "request.operation == 'DELETE' || "
        "object.metadata.?labels['pod-security.kubernetes.io/enforce'].orValue('') == 'restricted'",
        "a preview namespace keeps pod-security.kubernetes.io/enforce=restricted",
    ),
)


class PreviewAccess(pulumi.ComponentResource):
    """ClusterRole and binding for the preview group's namespaces, and the admission policy that scopes them."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:PreviewAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "platform"}
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-preview-namespaces",
            metadata={"name": NAME, "labels": labels},
            rules=[
                {
                    "api_groups": [""],
                    "resources": ["namespaces"],
                    "verbs": ["create", "delete", "get", "list", "watch", "patch", "update"],
                }
            ],
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-preview-namespaces",
            metadata={"name": NAME, "labels": labels},
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role.metadata.name},
            subjects=[{"api_group": "rbac.authorization.k8s.io", "kind": "Group", "name": PREVIEW_GROUP}],
            opts=child,
        )
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-preview-namespaces-policy",
            metadata={"name": NAME, "labels": labels},
            spec={
                "failure_policy": "Fail",
                "match_constraints": {
                    "resource_rules": [
                        {
                            "api_groups": [""],
                            "api_versions": ["v1"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                            "resources": ["namespaces"],
                        }
                    ]
                },
                "match_conditions": [
                    {"name": "preview-group", "expression": f"'{PREVIEW_GROUP}' in request.userInfo.groups"}
                ],
                "validations": [{"expression": expression, "message": message} for expression, message in RULES],
            },
            opts=child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-preview-namespaces-binding",
            metadata={"name": NAME, "labels": labels},
            spec={"policy_name": policy.metadata.name, "validation_actions": ["Deny"]},
            opts=child,
        )
        self.register_outputs({})
