"""EKS: the control plane endpoint, secrets encryption, audit logging, access entries, node groups, add-ons."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from . import aws_ec2
from .aws_cloudwatch import LOG_GROUP
from .base import (
    AVAILABILITY,
    Findings,
    Props,
    depends_on,
    get,
    is_true,
    items,
    json_document,
    number,
    of_type,
    referenced,
    resource_rule,
    stack_rule,
)
from .shapes import flag_rule, value_rule

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
OPEN_CIDRS = ("0.0.0.0/0", "::/0")


private_endpoint = flag_rule(
    "aws-eks-cluster-enable-private-endpoint",
    "The EKS API endpoint is reachable privately from inside the VPC.",
    controls=("CKV_AWS_39", "CIS EKS 5.4.2", "Security Hub EKS.1"),
    types=(CLUSTER,),
    path="vpcConfig.endpointPrivateAccess",
    why="nodes and in-VPC clients reach the API privately",
)


@resource_rule(
    "aws-eks-cluster-disallow-unrestricted-public-endpoint",
    "The EKS public endpoint is off, or open only to configured CIDRs and never to 0.0.0.0/0.",
    controls=("CKV_AWS_38", "CKV_AWS_39", "CIS EKS 5.4.1", "Security Hub EKS.1"),
    types=(CLUSTER,),
)
def public_endpoint(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    # The provider defaults endpointPublicAccess to true: absent means public.
    public = get(props, "vpcConfig.endpointPublicAccess", True)
    if not is_true(public):
        return
    cidrs = items(get(props, "vpcConfig.publicAccessCidrs"))
    if not cidrs:
        yield "vpcConfig.endpointPublicAccess is true with no vpcConfig.publicAccessCidrs: the API is open to 0.0.0.0/0"
    for cidr in cidrs:
        if cidr in OPEN_CIDRS:
            yield f"vpcConfig.publicAccessCidrs contains {cidr}: restrict the public endpoint to known CIDRs"


@resource_rule(
    "aws-eks-cluster-enable-secrets-encryption",
    "Kubernetes Secrets are envelope-encrypted with a customer-managed KMS key.",
    controls=("CKV_AWS_58", "CIS EKS 5.3.1", "Security Hub EKS.3"),
    types=(CLUSTER,),
)
def secrets_encryption(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    config = get(props, "encryptionConfig")
    if config is None:
        yield "encryptionConfig is missing: set resources=['secrets'] and provider.keyArn to a customer KMS key"
        return
    if "secrets" not in items(get(config, "resources")):
        yield "encryptionConfig.resources must include 'secrets'"
    if not get(config, "provider.keyArn"):
        yield "encryptionConfig.provider.keyArn must name a customer-managed KMS key"


@resource_rule(
    "aws-eks-cluster-enable-control-plane-logging",
    "All five control-plane log types go to CloudWatch (api, audit, authenticator, controllerManager, scheduler).",
    controls=("CKV_AWS_37", "CIS EKS 2.1.1", "Security Hub EKS.8"),
    types=(CLUSTER,),
)
def control_plane_logging(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    enabled = set(items(get(props, "enabledClusterLogTypes")))
    missing = [t for t in LOG_TYPES if t not in enabled]
    if missing:
        yield f"enabledClusterLogTypes is missing {', '.join(missing)}"


access_entries = value_rule(
    "aws-eks-cluster-configure-api-access-entries",
    "Cluster access is granted through EKS access entries (authentication mode API), not the aws-auth ConfigMap.",
    controls=("CIS EKS 4.1.7",),
    types=(CLUSTER,),
    path="accessConfig.authenticationMode",
    must="API",
    why="manage access with aws.eks.AccessEntry",
)


@resource_rule(
    "aws-eks-nodegroup-disallow-remote-access",
    "Managed node groups open no SSH access; operators use SSM or kubectl debug.",
    controls=("CKV_AWS_100", "CIS EKS 5.4.3"),
    types=(NODE_GROUP,),
)
def node_remote_access(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "remoteAccess") is not None:
        yield "remoteAccess must not be set: it opens SSH to the nodes"


@resource_rule(
    "aws-eks-nodegroup-configure-launch-template",
    "Managed node groups launch from our launch template, so IMDSv2, hop limit 1 and encrypted volumes apply.",
    controls=("CKV_AWS_79", "CKV_AWS_341", "Security Hub EC2.170"),
    types=(NODE_GROUP,),
)
def node_launch_template(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    template = get(props, "launchTemplate")
    if template is None or not (get(template, "id") or get(template, "name")):
        yield "launchTemplate (id or name, with a version) must be set: EKS defaults allow IMDS hop limit 2"
    elif not get(template, "version"):
        yield "launchTemplate.version must be set so node groups roll when the template changes"


@resource_rule(
    "aws-eks-addon-enable-vpc-cni-network-policy",
    "The vpc-cni add-on enforces Kubernetes NetworkPolicies (enableNetworkPolicy).",
    controls=("CIS EKS 4.3.1", "CIS EKS 5.4.4", "CKV2_K8S_6"),
    types=(ADDON,),
)
def cni_network_policy(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "addonName") != "vpc-cni":
        return
    values = json_document(get(props, "configurationValues"))
    if not isinstance(values, dict) or not is_true(values.get("enableNetworkPolicy")):
        yield 'configurationValues must set enableNetworkPolicy to "true", or NetworkPolicies are not enforced'


@resource_rule(
    "aws-eks-addon-configure-pinned-version",
    "EKS add-ons run a pinned version, so an update never changes them unannounced.",
    controls=("Platform baseline: add-ons at pinned versions",),
    types=(ADDON,),
    category=AVAILABILITY,
)
def addon_version(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if not get(props, "addonVersion"):
        yield f"addonVersion must pin the {get(props, 'addonName', 'add-on')} version"


# ---------------------------------------------------------------------------------------------------------- stack rules


@stack_rule(
    "aws-eks-cluster-configure-log-group-retention",
    "The control-plane log group /aws/eks/<cluster>/cluster is created (with retention) before the cluster.",
    controls=("CKV_AWS_37", "CKV_AWS_66", "CIS EKS 2.1.1"),
)
def eks_log_group(args: StackValidationArgs) -> Findings:
    for cluster in of_type(args.resources, CLUSTER):
        expected = f"/aws/eks/{get(cluster.props, 'name')}/cluster"
        groups = [g for g in of_type(args.resources, LOG_GROUP) if get(g.props, "name") == expected]
        if not groups:
            yield (
                f"cluster {cluster.name}: no log group {expected}; EKS would create one that never expires",
                cluster.urn,
            )
            continue
        group = groups[0]
        if not number(get(group.props, "retentionInDays")):
            yield f"log group {expected} must set retentionInDays", group.urn
        if not depends_on(cluster, group):
            yield f"cluster {cluster.name} must depend on log group {expected}, or EKS creates it first", cluster.urn


def _public_subnets(resources: Sequence[PolicyResource]) -> set[str]:
    """Subnets that launch public IPs or route to an internet gateway."""
    public = {s.urn for s in of_type(resources, aws_ec2.SUBNET) if is_true(get(s.props, "mapPublicIpOnLaunch"))}
    internet_tables = set()
    for route in of_type(resources, aws_ec2.ROUTE):
        if referenced(route, "gatewayId", aws_ec2.INTERNET_GATEWAY) or str(
            get(route.props, "gatewayId", "")
        ).startswith("igw-"):
            internet_tables |= {t.urn for t in referenced(route, "routeTableId", aws_ec2.ROUTE_TABLE)}
    for table in of_type(resources, aws_ec2.ROUTE_TABLE):
        if referenced(table, "routes", aws_ec2.INTERNET_GATEWAY):
            internet_tables.add(table.urn)
    for association in of_type(resources, aws_ec2.ROUTE_TABLE_ASSOCIATION):
        if any(t.urn in internet_tables for t in referenced(association, "routeTableId")):
            public |= {s.urn for s in referenced(association, "subnetId", aws_ec2.SUBNET)}
    return public


@stack_rule(
    "aws-eks-nodegroup-disallow-public-subnets",
    "Node groups run in private subnets only (no public IPs, no route to an internet gateway).",
    controls=("CIS EKS 5.4.3", "Security Hub EC2.15"),
)
def nodes_private(args: StackValidationArgs) -> Findings:
    public = _public_subnets(args.resources)
    for group in of_type(args.resources, NODE_GROUP):
        for subnet in referenced(group, "subnetIds", aws_ec2.SUBNET):
            if subnet.urn in public:
                yield f"node group {group.name} runs in public subnet {subnet.name}", group.urn
