"""Bring your own cluster: a full stack that creates the data stores and the workloads on a cluster it did not create.

The cluster comes from another stack's outputs (cluster.stackReference) or from a kubeconfig secret plus the
cluster's node security group and OIDC provider (cluster.kubeconfig, ...). Either way the stack creates no EKS
resource and installs no add-on, and its Redis, RDS and IRSA role trust that cluster.
"""

from __future__ import annotations

import json

import pytest
import yaml

from infra.config import KUBERNETES_VERSIONS, ConfigError
from tests.infra.harness import Recording, Secret, qualified, run_stack

VPC_ID = "vpc-0123456789abcdef0"
PRIVATE = ["subnet-0b000001", "subnet-0b000002"]
BYO_VPC = {
    "platform:network.vpcId": VPC_ID,
    "platform:network.publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
    "platform:network.privateSubnetIds": PRIVATE,
    "platform:network.dataSubnetIds": ["subnet-0c000001", "subnet-0c000002"],
    "platform:network.internalAlbSubnetIds": ["subnet-0d000001", "subnet-0d000002"],
}
NODE_SG = "sg-0fedcba9876543210"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/5C1A2B3D4E5F60718293A4B5C6D7E8F9"
OIDC_ARN = (
    "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/5C1A2B3D4E5F60718293A4B5C6D7E8F9"
)
KUBECONFIG = yaml.safe_dump(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "team-shared", "cluster": {"server": "https://team-shared.example.com"}}],
        "users": [{"name": "deployer", "user": {"token": "kubeconfig-bearer-token-0123456789"}}],
        "contexts": [{"name": "shared", "context": {"cluster": "team-shared", "user": "deployer"}}],
        "current-context": "shared",
    }
)
BY_KUBECONFIG = {
    **BYO_VPC,
    "platform:cluster.kubeconfig": Secret(KUBECONFIG),
    "platform:cluster.nodeSecurityGroupId": NODE_SG,
    "platform:cluster.oidcProviderArn": OIDC_ARN,
    "platform:cluster.oidcIssuerUrl": ISSUER,
}
CLOUD_CLUSTER_TYPES = ("aws:eks/", "aws:iam/openIdConnectProvider", "aws:ec2/launchTemplate")


@pytest.fixture(scope="module")
def by_reference(recordings: dict[str, Recording]) -> Recording:
    """prod's data stores and workloads on dev's cluster, read through a StackReference."""
    return run_stack(
        "prod", {**BYO_VPC, "platform:cluster.stackReference": "dev"}, references={qualified("dev"): recordings["dev"]}
    )


@pytest.fixture(scope="module")
def by_kubeconfig() -> Recording:
    return run_stack("prod", BY_KUBECONFIG)


def _assert_brought(rec: Recording, kubeconfig: str, node_sg: str, oidc_arn: str, issuer: str) -> None:
    """No cluster created, no add-on installed; the provider, the data stores and IRSA all use the brought one."""
    assert not [r.type for r in rec.resources if r.type.startswith(CLOUD_CLUSTER_TYPES)]
    assert not rec.find("platform:index:Cluster") and not rec.find("platform:index:Addons")
    assert not rec.find("kubernetes:helm.sh/v3:Release")
    (provider,) = rec.find("pulumi:providers:kubernetes")
    assert provider.parent == rec.one("platform:index:ExistingCluster").urn
    assert provider.is_secret("kubeconfig") and provider.inputs["kubeconfig"] == kubeconfig
    for r in rec.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider_urn == provider.urn, r.name
    rules = rec.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert sorted(r.inputs["fromPort"] for r in rules) == [5432, 6379]
    assert {r.inputs["referencedSecurityGroupId"] for r in rules} == {node_sg}
    assert {sg.inputs["vpcId"] for sg in rec.find("aws:ec2/securityGroup:SecurityGroup")} == {VPC_ID}
    role = rec.one("aws:iam/role:Role", "mlp-prod-mlflow-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    bare = issuer.removeprefix("https://")
    assert statement["Principal"] == {"Federated": oidc_arn}
    assert statement["Condition"]["StringEquals"][f"{bare}:sub"] == "system:serviceaccount:mlflow:mlflow"
    assert rec.exports["nodeSecurityGroupId"] == node_sg
    assert rec.exports["oidcIssuerUrl"] == issuer and rec.exports["oidcProviderArn"] == oidc_arn
    assert rec.secret_exports == {"kubeconfig"}
    # The data stores and the workloads are still all there.
    for kind in ("aws:elasticache/replicationGroup:ReplicationGroup", "aws:rds/instance:Instance"):
        assert len(rec.find(kind)) == 1
    assert {m["metadata"]["name"] for m in rec.kubernetes_manifests() if m["kind"] == "Deployment"} == {
        "inference",
        "mlflow",
    }


def test_a_stack_can_use_the_cluster_of_another_stack(
    by_reference: Recording, recordings: dict[str, Recording]
) -> None:
    dev = recordings["dev"].exports
    (reference,) = by_reference.find("pulumi:pulumi:StackReference")
    assert reference.inputs["name"] == "acme/platform/dev"
    _assert_brought(
        by_reference, dev["kubeconfig"], dev["nodeSecurityGroupId"], dev["oidcProviderArn"], dev["oidcIssuerUrl"]
    )
    assert by_reference.exports["clusterName"] == "mlp-dev"
    assert by_reference.exports["kubernetesVersion"] == dev["kubernetesVersion"]


def test_a_stack_can_use_a_cluster_given_by_a_kubeconfig_secret(by_kubeconfig: Recording) -> None:
    _assert_brought(by_kubeconfig, KUBECONFIG, NODE_SG, OIDC_ARN, ISSUER)
    assert not by_kubeconfig.find("pulumi:pulumi:StackReference")
    assert by_kubeconfig.exports["clusterName"] == "team-shared"
    # cluster.version (its default, the newest offered) gives the Pod Security Admission version.
    assert by_kubeconfig.exports["kubernetesVersion"] == KUBERNETES_VERSIONS[0]


def test_workloads_on_a_brought_cluster_wait_only_for_their_namespaces(by_kubeconfig: Recording) -> None:
    """The brought cluster runs its own LB controller; pods still wait for their namespace's NetworkPolicies."""
    namespaces = by_kubeconfig.one("platform:index:Namespaces")
    policies = {r.urn for r in by_kubeconfig.descendants(namespaces)}
    for r in by_kubeconfig.resources:
        if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job"):
            assert policies <= set(r.dependencies), r.name


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {**BY_KUBECONFIG, "platform:cluster.kubeconfig": KUBECONFIG},
            "platform:cluster.kubeconfig must be a secret: set it with `pulumi config set --secret cluster.kubeconfig",
        ),
        (
            {**BY_KUBECONFIG, "platform:cluster.nodeSecurityGroupId": ""},
            "platform:cluster.nodeSecurityGroupId must be set when cluster.kubeconfig is set",
        ),
        (
            {**BY_KUBECONFIG, "platform:cluster.oidcIssuerUrl": ""},
            "platform:cluster.oidcIssuerUrl must be set when cluster.kubeconfig is set",
        ),
        (
            {**BY_KUBECONFIG, "platform:cluster.oidcIssuerUrl": "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123"},
            "platform:cluster.oidcProviderArn must be the provider of cluster.oidcIssuerUrl",
        ),
        (
            {**BY_KUBECONFIG, "platform:cluster.stackReference": "dev"},
            "platform:cluster.kubeconfig must be empty when cluster.stackReference is set",
        ),
        (
            {**BYO_VPC, "platform:cluster.nodeSecurityGroupId": NODE_SG},
            "platform:cluster.nodeSecurityGroupId must be set only with cluster.kubeconfig",
        ),
        (
            {"platform:cluster.stackReference": "dev"},
            "platform:network.vpcId must be set (with network.privateSubnetIds) when the cluster is brought",
        ),
        ({**BYO_VPC, "platform:cluster.stackReference": "a/b"}, "platform:cluster.stackReference must be a stack name"),
        (
            {**BY_KUBECONFIG, "platform:cluster.nodeSecurityGroupId": "sg-1"},
            "platform:cluster.nodeSecurityGroupId must be a security group id (sg-...)",
        ),
    ],
)
def test_invalid_brought_cluster_config_fails_naming_the_key(
    overrides: dict[str, object], message: str, recordings: dict[str, Recording]
) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack("prod", overrides, references={qualified("dev"): recordings["dev"]})
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("document", ["not: [a kubeconfig", "[]", "current-context: nowhere\n"])
def test_a_malformed_kubeconfig_is_refused_without_quoting_it(document: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack("prod", {**BY_KUBECONFIG, "platform:cluster.kubeconfig": Secret(document)})
    assert str(err.value) == (
        "platform:cluster.kubeconfig must be a kubeconfig (YAML or JSON) whose current-context names one of its "
        "contexts and clusters"
    )
    assert document not in str(err.value)
