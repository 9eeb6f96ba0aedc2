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
from infra.deployer import deployer_principal
from infra.kubeconfig import kubeconfig
from infra.nodes import Tags, launch_template, node_groups
from infra.security import HTTPS_PORT, encrypted_log_groups, https_group, rotating_key, security_group, tcp_rule
from infra.upgrade import check_upgrade_step, running_version
from infra.versions import release

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The node role holds these and nothing else (CIS EKS 5.1.3, 5.2.1); workloads get AWS access through IRSA.
NODE_ROLE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
# EKS user guide, "Associate access policies with access entries": a namespace scope may name namespaces with a
# wildcard (dev-*), and Edit grants the Kubernetes `edit` role's permissions in them only.
PREVIEW_POLICY = "AmazonEKSEditPolicy"
PREVIEW_NAMESPACES = ("pr-*",)
# The Kubernetes group of the preview roles' access entries (RBAC subject in infra/preview_access.py).
PREVIEW_GROUP = "preview-deployers"


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
    # One per AZ: each gets a managed node group of its own.
    private_subnet_ids: Sequence[pulumi.Input[str]]
    tags: dict[str, str]


def _oidc_issuer_url(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    for identity in identities:
        for oidc in identity.oidcs or []:
            if oidc.issuer:
                return oidc.issuer
    raise ValueError("the EKS cluster reports no OIDC issuer, so IRSA cannot be set up")


def _managed_policy(partition: str, policy: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{policy}"


def _short_hash(arn: str) -> str:
    """A stable suffix for the resources of one configured role."""
    return hashlib.sha256(arn.encode()).hexdigest()[:8]


def _assume_role_policy(service: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}],
        }
    )


class Cluster(pulumi.ComponentResource):
    """EKS with a private (or CIDR-restricted) endpoint, KMS-encrypted secrets, all control-plane logs, explicit
    access entries, IRSA and one managed node group per AZ behind an IMDSv2-only launch template."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    # What a deploy runner inside the VPC carries to reach the private API endpoint.
    deploy_runner_security_group_id: pulumi.Output[str]
    node_groups: list[aws.eks.NodeGroup]
    version: str

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Cluster", name, None, opts)
        cfg = args.config
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        deployer = deployer_principal(cfg, invoke)
        check_upgrade_step(running_version(args.cluster_name, invoke), cfg.version)

        def tags(suffix: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}"}

        cluster = self._control_plane(name, args, partition, tags)
        access = self._access_entries(name, cfg, cluster.name, deployer, partition, tags)
        oidc, issuer_url = self._oidc_provider(name, cluster, tags)
        node_sg = self._node_security_group(name, args, tags)
        cluster_sg_id = cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id or "")
        runner_sg, api_reach = self._deploy_runner_access(name, args, cluster_sg_id, tags)
        node_groups, coredns = self._nodes(name, args, cluster, partition, [cluster_sg_id, node_sg.id], tags)

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
        self.deploy_runner_security_group_id = runner_sg.id
        self.node_groups = node_groups
        # The one Kubernetes provider of the stack: it waits for nodes and DNS, so nothing deployed through it
        # (Helm releases, workloads) is attempted against a cluster that cannot run pods yet; and for the access
        # entries and their policy associations, without which the deployer's first request is refused
        # (Unauthorized) while EKS is still propagating them.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.node_groups, coredns, *access, api_reach]),
        )
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcIssuer": self.oidc_issuer,
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "nodeSecurityGroupId": self.node_security_group_id,
                "deployRunnerSecurityGroupId": self.deploy_runner_security_group_id,
            }
        )

    def _node_security_group(self, name: str, args: ClusterArgs, tags: Tags) -> aws.ec2.SecurityGroup:
        """The identity of nodes and pods towards Redis and RDS.

        Built from the VPC alone, so the data stores that admit it do not wait for the cluster. Not tagged
        kubernetes.io/cluster/<name>: the LB controller requires exactly one such group per ENI, and the cluster
        security group already is it.
        """
        return security_group(
            f"{name}-node-sg",
            vpc_id=args.vpc_id,
            description=f"EKS nodes and pods of {args.cluster_name}; the source Redis and RDS admit",
            tags=tags("node-sg"),
            parent=self,
        )

    def _oidc_provider(
        self, name: str, cluster: aws.eks.Cluster, tags: Tags
    ) -> tuple[aws.iam.OpenIdConnectProvider, pulumi.Output[str]]:
        """The IAM OIDC provider IRSA trusts, and the cluster's issuer URL."""
        issuer_url = cluster.identities.apply(_oidc_issuer_url)
        # No thumbprint: IAM trusts the EKS OIDC issuer through its own CA library, and a pinned thumbprint is
        # what breaks IRSA when AWS rotates the issuer's certificate.
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags("oidc"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return oidc, issuer_url

    def _secrets_key(self, name: str, args: ClusterArgs) -> aws.kms.Key:
        """The customer-managed key EKS envelope-encrypts Kubernetes secrets with, and its alias."""
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
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secrets_key

    def _control_plane_role(
        self, name: str, partition: str, secrets_key: aws.kms.Key, tags: Tags
    ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The role the control plane runs as, and its grants (which the cluster must wait for)."""
        child = pulumi.ResourceOptions(parent=self)
        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=_assume_role_policy("eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            tags=tags("cluster-role"),
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=_managed_policy(partition, "AmazonEKSClusterPolicy"),
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
        return cluster_role, [cluster_policy, cluster_kms]

    def _control_plane(self, name: str, args: ClusterArgs, partition: str, tags: Tags) -> aws.eks.Cluster:
        """The EKS cluster itself: its secrets key, its role and its log group first, then the control plane."""
        cfg = args.config
        secrets_key = self._secrets_key(name, args)
        cluster_role, grants = self._control_plane_role(name, partition, secrets_key, tags)
        # Created before the cluster: otherwise EKS creates it on first log line, with no retention and no KMS.
        (log_group,) = encrypted_log_groups(
            f"{name}-control-plane-logs-key",
            description=f"Encryption of the control-plane logs of EKS cluster {args.cluster_name}",
            log_groups={f"{name}-control-plane-logs": f"/aws/eks/{args.cluster_name}/cluster"},
            retention_days=cfg.log_retention_days,
            tags=args.tags,
            parent=self,
        )
        return aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=cfg.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids),
                endpoint_private_access=True,
                # cluster.deployFrom: "vpc" deploys from inside the VPC, "cidrs" from these addresses only.
                endpoint_public_access=cfg.public_endpoint,
                public_access_cidrs=list(cfg.public_access_cidrs) if cfg.public_endpoint else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # Off: the creator's implicit entry is invisible to the program, and an explicit entry for the same
                # principal then fails with ResourceInUseException (terraform-aws-modules/terraform-aws-eks issues
                # 2969, 3293). The deployer gets an entry of its own (_access_entries).
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            # STANDARD: no extended-support billing; EKS upgrades the control plane when standard support ends,
            # which infra/versions.py keeps from happening by offering only versions in standard support.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            # vpc-cni, kube-proxy and coredns are EKS managed add-ons (_nodes), pinned and configured there.
            bootstrap_self_managed_addons=False,
            tags=tags("eks"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, *grants]),
        )

    def _access_entries(
        self,
        name: str,
        cfg: ClusterConfig,
        cluster_name: pulumi.Input[str],
        deployer: pulumi.Input[str],
        partition: str,
        tags: Tags,
    ) -> list[pulumi.Resource]:
        """Access entries and their policy associations: the deployer and cluster.adminRoleArns administer the
        cluster, cluster.previewRoleArns edit the preview namespaces only."""
        child = pulumi.ResourceOptions(parent=self)
        access: list[pulumi.Resource] = []

        def grant(
            suffix: str,
            principal: pulumi.Input[str],
            policy: str,
            scope: aws.eks.AccessPolicyAssociationAccessScopeArgs,
            groups: Sequence[str] | None = None,
        ) -> None:
            entry = aws.eks.AccessEntry(
                f"{name}-{suffix}",
                cluster_name=cluster_name,
                principal_arn=principal,
                type="STANDARD",
                kubernetes_groups=list(groups) if groups else None,
                tags=tags(suffix),
                opts=child,
            )
            association = aws.eks.AccessPolicyAssociation(
                f"{name}-{suffix}",
                cluster_name=cluster_name,
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{policy}",
                access_scope=scope,
                opts=child,
            )
            access.extend([entry, association])

        whole_cluster = aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster")
        grant("deployer", deployer, CLUSTER_ADMIN_POLICY, whole_cluster)
        for arn in cfg.admin_role_arns:
            grant(f"admin-{_short_hash(arn)}", arn, CLUSTER_ADMIN_POLICY, whole_cluster)
        for arn in cfg.preview_role_arns:
            # Pull-request code runs under this role: it edits the pr-* namespaces only. Namespaces themselves are
            # cluster-scoped, so the group lets it create and delete those named pr-<N> (infra/preview_access.py).
            grant(
                f"preview-{_short_hash(arn)}",
                arn,
                PREVIEW_POLICY,
                aws.eks.AccessPolicyAssociationAccessScopeArgs(type="namespace", namespaces=list(PREVIEW_NAMESPACES)),
                groups=[PREVIEW_GROUP],
            )
        return access

    def _nodes(
        self,
        name: str,
        args: ClusterArgs,
        cluster: aws.eks.Cluster,
        partition: str,
        security_group_ids: Sequence[pulumi.Input[str]],
        tags: Tags,
    ) -> tuple[list[aws.eks.NodeGroup], aws.eks.Addon]:
        """The node role, the add-ons in the order nodes need them, the launch template and the node groups; the
        node groups and CoreDNS, which what runs pods waits for."""
        child = pulumi.ResourceOptions(parent=self)
        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
            tags=tags("node-role"),
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name, policy_arn=_managed_policy(partition, policy), opts=child
            )
            for policy in NODE_ROLE_POLICIES
        ]
        # The CNI (with network policy enforcement for the workloads' NetworkPolicies) and kube-proxy must be in
        # place before the first node joins, or nodes come up without pod networking.
        vpc_cni = self._addon(name, args, cluster, "vpc-cni", [], tags, {"enableNetworkPolicy": "true"})
        kube_proxy = self._addon(name, args, cluster, "kube-proxy", [], tags)
        template = launch_template(name, args.cluster_name, args.nodes, security_group_ids, tags=tags, parent=self)
        groups = node_groups(
            name,
            args.nodes,
            args.private_subnet_ids,
            cluster=cluster,
            node_role=node_role,
            template=template,
            # Without its policies the node role cannot join; without the CNI nodes never become Ready.
            depends_on=[*node_policies, vpc_cni, kube_proxy],
            tags=tags,
            parent=self,
        )
        # CoreDNS pods need nodes to schedule on; created earlier, the add-on sits DEGRADED until it times out.
        return groups, self._addon(name, args, cluster, "coredns", groups, tags)

    def _addon(
        self,
        name: str,
        args: ClusterArgs,
        cluster: aws.eks.Cluster,
        addon_name: str,
        depends_on: Sequence[pulumi.Resource],
        tags: Tags,
        config: dict[str, Any] | None = None,
    ) -> aws.eks.Addon:
        """An EKS managed add-on at the version infra/versions.py pins for the cluster's Kubernetes version."""
        return aws.eks.Addon(
            f"{name}-{addon_name}",
            cluster_name=cluster.name,
            addon_name=addon_name,
            addon_version=release(args.config.version).addons[addon_name],
            configuration_values=json.dumps(config) if config else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags(addon_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )

    def _deploy_runner_access(
        self, name: str, args: ClusterArgs, cluster_sg_id: pulumi.Input[str], tags: Tags
    ) -> tuple[aws.ec2.SecurityGroup, pulumi.Resource]:
        """The security group a deploy runner in the VPC carries (cluster.deployFrom vpc), and the rule that lets it
        reach the private API endpoint.

        The endpoint's ENIs carry the cluster security group, which admits only itself (EKS user guide, "Cluster
        API server endpoint": from a host in the VPC, the cluster security group must allow 443 from it). Created
        in both deploy models, so the runner can be launched with it right after a first deploy from a workstation.
        """
        runner_sg = https_group(
            f"{name}-deploy-runner",
            vpc_id=args.vpc_id,
            description=f"Deploy runners of EKS cluster {args.cluster_name}: reach its private API endpoint",
            direction="egress",
            cidr_ipv4="0.0.0.0/0",
            rule_description="HTTPS out: GitHub, Pulumi Cloud, package indexes, AWS APIs and the EKS API",
            tags=tags("deploy-runner"),
            rule_tags=tags("deploy-runner-https"),
            parent=self,
        )
        return runner_sg, tcp_rule(
            f"{name}-api-from-deploy-runner",
            direction="ingress",
            security_group_id=cluster_sg_id,
            referenced_security_group_id=runner_sg.id,
            port=HTTPS_PORT,
            description="EKS API from the deploy runners",
            tags=tags("api-from-deploy-runner"),
            parent=self,
        )
