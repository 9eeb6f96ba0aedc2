"""The rules of `policy/rules/aws_eks.py` on the compliant cluster, node group and vpc-cni add-on: each row one change
and the messages it must produce."""

from __future__ import annotations

from tests.policy.cases.aws_resources import ADDON_T, CLUSTER, CLUSTER_T, CNI, NODE_GROUP, NODE_GROUP_T
from tests.policy.cases.common import fails, passes, table
from tests.policy.support import DELETE, changed

# deployFrom: cidrs, the other compliant shape: the public endpoint open to configured ranges only.
PUBLIC_CLUSTER = changed(
    CLUSTER, {"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["203.0.113.0/24"]}
)

CASES = [
    *table(
        CLUSTER_T,
        CLUSTER,
        {
            "aws-eks-cluster-enable-private-endpoint": [
                fails("vpcConfig.endpointPrivateAccess", False, "endpointPrivateAccess must be true"),
            ],
            "aws-eks-cluster-disallow-unrestricted-public-endpoint": [
                fails("vpcConfig.endpointPublicAccess", DELETE, "open to 0.0.0.0/0", id="provider-default-is-public"),
                fails(
                    "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"], "contains 0.0.0.0/0", on=(CLUSTER_T, PUBLIC_CLUSTER)
                ),
                fails(
                    "vpcConfig.publicAccessCidrs", ["::/0"], "contains ::/0", id="ipv6", on=(CLUSTER_T, PUBLIC_CLUSTER)
                ),
                fails(
                    "vpcConfig.publicAccessCidrs",
                    DELETE,
                    "no vpcConfig.publicAccessCidrs: the API is open to 0.0.0.0/0",
                    id="no-cidrs",
                    on=(CLUSTER_T, PUBLIC_CLUSTER),
                ),
            ],
            "aws-eks-cluster-enable-secrets-encryption": [
                fails("encryptionConfig", DELETE, "encryptionConfig is missing"),
                fails("encryptionConfig.resources", [], "must include 'secrets'", id="no-secrets"),
                fails("encryptionConfig.provider.keyArn", DELETE, "keyArn must name a customer-managed KMS key"),
            ],
            "aws-eks-cluster-enable-control-plane-logging": [
                fails(
                    "enabledClusterLogTypes", ["api", "audit"], "missing authenticator, controllerManager, scheduler"
                ),
            ],
            "aws-eks-cluster-configure-api-access-entries": [
                fails("accessConfig.authenticationMode", "CONFIG_MAP", "must be 'API'"),
            ],
        },
    ),
    *table(
        NODE_GROUP_T,
        NODE_GROUP,
        {
            "aws-eks-nodegroup-disallow-remote-access": [
                fails("remoteAccess", {"ec2SshKey": "ops"}, "opens SSH"),
            ],
            "aws-eks-nodegroup-configure-launch-template": [
                fails("launchTemplate", DELETE, "launchTemplate (id or name"),
                fails("launchTemplate.id", DELETE, "launchTemplate (id or name", id="no-id"),
                passes({"launchTemplate.id": DELETE, "launchTemplate.name": "mlp-prod-nodes"}, id="by-name"),
                fails("launchTemplate.version", DELETE, "launchTemplate.version must be set", id="unversioned"),
            ],
        },
    ),
    *table(
        ADDON_T,
        CNI,
        {
            "aws-eks-addon-enable-vpc-cni-network-policy": [
                passes({"addonName": "coredns", "configurationValues": DELETE}, id="other-addon"),
                fails("configurationValues", DELETE, "enableNetworkPolicy"),
                fails("configurationValues", '{"enableNetworkPolicy": "false"}', "enableNetworkPolicy", id="off"),
            ],
            "aws-eks-addon-configure-pinned-version": [
                fails("addonVersion", DELETE, "pin the vpc-cni"),
            ],
        },
    ),
]
