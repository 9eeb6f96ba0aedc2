"""The EKS cluster: control plane, managed nodes, EKS add-ons, the OIDC provider for IRSA, and the one Kubernetes
provider every Kubernetes resource of the stack is created through."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.config import ClusterConfig, NodeGroupConfig
from infra.security import rotating_key

# EKS add-on versions pinned per Kubernetes version (config.KUBERNETES_VERSIONS lists the versions offered);
# from the EKS user guide's "latest version" tables for each add-on.
ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.33": {
        "vpc-cni": "v1.20.1-eksbuild.3",
        "kube-proxy": "v1.33.5-eksbuild.2",
        "coredns": "v1.12.4-eksbuild.1",
    },
}
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The node role holds these and nothing else (CIS EKS 5.1.3, 5.2.1); workloads get AWS access through IRSA.
NODE_ROLE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


class ClusterAccess(Protocol):
    """What the data stores and the workloads need of a cluster, whether this stack created it (`Cluster`) or
    brought it (`infra.existing_cluster.ExistingCluster`)."""

    @property
    def provider(self) -> k8s.Provider: ...
    @property
    def version(self) -> pulumi.Input[str]: ...
    @property
    def kubeconfig(self) -> pulumi.Output[str]: ...
    @property
    def cluster_name(self) -> pulumi.Input[str]: ...
    @property
    def oidc_provider_arn(self) -> pulumi.Input[str]: ...
    # Without https://, as IAM condition keys name it.
    @property
    def oidc_issuer(self) -> pulumi.Input[str]: ...
    # The security group the nodes' (and so the pods') ENIs carry: what Redis and RDS admit.
    @property
    def node_security_group_id(self) -> pulumi.Input[str]: ...


@dataclass(frozen=True)
class ClusterArgs:
    # Physical cluster name: the network tags its subnets `kubernetes.io/cluster/<cluster_name>` for discovery.
    cluster_name: str
    config: ClusterConfig
    nodes: NodeGroupConfig
    region: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    tags: dict[str, str]


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig authenticating with `aws eks get-token` (short-lived tokens, no static credentials)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["--region", region, "eks", "get-token", "--cluster-name", cluster_name, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
        }
    )


def _oidc_issuer_url(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    for identity in identities:
        for oidc in identity.oidcs or []:
            if oidc.issuer:
                return oidc.issuer
    raise ValueError("the EKS cluster reports no OIDC issuer, so IRSA cannot be set up")


def _assume_role_policy(service: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}],
        }
    )


class Cluster(pulumi.ComponentResource):
    """EKS with a private endpoint, KMS-encrypted secrets, all control-plane logs, access entries, IRSA and a
    managed node group behind an IMDSv2-only launch template."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    node_groups: list[aws.eks.NodeGroup]
    version: str

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Cluster", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=self)).partition
        addon_versions = ADDON_VERSIONS[cfg.version]

        def tags(suffix: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}"}

        def managed_policy(policy: str) -> str:
            return f"arn:{partition}:iam::aws:policy/{policy}"

        secrets_key = rotating_key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets in EKS cluster {args.cluster_name}",
            tags=args.tags,
            parent=self,
            services=("eks",),
        )
        aws.kms.Alias(
            f"{name}-secrets-key-alias",
            name=f"alias/{args.cluster_name}/eks-secrets",
            target_key_id=secrets_key.key_id,
            opts=child,
        )

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=_assume_role_policy("eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            tags=tags("cluster-role"),
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=managed_policy("AmazonEKSClusterPolicy"),
            opts=child,
        )
        # EKS encrypts and decrypts secrets with the cluster role: it may use this one key, nothing else.
        cluster_kms = aws.iam.RolePolicy(
            f"{name}-cluster-kms",
            role=cluster_role.id,
            policy=secrets_key.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        # Created before the cluster: otherwise EKS creates it on first log line, with no retention and no KMS.
        log_group_name = f"/aws/eks/{args.cluster_name}/cluster"
        logs_key = rotating_key(
            f"{name}-control-plane-logs-key",
            description=f"Encryption of the control-plane logs of EKS cluster {args.cluster_name}",
            tags=args.tags,
            parent=self,
            log_group_names=[log_group_name],
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=log_group_name,
            retention_in_days=cfg.log_retention_days,
            kms_key_id=logs_key.arn,
            tags=tags("control-plane-logs"),
            opts=child,
        )

        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=cfg.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=bool(cfg.public_access_cidrs),
                public_access_cidrs=list(cfg.public_access_cidrs) or None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # The identity running `pulumi up` installs the Helm add-ons through the Kubernetes provider,
                # so it needs access from the first minute; further admins come from cluster.adminRoleArns.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            # vpc-cni, kube-proxy and coredns are EKS managed add-ons below, pinned and configured here.
            bootstrap_self_managed_addons=False,
            tags=tags("eks"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, cluster_policy, cluster_kms]),
        )

        for arn in cfg.admin_role_arns:
            suffix = hashlib.sha256(arn.encode()).hexdigest()[:8]
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{suffix}",
                cluster_name=cluster.name,
                principal_arn=arn,
                type="STANDARD",
                tags=tags(f"admin-{suffix}"),
                opts=child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{suffix}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{CLUSTER_ADMIN_POLICY}",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )

        issuer_url = cluster.identities.apply(_oidc_issuer_url)
        # No thumbprint: IAM trusts the EKS OIDC issuer through its own CA library, and a pinned thumbprint is
        # what breaks IRSA when AWS rotates the issuer's certificate.
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags("oidc"),
            opts=child,
        )

        # The identity of nodes and pods towards Redis and RDS. Built from the VPC alone, so the data stores that
        # admit it do not wait for the cluster. Not tagged kubernetes.io/cluster/<name>: the LB controller
        # requires exactly one such group per ENI, and the cluster security group already is it.
        node_sg = aws.ec2.SecurityGroup(
            f"{name}-node-sg",
            vpc_id=args.vpc_id,
            description=f"EKS nodes and pods of {args.cluster_name}; the source Redis and RDS admit",
            tags=tags("node-sg"),
            opts=child,
        )
        cluster_sg_id = cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id or "")

        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
            tags=tags("node-role"),
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name, policy_arn=managed_policy(policy), opts=child
            )
            for policy in NODE_ROLE_POLICIES
        ]

        def addon(addon_name: str, depends_on: Sequence[pulumi.Resource], config: dict[str, Any] | None = None) -> Any:
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=addon_versions[addon_name],
                configuration_values=json.dumps(config) if config else None,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags(addon_name),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )

        # The CNI (with network policy enforcement for the workloads' NetworkPolicies) and kube-proxy must be in
        # place before the first node joins, or nodes come up without pod networking.
        vpc_cni = addon("vpc-cni", [], {"enableNetworkPolicy": "true"})
        kube_proxy = addon("kube-proxy", [])

        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes-lt",
            description=f"Nodes of EKS cluster {args.cluster_name}: IMDSv2 only, encrypted gp3 root volume",
            update_default_version=True,
            vpc_security_group_ids=[cluster_sg_id, node_sg.id],
            # Hop limit 1: pods cannot reach the node's instance metadata and borrow the node role.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=args.nodes.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags(f"node-{kind}"))
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags("nodes-lt"),
            opts=child,
        )
        nodes = args.nodes
        node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            version=cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=list(args.private_subnet_ids),
            ami_type=nodes.ami_type,
            capacity_type=nodes.capacity_type,
            instance_types=list(nodes.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=nodes.min_size, desired_size=nodes.desired_size, max_size=nodes.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id, version=launch_template.latest_version.apply(str)
            ),
            labels={"platform/node-group": "general"},
            tags=tags("nodes"),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Without its policies the node role cannot join; without the CNI nodes never become Ready.
                depends_on=[*node_policies, vpc_cni, kube_proxy],
                # The cluster autoscaler owns the node count once running: a re-run must not reset it.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        # CoreDNS pods need nodes to schedule on; created earlier, the add-on sits DEGRADED until it times out.
        coredns = addon("coredns", [node_group])

        self.cluster_name = cluster.name
        self.version = cfg.version
        self.endpoint = cluster.endpoint
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
                lambda a: kubeconfig(a[0], a[1], a[2], args.region)
            )
        )
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer_url.apply(lambda url: url.removeprefix("https://"))
        self.cluster_security_group_id = cluster_sg_id
        self.node_security_group_id = node_sg.id
        self.node_groups = [node_group]
        # The one Kubernetes provider of the stack: it waits for nodes and DNS, so nothing deployed through it
        # (Helm releases, workloads) is attempted against a cluster that cannot run pods yet.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.node_groups, coredns]),
        )
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcIssuer": self.oidc_issuer,
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "nodeSecurityGroupId": self.node_security_group_id,
            }
        )
