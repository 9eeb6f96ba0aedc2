"""Passing and failing cases for the rules of `policy/rules/aws_eks.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import ADDON_T, CLUSTER, CLUSTER_T, CNI, NODE_GROUP, NODE_GROUP_T
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
    Case("aws-eks-cluster-enable-private-endpoint", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-enable-private-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPrivateAccess": False}),
        "endpointPrivateAccess must be true",
    ),
    Case("aws-eks-cluster-disallow-unrestricted-public-endpoint", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-disallow-unrestricted-public-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["203.0.113.0/24"]}),
        id="restricted-cidrs",
    ),
    Case(
        "aws-eks-cluster-disallow-unrestricted-public-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPublicAccess": DELETE}),
        "open to 0.0.0.0/0",
        id="provider-default-is-public",
    ),
    Case(
        "aws-eks-cluster-disallow-unrestricted-public-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]}),
        "contains 0.0.0.0/0",
    ),
    Case("aws-eks-cluster-enable-secrets-encryption", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-enable-secrets-encryption",
        CLUSTER_T,
        changed(CLUSTER, {"encryptionConfig": DELETE}),
        "encryptionConfig is missing",
    ),
    Case(
        "aws-eks-cluster-enable-secrets-encryption",
        CLUSTER_T,
        changed(CLUSTER, {"encryptionConfig.resources": []}),
        "must include 'secrets'",
        id="no-secrets",
    ),
    Case("aws-eks-cluster-enable-control-plane-logging", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-enable-control-plane-logging",
        CLUSTER_T,
        changed(CLUSTER, {"enabledClusterLogTypes": ["api", "audit"]}),
        "missing authenticator, controllerManager, scheduler",
    ),
    Case("aws-eks-cluster-configure-api-access-entries", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-configure-api-access-entries",
        CLUSTER_T,
        changed(CLUSTER, {"accessConfig.authenticationMode": "CONFIG_MAP"}),
        "must be 'API'",
    ),
    Case("aws-eks-nodegroup-disallow-remote-access", NODE_GROUP_T, NODE_GROUP),
    Case(
        "aws-eks-nodegroup-disallow-remote-access",
        NODE_GROUP_T,
        changed(NODE_GROUP, {"remoteAccess": {"ec2SshKey": "ops"}}),
        "opens SSH",
    ),
    Case("aws-eks-nodegroup-configure-launch-template", NODE_GROUP_T, NODE_GROUP),
    Case(
        "aws-eks-nodegroup-configure-launch-template",
        NODE_GROUP_T,
        changed(NODE_GROUP, {"launchTemplate": DELETE}),
        "launchTemplate (id or name",
    ),
    Case(
        "aws-eks-nodegroup-configure-launch-template",
        NODE_GROUP_T,
        changed(NODE_GROUP, {"launchTemplate.version": DELETE}),
        "launchTemplate.version must be set",
        id="unversioned",
    ),
    Case("aws-eks-addon-enable-vpc-cni-network-policy", ADDON_T, CNI),
    Case(
        "aws-eks-addon-enable-vpc-cni-network-policy",
        ADDON_T,
        changed(CNI, {"addonName": "coredns", "configurationValues": DELETE}),
        id="other-addon",
    ),
    Case(
        "aws-eks-addon-enable-vpc-cni-network-policy",
        ADDON_T,
        changed(CNI, {"configurationValues": DELETE}),
        "enableNetworkPolicy",
    ),
    Case("aws-eks-addon-configure-pinned-version", ADDON_T, CNI),
    Case("aws-eks-addon-configure-pinned-version", ADDON_T, changed(CNI, {"addonVersion": DELETE}), "pin the vpc-cni"),
]
