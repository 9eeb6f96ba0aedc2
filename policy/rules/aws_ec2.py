"""EC2 and VPC: node launch templates, security groups, the default security group, subnets, flow logs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs, StackValidationArgs

from .base import Findings, Props, config, get, is_true, items, number, of_type, references, resource_rule, stack_rule
from .shapes import flag_rule

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SUBNET = "aws:ec2/subnet:Subnet"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
VPC = "aws:ec2/vpc:Vpc"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"

OPEN_IPV4 = "0.0.0.0/0"
OPEN_IPV6 = "::/0"
PUBLIC_PORTS = (80, 443)


@resource_rule(
    "aws-ec2-launchtemplate-enable-imdsv2",
    "Instances launched from the template require IMDSv2 session tokens.",
    controls=("CKV_AWS_79", "Security Hub EC2.8", "Security Hub EC2.170"),
    types=(LAUNCH_TEMPLATE,),
)
def imdsv2(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "metadataOptions.httpEndpoint") == "disabled":
        return
    if get(props, "metadataOptions.httpTokens") != "required":
        yield "metadataOptions.httpTokens must be 'required' (IMDSv2 only)"


@resource_rule(
    "aws-ec2-launchtemplate-configure-metadata-hop-limit",
    "The IMDS response hop limit is 1, so pods cannot reach the node's instance role credentials.",
    controls=("CKV_AWS_341",),
    types=(LAUNCH_TEMPLATE,),
)
def hop_limit(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "metadataOptions.httpEndpoint") == "disabled":
        return
    hops = number(get(props, "metadataOptions.httpPutResponseHopLimit"))
    if hops != 1:
        got = "unset (EKS then uses 2)" if hops is None else f"{hops:g}"
        yield f"metadataOptions.httpPutResponseHopLimit must be 1 (got {got})"


@resource_rule(
    "aws-ec2-launchtemplate-enable-ebs-encryption",
    "Every volume the template defines, the root volume included, is encrypted.",
    controls=("CKV_AWS_8", "Security Hub EC2.3"),
    types=(LAUNCH_TEMPLATE,),
)
def ebs_encryption(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    mappings = items(get(props, "blockDeviceMappings"))
    if not mappings:
        yield "blockDeviceMappings must define the root volume with ebs.encrypted = true"
    for i, mapping in enumerate(mappings):
        ebs = get(mapping, "ebs")
        if ebs is not None and not is_true(get(ebs, "encrypted")):
            yield f"blockDeviceMappings[{i}] ({get(mapping, 'deviceName', '?')}) must set ebs.encrypted = true"


@resource_rule(
    "aws-ec2-launchtemplate-disallow-public-ip",
    "Instances launched from the template get no public IP address.",
    controls=("CKV_AWS_88", "Security Hub EC2.25", "CIS EKS 5.4.3"),
    types=(LAUNCH_TEMPLATE,),
)
def launch_public_ip(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for i, nic in enumerate(items(get(props, "networkInterfaces"))):
        if is_true(get(nic, "associatePublicIpAddress")):
            yield f"networkInterfaces[{i}].associatePublicIpAddress must not be true"


subnet_public_ip = flag_rule(
    "aws-ec2-subnet-disallow-public-ip-on-launch",
    "Subnets do not hand out public IPs; the ALB takes its addresses from the subnet itself.",
    controls=("CKV_AWS_130", "Security Hub EC2.15"),
    types=(SUBNET,),
    path="mapPublicIpOnLaunch",
    must=False,
)


def _public_ports(args: ResourceValidationArgs) -> set[int]:
    return {int(p) for p in config(args, "allowedPublicPorts", PUBLIC_PORTS)}


def _open_ingress_fault(rule: Any, cidrs: list[Any], allowed: set[int], where: str) -> str | None:
    """Why an ingress rule open to `cidrs` is a fault, or None when it is a single allowed TCP port or not open."""
    open_to = [c for c in cidrs if c in (OPEN_IPV4, OPEN_IPV6)]
    if not open_to:
        return None
    protocol = str(get(rule, "protocol", get(rule, "ipProtocol", ""))).lower()
    low, high = number(get(rule, "fromPort")), number(get(rule, "toPort"))
    if protocol in ("tcp", "6") and low is not None and low == high and int(low) in allowed:
        return None
    ports = (
        "all ports" if protocol in ("-1", "all") else f"{protocol} {low:g}-{high:g}" if low is not None else protocol
    )
    return f"{where} admits {', '.join(open_to)} on {ports}; only TCP {sorted(allowed)} may be open to the internet"


SG_SCHEMA = PolicyConfigSchema(
    properties={
        "allowedPublicPorts": {
            "type": "array",
            "items": {"type": "integer"},
            "default": list(PUBLIC_PORTS),
            "description": "TCP ports that may be open to 0.0.0.0/0 or ::/0 (the ALB's HTTP and HTTPS).",
        }
    }
)


@resource_rule(
    "aws-ec2-securitygroup-disallow-public-ingress",
    "No security group admits 0.0.0.0/0 or ::/0, except TCP 80 and 443 for the load balancer.",
    controls=("CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260", "CKV_AWS_277", "Security Hub EC2.18", "Security Hub EC2.19"),
    types=(SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE),
    config_schema=SG_SCHEMA,
)
def public_ingress(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    allowed = _public_ports(args)
    if args.resource_type == SECURITY_GROUP:
        for i, rule in enumerate(items(get(props, "ingress"))):
            cidrs = items(get(rule, "cidrBlocks")) + items(get(rule, "ipv6CidrBlocks"))
            fault = _open_ingress_fault(rule, cidrs, allowed, f"ingress[{i}]")
            if fault:
                yield fault
    elif args.resource_type == SECURITY_GROUP_RULE:
        if get(props, "type") == "ingress":
            cidrs = items(get(props, "cidrBlocks")) + items(get(props, "ipv6CidrBlocks"))
            fault = _open_ingress_fault(props, cidrs, allowed, "the rule")
            if fault:
                yield fault
    else:
        cidrs = [c for c in (get(props, "cidrIpv4"), get(props, "cidrIpv6")) if c]
        fault = _open_ingress_fault(props, cidrs, allowed, "the rule")
        if fault:
            yield fault


@resource_rule(
    "aws-ec2-defaultsecuritygroup-disallow-rules",
    "The VPC's default security group admits and emits nothing, so nothing falls back on it.",
    controls=("CKV2_AWS_12", "Security Hub EC2.2"),
    types=(DEFAULT_SECURITY_GROUP,),
)
def default_sg_closed(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for direction in ("ingress", "egress"):
        if items(get(props, direction)):
            yield f"{direction} must be empty on the default security group"


@resource_rule(
    "aws-ec2-flowlog-configure-traffic-type",
    "VPC flow logs record rejected traffic at least (ALL or REJECT), never only what was accepted.",
    controls=("CKV2_AWS_11", "Security Hub EC2.6"),
    types=(FLOW_LOG,),
)
def flow_log_traffic(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    traffic = get(props, "trafficType")
    if traffic not in ("ALL", "REJECT"):
        yield f"trafficType must be ALL or REJECT (got {traffic!r})"


# ---------------------------------------------------------------------------------------------------------- stack rules


def _vpc_rule(name: str, summary: str, controls: Sequence[str], companion_type: str, requirement: str) -> Any:
    @stack_rule(name, summary, controls=controls)
    def check(args: StackValidationArgs) -> Findings:
        for vpc in of_type(args.resources, VPC):
            if not any(references(c, vpc, "vpcId") for c in of_type(args.resources, companion_type)):
                yield f"VPC {vpc.name} has no {requirement}", vpc.urn

    return check


vpc_flow_logs = _vpc_rule(
    "aws-ec2-vpc-enable-flow-logs",
    "Every VPC has flow logs.",
    ("CKV2_AWS_11", "Security Hub EC2.6"),
    FLOW_LOG,
    "aws.ec2.FlowLog",
)
vpc_default_sg = _vpc_rule(
    "aws-ec2-vpc-configure-closed-default-security-group",
    "Every VPC's default security group is adopted and emptied.",
    ("CKV2_AWS_12", "Security Hub EC2.2"),
    DEFAULT_SECURITY_GROUP,
    "aws.ec2.DefaultSecurityGroup stripping its rules",
)
