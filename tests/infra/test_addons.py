"""Helm add-ons and IRSA: pinned charts from their official repositories, values the LB controller cannot discover
behind IMDS hop limit 1, roles trusted by exactly one service account, and least-privilege policies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.addons import POLICY_DIR
from infra.identity import wildcard_actions
from tests.infra.harness import ROOT, Recording, Resource, run_stack

RELEASE = "kubernetes:helm.sh/v3:Release"
CHARTS = {  # release: (official repository, pinned chart version)
    "aws-load-balancer-controller": ("https://aws.github.io/eks-charts", "1.14.1"),
    "metrics-server": ("https://kubernetes-sigs.github.io/metrics-server/", "3.13.0"),
    "cluster-autoscaler": ("https://kubernetes.github.io/autoscaler", "9.59.0"),
}
READ_ONLY_PREFIXES = ("Describe", "Get", "List")


def releases(rec: Recording) -> dict[str, Resource]:
    return {r.inputs["name"]: r for r in rec.find(RELEASE)}


def irsa(rec: Recording, service_account: str) -> tuple[Resource, dict[str, Any], dict[str, Any]]:
    """The role trusted by kube-system/<service_account>, its trust policy and its inline policy."""
    for role in rec.find("aws:iam/role:Role"):
        trust = json.loads(role.inputs["assumeRolePolicy"])
        conditions = trust["Statement"][0].get("Condition", {}).get("StringEquals", {})
        if f"system:serviceaccount:kube-system:{service_account}" in conditions.values():
            (inline,) = [p for p in rec.find("aws:iam/rolePolicy:RolePolicy") if p.parent == role.urn]
            return role, trust, json.loads(inline.inputs["policy"])
    raise AssertionError(f"no IRSA role for {service_account}")


def test_each_chart_is_pinned_from_its_official_repository(recording: Recording) -> None:
    found = releases(recording)
    assert set(found) == set(CHARTS)
    for name, (repo, version) in CHARTS.items():
        release = found[name].inputs
        assert release["chart"] == name
        assert release["repositoryOpts"] == {"repo": repo}
        assert release["version"] == version
        assert release["namespace"] == "kube-system"


def test_releases_wait_for_the_node_groups_and_use_the_cluster_provider(recording: Recording) -> None:
    groups = recording.find("aws:eks/nodeGroup:NodeGroup")
    provider = recording.one("pulumi:providers:kubernetes")
    for release in recording.find(RELEASE):
        assert all(group.urn in release.dependencies for group in groups), release.name
        assert release.provider_urn == provider.urn


def test_load_balancer_controller_is_told_what_imds_would_have_said(recording: Recording) -> None:
    values = releases(recording)["aws-load-balancer-controller"].inputs["values"]
    assert values["region"] == "us-east-1"
    assert values["vpcId"] == recording.exports["vpcId"]
    assert values["clusterName"] == recording.exports["clusterName"]
    role, _, _ = irsa(recording, "aws-load-balancer-controller")
    assert values["serviceAccount"] == {
        "create": True,
        "name": "aws-load-balancer-controller",
        "annotations": {"eks.amazonaws.com/role-arn": role.outputs["arn"]},
    }


def test_load_balancer_controller_gets_the_published_policy_verbatim(recording: Recording) -> None:
    _, _, policy = irsa(recording, "aws-load-balancer-controller")
    assert policy == json.loads((POLICY_DIR / "aws-load-balancer-controller.json").read_text())
    # Broad resources are AWS's own choice for this controller; wildcard actions would be ours.
    assert wildcard_actions(policy) == []


def test_cluster_autoscaler_discovers_its_node_groups_and_matches_the_cluster_version(recording: Recording) -> None:
    values = releases(recording)["cluster-autoscaler"].inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": recording.exports["clusterName"]}
    assert values["awsRegion"] == "us-east-1" and values["cloudProvider"] == "aws"
    # The image's minor is the cluster's (1.36): the autoscaler simulates that release's scheduler.
    assert values["image"]["tag"] == "v1.36.1"
    # One node group per AZ: balancing keeps them level on scale-up.
    assert values["extraArgs"]["balance-similar-node-groups"] is True
    role, _, _ = irsa(recording, "cluster-autoscaler")
    assert values["rbac"]["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}


def test_cluster_autoscaler_may_scale_only_this_clusters_node_groups(recording: Recording) -> None:
    _, _, policy = irsa(recording, "cluster-autoscaler")
    assert wildcard_actions(policy) == []
    cluster = recording.exports["clusterName"]
    for statement in policy["Statement"]:
        actions = statement["Action"]
        if statement["Resource"] == "*":
            assert all(a.split(":")[1].startswith(READ_ONLY_PREFIXES) for a in actions), actions
        elif "autoscaling:SetDesiredCapacity" in actions:
            tag = f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}"
            assert statement["Condition"] == {"StringEquals": {tag: "owned"}}
        else:
            assert statement["Resource"].endswith(f":nodegroup/{cluster}/*/*")


@pytest.mark.parametrize("service_account", ["aws-load-balancer-controller", "cluster-autoscaler"])
def test_irsa_trust_is_pinned_to_one_service_account_and_sts(recording: Recording, service_account: str) -> None:
    _, trust, _ = irsa(recording, service_account)
    (statement,) = trust["Statement"]
    oidc = recording.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    issuer = recording.exports["oidcIssuerUrl"].removeprefix("https://")
    assert statement["Principal"] == {"Federated": oidc.outputs["arn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": f"system:serviceaccount:kube-system:{service_account}",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    }


WILDCARD_PROGRAM = """
import pulumi
from infra.config import load_config
from infra.identity import irsa_role
from infra.stack import build

platform = build(load_config())
policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
irsa_role(
    "too-broad",
    namespace="mlflow",
    service_account="mlflow",
    cluster=platform.cluster,
    policy=pulumi.Output.from_input(policy) if AS_OUTPUT else policy,
    tags=platform.config.tags(),
)
"""


def test_irsa_role_refuses_a_policy_with_wildcard_actions(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text("AS_OUTPUT = False\n" + WILDCARD_PROGRAM)
    with pytest.raises(ValueError, match=r"wildcard actions \['s3:\*'\]"):
        run_stack("dev", program=program)


def test_irsa_role_refuses_wildcard_actions_that_arrive_as_an_output(tmp_path: Path) -> None:
    """The usual case (a policy built from bucket ARNs). Run in its own interpreter: a program failing inside an
    apply leaves registrations queued in Pulumi's process-wide runtime, which would break later runs."""
    program = tmp_path / "__main__.py"
    program.write_text("AS_OUTPUT = True\n" + WILDCARD_PROGRAM)
    driver = f"import pathlib, tests.infra.harness as h; h.run_stack('dev', program=pathlib.Path({str(program)!r}))"
    result = subprocess.run([sys.executable, "-c", driver], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "an IRSA policy must name its actions, found wildcard actions ['s3:*']" in result.stderr
