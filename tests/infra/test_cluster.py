"""The EKS cluster component, checked on what each stack registers: endpoint exposure, encryption, logging,
access entries, IRSA, the hardened per-AZ node groups, pinned EKS add-ons and the single Kubernetes provider."""

from __future__ import annotations

import json
import re

import pytest

from infra.cluster import CONTROL_PLANE_LOG_TYPES
from infra.config import KUBERNETES_VERSIONS, NodeGroupConfig
from infra.nodes import node_group_sizes
from infra.versions import EKS_ADDONS, RELEASES
from tests.infra.harness import DEPLOY_ROLE_ARN, Recording, Resource, run_stack

EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PROVIDER = "pulumi:providers:kubernetes"

NODES = {  # stack: (instance types, min, desired, max, root volume GiB), totals over the per-AZ groups
    "dev": (["t3.large"], 1, 2, 3, 30),
    "staging": (["m6i.large"], 2, 2, 4, 50),
    "prod": (["m6i.xlarge"], 3, 3, 10, 100),
}
# Per-AZ groups in zone order: (min, desired, max) each.
GROUP_SIZES = {
    "dev": [(1, 1, 2), (0, 1, 1)],
    "staging": [(1, 1, 2), (1, 1, 1), (0, 0, 1)],
    "prod": [(1, 1, 4), (1, 1, 3), (1, 1, 3)],
}
ADMIN_ROLE = "arn:aws:iam::123456789012:role/platform-admins"


@pytest.fixture(scope="module")
def customised() -> Recording:
    """dev with the optional cluster settings a real stack may use: deployed from one range through a public
    endpoint limited to it, an admin role, and Graviton nodes."""
    return run_stack(
        "dev",
        {
            "platform:cluster.deployFrom": "cidrs",
            "platform:cluster.publicAccessCidrs": ["203.0.113.0/24"],
            "platform:cluster.adminRoleArns": [ADMIN_ROLE],
            "platform:nodes.instanceTypes": ["t4g.large", "m7g.large"],
        },
    )


def cluster(rec: Recording) -> Resource:
    return rec.one(EKS)


def role_named(rec: Recording, suffix: str) -> Resource:
    (role,) = [r for r in rec.find(ROLE) if r.name.endswith(suffix)]
    return role


def test_cluster_is_named_for_subnet_discovery_at_the_pinned_version(recording: Recording) -> None:
    eks = cluster(recording).inputs
    assert eks["name"] == f"mlp-{recording.stack}"
    assert eks["version"] == "1.36" == KUBERNETES_VERSIONS[0]
    discovery = f"kubernetes.io/cluster/{eks['name']}"
    # Every subnet the cluster or its load balancers use; the data subnets (Redis, RDS) are none of its business.
    subnets = recording.find("aws:ec2/subnet:Subnet")
    assert all(discovery in s.inputs["tags"] for s in subnets if not re.search(r"-data-\d+$", s.name))
    assert not [s for s in subnets if re.search(r"-data-\d+$", s.name) and discovery in s.inputs["tags"]]


def test_control_plane_lives_in_the_private_subnets(recording: Recording) -> None:
    private = {s.id for s in recording.find("aws:ec2/subnet:Subnet") if re.search(r"-private-\d+$", s.name)}
    assert set(cluster(recording).inputs["vpcConfig"]["subnetIds"]) == private


def test_api_endpoint_is_private_unless_deployed_from_cidrs(recording: Recording, customised: Recording) -> None:
    vpc = cluster(recording).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    opened = cluster(customised).inputs["vpcConfig"]
    assert opened["endpointPrivateAccess"] is True
    assert opened["endpointPublicAccess"] is True
    assert opened["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_secrets_are_encrypted_with_a_rotating_customer_key(recording: Recording) -> None:
    components = recording.within("platform:index:Cluster")
    key = components.one("aws:kms/key:Key", f"mlp-{recording.stack}-secrets-key")
    assert key.inputs["enableKeyRotation"] is True
    (encryption,) = [cluster(recording).inputs["encryptionConfig"]]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"] == key.outputs["arn"]
    # The cluster role may use that key and no other.
    kms = json.loads(components.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    (statement,) = kms["Statement"]
    assert statement["Resource"] == key.outputs["arn"]
    assert all(action.startswith("kms:") and "*" not in action for action in statement["Action"])


def test_all_five_control_plane_logs_go_to_a_retained_group_created_first(recording: Recording) -> None:
    eks = cluster(recording)
    assert (
        set(eks.inputs["enabledClusterLogTypes"]) == set(CONTROL_PLANE_LOG_TYPES) and len(CONTROL_PLANE_LOG_TYPES) == 5
    )
    (group,) = [g for g in recording.find("aws:cloudwatch/logGroup:LogGroup") if g.name.endswith("control-plane-logs")]
    assert group.inputs["name"] == f"/aws/eks/{eks.inputs['name']}/cluster"
    assert group.inputs["retentionInDays"] == {"dev": 30, "staging": 90, "prod": 365}[recording.stack]
    assert group.urn in eks.dependencies


def test_authentication_uses_access_entries(recording: Recording, customised: Recording) -> None:
    access = cluster(recording).inputs["accessConfig"]
    assert access["authenticationMode"] == "API"
    # Only the deployer by default; every configured admin gets its own entry and cluster-admin association.
    assert [e.inputs["principalArn"] for e in recording.find("aws:eks/accessEntry:AccessEntry")] == [DEPLOY_ROLE_ARN]
    entries = {e.inputs["principalArn"]: e for e in customised.find("aws:eks/accessEntry:AccessEntry")}
    assert set(entries) == {DEPLOY_ROLE_ARN, ADMIN_ROLE}
    assert all(e.inputs["type"] == "STANDARD" for e in entries.values())
    associations = {
        a.inputs["principalArn"]: a for a in customised.find("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    }
    assert set(associations) == set(entries)
    for association in associations.values():
        assert association.inputs["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
        assert association.inputs["accessScope"] == {"type": "cluster"}


def test_oidc_provider_trusts_the_cluster_issuer_for_sts(recording: Recording) -> None:
    oidc = recording.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs
    issuer = cluster(recording).outputs["identities"][0]["oidcs"][0]["issuer"]
    assert oidc["url"] == issuer
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"]
    # A pinned thumbprint breaks IRSA on certificate rotation; IAM verifies EKS issuers itself.
    assert "thumbprintLists" not in oidc


def test_nodes_run_in_private_subnets_without_ssh_one_group_per_subnet(recording: Recording) -> None:
    groups = [g.inputs for g in recording.find(NODE_GROUP)]
    assert [subnet for g in groups for subnet in g["subnetIds"]] == cluster(recording).inputs["vpcConfig"]["subnetIds"]
    for group in groups:
        assert len(group["subnetIds"]) == 1
        assert "remoteAccess" not in group
        assert group["clusterName"] == cluster(recording).inputs["name"]


def test_node_group_sizes_and_types_follow_config(recording: Recording) -> None:
    types, minimum, desired, maximum, _ = NODES[recording.stack]
    groups = recording.find(NODE_GROUP)
    sizes = [g.inputs["scalingConfig"] for g in groups]
    assert [(s["minSize"], s["desiredSize"], s["maxSize"]) for s in sizes] == GROUP_SIZES[recording.stack]
    # The totals are the configured ones (each group may still grow to one node).
    assert sum(s["minSize"] for s in sizes) == minimum and sum(s["desiredSize"] for s in sizes) == desired
    assert sum(s["maxSize"] for s in sizes) == maximum
    for group in groups:
        assert group.inputs["instanceTypes"] == types
        assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"
        # The autoscaler owns the count after creation; a re-run must not reset it.
        assert group.ignore_changes == ["scalingConfig.desiredSize"]
    # Identical labels: --balance-similar-node-groups only balances groups that look alike.
    assert len({json.dumps(g.inputs["labels"], sort_keys=True) for g in groups}) == 1


@pytest.mark.parametrize(
    ("totals", "groups", "expected"),
    [
        ((1, 1, 1), 3, [(1, 1, 1), (0, 0, 1), (0, 0, 1)]),  # EKS needs maxSize >= 1 in every group
        ((6, 6, 12), 3, [(2, 2, 4)] * 3),
        ((2, 5, 7), 2, [(1, 3, 4), (1, 2, 3)]),
    ],
)
def test_node_group_sizes_split_the_totals_evenly(
    totals: tuple[int, int, int], groups: int, expected: list[tuple[int, int, int]]
) -> None:
    low, desired, high = totals
    nodes = NodeGroupConfig(("m6i.large",), low, desired, high, 50, "ON_DEMAND")
    sizes = node_group_sizes(nodes, groups)
    assert sizes == expected
    assert all(lo <= de <= hi and hi >= 1 for lo, de, hi in sizes)


def test_graviton_instance_types_get_the_arm64_ami(customised: Recording) -> None:
    assert {g.inputs["amiType"] for g in customised.find(NODE_GROUP)} == {"AL2023_ARM_64_STANDARD"}


def test_launch_template_requires_imdsv2_with_hop_limit_one_and_encrypts_the_root_volume(
    recording: Recording,
) -> None:
    template = recording.one(LAUNCH_TEMPLATE)
    metadata = template.inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpPutResponseHopLimit"] == 1
    assert metadata["httpEndpoint"] == "enabled"
    (device,) = template.inputs["blockDeviceMappings"]
    assert device["ebs"]["encrypted"] == "true"
    assert device["ebs"]["volumeType"] == "gp3"
    assert device["ebs"]["volumeSize"] == NODES[recording.stack][4]
    for group in recording.find(NODE_GROUP):
        assert group.inputs["launchTemplate"]["id"] == template.id
        assert group.inputs["launchTemplate"]["version"] == str(template.outputs["latestVersion"])


def test_nodes_carry_the_cluster_security_group_and_the_node_security_group(recording: Recording) -> None:
    template = recording.one(LAUNCH_TEMPLATE).inputs
    node_sg = recording.one("aws:ec2/securityGroup:SecurityGroup", f"mlp-{recording.stack}-node-sg")
    cluster_sg = cluster(recording).outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert template["vpcSecurityGroupIds"] == [cluster_sg, node_sg.id]
    # The LB controller needs exactly one cluster-tagged group per ENI: that is EKS's cluster security group.
    assert not any(key.startswith("kubernetes.io/cluster/") for key in node_sg.inputs["tags"])


def test_node_role_holds_only_worker_cni_and_ecr_read_only(recording: Recording) -> None:
    role = role_named(recording, "node-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {
        a.inputs["policyArn"] for a in recording.find(ATTACHMENT) if a.property_dependencies.get("role") == [role.urn]
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    }
    inline = [p for p in recording.find("aws:iam/rolePolicy:RolePolicy") if role.urn in p.dependencies]
    assert inline == []


def test_eks_addons_are_pinned_and_the_cni_enforces_network_policy(recording: Recording) -> None:
    addons = {a.inputs["addonName"]: a for a in recording.find(ADDON)}
    version = cluster(recording).inputs["version"]
    assert {name: a.inputs["addonVersion"] for name, a in addons.items()} == RELEASES[version].addons
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    # Networking before the first node joins; CoreDNS after there are nodes (in every zone) to schedule on.
    for group in recording.find(NODE_GROUP):
        assert addons["vpc-cni"].urn in group.dependencies and addons["kube-proxy"].urn in group.dependencies
        assert group.urn in addons["coredns"].dependencies


def test_every_offered_kubernetes_version_has_its_pins() -> None:
    assert KUBERNETES_VERSIONS == tuple(RELEASES)
    for version, release in RELEASES.items():
        assert set(release.addons) == set(EKS_ADDONS)
        # kube-proxy and the autoscaler are built per Kubernetes minor: theirs must be the cluster's.
        assert release.addons["kube-proxy"].startswith(f"v{version}.")
        assert release.autoscaler_image_tag.startswith(f"v{version}.")


def test_node_group_inputs_are_identical_on_a_second_run(recordings: dict[str, Recording]) -> None:
    """No timestamps, random names or lookups that drift: a re-run plans no node group replacement."""
    again = run_stack("prod")
    for type_ in (NODE_GROUP, LAUNCH_TEMPLATE, EKS):
        assert [r.inputs for r in again.find(type_)] == [r.inputs for r in recordings["prod"].find(type_)], type_


def test_kubeconfig_authenticates_with_aws_eks_get_token(recording: Recording) -> None:
    config = json.loads(recording.exports["kubeconfig"])
    eks = cluster(recording)
    (entry,) = config["clusters"]
    assert entry["cluster"]["server"] == eks.outputs["endpoint"]
    assert entry["cluster"]["certificate-authority-data"] == eks.outputs["certificateAuthority"]["data"]
    (user,) = config["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][2:6] == ["eks", "get-token", "--cluster-name", eks.inputs["name"]]
    assert set(user["user"]) == {"exec"}  # no static token or client certificate


def test_one_kubernetes_provider_waits_for_nodes_and_serves_every_kubernetes_resource(recording: Recording) -> None:
    provider = recording.one(PROVIDER)
    assert provider.is_secret("kubeconfig")
    assert all(group.urn in provider.dependencies for group in recording.find(NODE_GROUP))
    kubernetes = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert kubernetes and all(r.provider_urn == provider.urn for r in kubernetes)
