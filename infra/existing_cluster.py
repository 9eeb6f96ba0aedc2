"""A cluster this stack did not create: brought by a fork (bring your own cluster), or a preview's base stack's.

It is read either from another stack's outputs, through a StackReference, or from config (a kubeconfig secret
and the cluster's AWS identifiers). Either way the one Kubernetes provider of the stack is built here, from the
kubeconfig, and handed down like `Cluster.provider`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ExistingClusterConfig

# The outputs a referenced stack must have; this program's full stacks export them all.
KUBECONFIG = "kubeconfig"
KUBERNETES_VERSION = "kubernetesVersion"
CLUSTER_NAME = "clusterName"
NODE_SECURITY_GROUP_ID = "nodeSecurityGroupId"
OIDC_PROVIDER_ARN = "oidcProviderArn"
OIDC_ISSUER_URL = "oidcIssuerUrl"


def _string(value: pulumi.Output[Any]) -> pulumi.Output[str]:
    return value.apply(str)


@dataclass(frozen=True)
class ExistingClusterArgs:
    """The cluster's access and identity; `kubeconfig` is treated as a secret whatever it arrives as."""

    kubeconfig: pulumi.Input[str]
    version: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    node_security_group_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]

    @staticmethod
    def from_stack(stack: pulumi.StackReference) -> ExistingClusterArgs:
        """From the outputs of a stack of this program (or any stack exporting the same names)."""
        return ExistingClusterArgs(
            kubeconfig=_string(stack.require_output(KUBECONFIG)),
            version=_string(stack.require_output(KUBERNETES_VERSION)),
            cluster_name=_string(stack.require_output(CLUSTER_NAME)),
            node_security_group_id=_string(stack.require_output(NODE_SECURITY_GROUP_ID)),
            oidc_provider_arn=_string(stack.require_output(OIDC_PROVIDER_ARN)),
            oidc_issuer_url=_string(stack.require_output(OIDC_ISSUER_URL)),
        )

    @staticmethod
    def from_config(config: ExistingClusterConfig, version: str) -> ExistingClusterArgs:
        """From `cluster.kubeconfig` and its companion keys (validated together at load time)."""
        kubeconfig, name = config.kubeconfig, config.cluster_name
        node_sg, oidc_arn, issuer = config.node_security_group_id, config.oidc_provider_arn, config.oidc_issuer_url
        if kubeconfig is None or name is None or node_sg is None or oidc_arn is None or issuer is None:
            raise ValueError("a brought cluster without a stack reference needs its kubeconfig and identifiers")
        return ExistingClusterArgs(kubeconfig, version, name, node_sg, oidc_arn, issuer)


class ExistingCluster(pulumi.ComponentResource):
    """The Kubernetes provider of a cluster created elsewhere, and what the stack needs to know about it.

    Satisfies `infra.cluster.ClusterAccess`. Nothing is installed on the cluster here: it must already run the
    AWS Load Balancer Controller and metrics-server (as a cluster of this program does).
    """

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    version: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]

    def __init__(self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:ExistingCluster", name, None, opts)
        self.kubeconfig = pulumi.Output.secret(args.kubeconfig)
        self.version = pulumi.Output.from_input(args.version)
        self.cluster_name = pulumi.Output.from_input(args.cluster_name)
        self.node_security_group_id = pulumi.Output.from_input(args.node_security_group_id)
        self.oidc_provider_arn = pulumi.Output.from_input(args.oidc_provider_arn)
        self.oidc_issuer = pulumi.Output.from_input(args.oidc_issuer_url).apply(
            lambda url: url.removeprefix("https://")
        )
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"clusterName": self.cluster_name, "kubeconfig": self.kubeconfig})
