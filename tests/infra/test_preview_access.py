"""The preview workflow's role edits pull-request namespaces only: never cluster-admin (least privilege)."""

from __future__ import annotations

import pytest

from infra.config import ConfigError
from tests.infra.harness import DEPLOY_ROLE_ARN, Recording, run_stack
from tests.infra.k8s import of_kind, one
from tests.policy.engine import evaluate, stack_policy_config

ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
PROVIDER = "pulumi:providers:kubernetes"
PREVIEW_ROLE = "arn:aws:iam::123456789012:role/github/preview"
GROUP = "preview-deployers"


@pytest.fixture(scope="module")
def with_previews() -> Recording:
    return run_stack("dev", {"platform:cluster.previewRoleArns": [PREVIEW_ROLE]})


def test_the_preview_role_gets_edit_in_pr_namespaces_only(with_previews: Recording) -> None:
    """EKS user guide, "Associate access policies with access entries": a namespace access scope may use a
    wildcard (`dev-*` scopes to every namespace starting with `dev-`); AmazonEKSEditPolicy grants the Kubernetes
    `edit` permissions in them ("Review access policy permissions")."""
    (entry,) = [e for e in with_previews.find(ACCESS_ENTRY) if e.inputs["principalArn"] == PREVIEW_ROLE]
    assert entry.inputs["type"] == "STANDARD" and entry.inputs["kubernetesGroups"] == [GROUP]
    (association,) = [a for a in with_previews.find(ASSOCIATION) if a.name == entry.name]
    assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
    assert association.inputs["accessScope"] == {"type": "namespace", "namespaces": ["pr-*"]}
    provider = with_previews.one(PROVIDER)
    assert with_previews.depends_on(provider, entry) and with_previews.depends_on(provider, association)


def test_the_preview_group_may_manage_only_restricted_pr_namespaces(with_previews: Recording) -> None:
    """Namespaces are cluster-scoped (Kubernetes API reference, Namespace), so a namespace-scoped access policy
    cannot create `pr-<N>`; RBAC grants the group that, and a ValidatingAdmissionPolicy
    (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30) narrows it to names pr-<N> keeping Pod Security
    `restricted` enforced."""
    manifests = with_previews.kubernetes_manifests()
    binding = one(manifests, "ClusterRoleBinding", "platform-preview-namespaces")
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": GROUP}]
    (rule,) = one(manifests, "ClusterRole", binding["roleRef"]["name"])["rules"]
    assert rule["resources"] == ["namespaces"] and "*" not in rule["verbs"]
    policy = one(manifests, "ValidatingAdmissionPolicy", "platform-preview-namespaces")["spec"]
    assert policy["failurePolicy"] == "Fail"
    assert policy["matchConditions"] == [
        {"name": "preview-group", "expression": f"'{GROUP}' in request.userInfo.groups"}
    ]
    expressions = [v["expression"] for v in policy["validations"]]
    assert "request.name.matches('^pr-[0-9]+$')" in expressions
    assert any("pod-security.kubernetes.io/enforce" in e and "'restricted'" in e for e in expressions)
    (policy_binding,) = of_kind(manifests, "ValidatingAdmissionPolicyBinding")
    assert policy_binding["spec"] == {"policyName": "platform-preview-namespaces", "validationActions": ["Deny"]}


def test_without_preview_roles_there_is_no_preview_access(recording: Recording) -> None:
    assert not any("-preview-" in e.name for e in recording.find(ACCESS_ENTRY))
    assert not of_kind(recording.kubernetes_manifests(), "ValidatingAdmissionPolicy")


@pytest.mark.parametrize("listed_as", ["platform:cluster.adminRoleArns", "platform:cluster.deployerRoleArn"])
def test_a_preview_role_that_is_also_an_admin_or_the_deployer_fails_the_config_check(listed_as: str) -> None:
    """EKS allows one access entry per principal (CreateAccessEntry: ResourceInUseException)."""
    role = DEPLOY_ROLE_ARN if listed_as.endswith("deployerRoleArn") else PREVIEW_ROLE
    value: object = role if listed_as.endswith("deployerRoleArn") else [role]
    with pytest.raises(ConfigError, match=r"platform:cluster\.previewRoleArns must be free of the deployer"):
        run_stack("dev", {"platform:cluster.previewRoleArns": [role], listed_as: value})


def test_the_preview_access_passes_the_policy_pack(with_previews: Recording) -> None:
    report = evaluate(with_previews, stack_policy_config("dev"))
    mandatory = [f"[{d.policy}] {d.urn}: {d.detail}" for d in report if d.level == "mandatory"]
    assert not mandatory, "\n".join(mandatory)
