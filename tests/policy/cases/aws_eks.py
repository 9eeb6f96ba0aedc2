"""The rules of `policy/rules/aws_eks.py` on the compliant cluster, node group and vpc-cni add-on: each row one change
and the messages it must produce."""

from __future__ import annotations

from tests.policy.cases.aws_resources import ADDON_T, CLUSTER, CLUSTER_T, CNI, NODE_GROUP, NODE_GROUP_T
from tests.policy.cases.common import fails, passes, table
from tests.policy.cases.stacks import depend, edit, eks_logs, link, node_network, stack_table
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


# The stack rules: the control-plane log group, and where the nodes run.
STACK_CASES = stack_table(
    eks_logs,
    {
        "aws-eks-cluster-configure-log-group-retention": [
            depend("eks").fails(
                "cluster eks must depend on log group /aws/eks/mlp-prod/cluster, or EKS creates it first"
            ),
            edit("control-plane-logs", "name", "/aws/eks/other/cluster").fails(
                "cluster eks: no log group /aws/eks/mlp-prod/cluster; EKS would create one that never expires",
                id="missing",
            ),
            edit("control-plane-logs", "retentionInDays", DELETE).fails(
                "log group /aws/eks/mlp-prod/cluster must set retentionInDays", id="no-retention"
            ),
        ],
    },
) + stack_table(
    node_network,
    {
        "aws-eks-nodegroup-disallow-public-subnets": [
            link("nodes", "subnetIds", "public-0").fails("node group nodes runs in public subnet public-0"),
            edit("private-0", "mapPublicIpOnLaunch", True).fails(
                "node group nodes runs in public subnet private-0", id="public-ip-on-launch"
            ),
            link("private-default", "gatewayId", "igw").fails(
                "node group nodes runs in public subnet private-0", id="private-table-routes-to-igw"
            ),
        ],
    },
)
