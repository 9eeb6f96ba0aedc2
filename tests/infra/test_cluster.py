"""The EKS cluster component, checked on what each stack registers: endpoint exposure, encryption, logging,
access entries, IRSA, the hardened node group, pinned EKS add-ons and the single Kubernetes provider."""

from __future__ import annotations

import json

import pytest

from infra.addons import AUTOSCALER_IMAGE_TAGS
from infra.cluster import ADDON_VERSIONS, CONTROL_PLANE_LOG_TYPES
from infra.config import KUBERNETES_VERSIONS
from tests.infra.harness import Recording, Resource, run_stack

EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PROVIDER = "pulumi:providers:kubernetes"

NODES = {  # stack: (instance types, min, desired, max, root volume GiB)
    "dev": (["t3.large"], 1, 2, 3, 30),
    "staging": (["m6i.large"], 2, 2, 4, 50),
    "prod": (["m6i.xlarge"], 3, 3, 10, 100),
}
ADMIN_ROLE = "arn:aws:iam::123456789012:role/platform-admins"


@pytest.fixture(scope="module")
def customised() -> Recording:
    """dev with the optional cluster settings a real stack may use: a public endpoint limited to one range,
    an admin role, and Graviton nodes."""
    return run_stack(
        "dev",
        {
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
    assert eks["version"] == "1.33"
    discovery = f"kubernetes.io/cluster/{eks['name']}"
    assert all(discovery in s.inputs["tags"] for s in recording.find("aws:ec2/subnet:Subnet"))


def test_control_plane_lives_in_the_private_subnets(recording: Recording) -> None:
    private = {
        s.id for s in recording.find("aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in s.inputs["tags"]
    }
    assert set(cluster(recording).inputs["vpcConfig"]["subnetIds"]) == private


def test_api_endpoint_is_private_unless_cidrs_are_configured(recording: Recording, customised: Recording) -> None:
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
    assert not recording.find("aws:eks/accessEntry:AccessEntry")
    entry = customised.one("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == ADMIN_ROLE and entry.inputs["type"] == "STANDARD"
    association = customised.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert association.inputs["principalArn"] == ADMIN_ROLE
    assert association.inputs["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert association.inputs["accessScope"] == {"type": "cluster"}


def test_oidc_provider_trusts_the_cluster_issuer_for_sts(recording: Recording) -> None:
    oidc = recording.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs
    issuer = cluster(recording).outputs["identities"][0]["oidcs"][0]["issuer"]
    assert oidc["url"] == issuer
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"]
    # A pinned thumbprint breaks IRSA on certificate rotation; IAM verifies EKS issuers itself.
    assert "thumbprintLists" not in oidc


def test_nodes_run_in_private_subnets_without_ssh(recording: Recording) -> None:
    group = recording.one(NODE_GROUP).inputs
    assert group["subnetIds"] == cluster(recording).inputs["vpcConfig"]["subnetIds"]
    assert "remoteAccess" not in group
    assert group["clusterName"] == cluster(recording).inputs["name"]


def test_node_group_size_and_types_follow_config(recording: Recording) -> None:
    types, minimum, desired, maximum, _ = NODES[recording.stack]
    group = recording.one(NODE_GROUP)
    assert group.inputs["instanceTypes"] == types
    assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert group.inputs["scalingConfig"] == {"minSize": minimum, "desiredSize": desired, "maxSize": maximum}
    # The autoscaler owns the count after creation; a re-run must not reset it.
    assert group.ignore_changes == ["scalingConfig.desiredSize"]


def test_graviton_instance_types_get_the_arm64_ami(customised: Recording) -> None:
    assert customised.one(NODE_GROUP).inputs["amiType"] == "AL2023_ARM_64_STANDARD"


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
    group = recording.one(NODE_GROUP).inputs
    assert group["launchTemplate"]["id"] == template.id
    assert group["launchTemplate"]["version"] == str(template.outputs["latestVersion"])


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
    assert {name: a.inputs["addonVersion"] for name, a in addons.items()} == ADDON_VERSIONS["1.33"]
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    group = recording.one(NODE_GROUP)
    # Networking before the first node joins; CoreDNS after there are nodes to schedule on.
    assert addons["vpc-cni"].urn in group.dependencies and addons["kube-proxy"].urn in group.dependencies
    assert group.urn in addons["coredns"].dependencies


def test_every_offered_kubernetes_version_has_its_pins() -> None:
    assert set(ADDON_VERSIONS) == set(KUBERNETES_VERSIONS) == set(AUTOSCALER_IMAGE_TAGS)


def test_node_group_inputs_are_identical_on_a_second_run(recordings: dict[str, Recording]) -> None:
    """No timestamps, random names or lookups that drift: a re-run plans no node group replacement."""
    again = run_stack("prod")
    for type_ in (NODE_GROUP, LAUNCH_TEMPLATE, EKS):
        assert again.one(type_).inputs == recordings["prod"].one(type_).inputs, type_


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
    group = recording.one(NODE_GROUP)
    assert group.urn in provider.dependencies
    kubernetes = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert kubernetes and all(r.provider_urn == provider.urn for r in kubernetes)
