"""The VPC the platform runs in: public subnets for the internet-facing ALB, private subnets for the nodes and
pods, data subnets for Redis and RDS alone, and small subnets for internal ALBs."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.config import ConfigError, NetworkConfig
from infra.security import encrypted_log_groups, https_group, service_trust_policy

# AZ IDs where EKS refuses control-plane subnets (UnsupportedAvailabilityZoneException): "Amazon EKS VPC and subnet
# requirements", subnet requirements for clusters. Zone *names* map to different zones in every account, so an
# account's us-east-1a may be use1-az3: zones are chosen by ID, never by name.
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
# Interface endpoints of network.vpcEndpoints, by the service name's suffix: image pulls (ECR's API for the
# token, dkr for the manifests; the layers come from S3, through the gateway endpoint), IRSA's credential
# exchange, and the log shipping (EKS user guide, "Deploy private clusters with limited internet access"); and
# Secrets Manager, where MLflow's pods read the database password RDS keeps there, every minute
# (infra/db_passfile.py; Secrets Manager user guide, "Using an AWS Secrets Manager VPC endpoint").
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "logs", "secretsmanager")


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    tags: dict[str, str]
    # Subnet tag the EKS cluster name is added under, so the LB controller and autoscaler can discover them.
    cluster_name: str | None = None


@dataclass(frozen=True)
class NetworkRefs:
    """What the rest of the stack needs of a network, whether built here or brought by the stack."""

    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Input[str]]
    private_subnet_ids: list[pulumi.Input[str]]
    # Redis and RDS alone (their subnet groups), and where internal ALBs are placed: no pod has an address there.
    data_subnet_ids: list[pulumi.Input[str]] = field(default_factory=list)
    internal_alb_subnet_ids: list[pulumi.Input[str]] = field(default_factory=list)
    vpc_cidr: pulumi.Input[str] | None = None
    # Zone IDs, in the order of the subnets (empty for a brought VPC).
    availability_zone_ids: list[str] = field(default_factory=list)


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """Carve the VPC into 16 equal blocks: private subnets from the first, public from the ninth on."""
    blocks = list(ipaddress.ip_network(vpc_cidr).subnets(prefixlen_diff=4))
    private = [str(blocks[i]) for i in range(az_count)]
    public = [str(blocks[8 + i]) for i in range(az_count)]
    return public, private


def isolated_cidrs(cfg: NetworkConfig) -> tuple[list[str], list[str]]:
    """The data subnets (Redis, RDS) from the fifteenth of the 16 blocks, the internal-ALB subnets from the
    sixteenth: blocks no zone count (at most 6) gives to the private or public subnets, so existing subnets stay.
    Sizes come from config, which checked that `az_count` of them fit (infra/config/network.py)."""
    blocks = list(ipaddress.IPv4Network(cfg.vpc_cidr).subnets(prefixlen_diff=4))
    data = list(blocks[14].subnets(new_prefix=cfg.data_subnet_prefix_length))
    alb = list(blocks[15].subnets(new_prefix=cfg.internal_alb_subnet_prefix_length))
    return [str(c) for c in data[: cfg.az_count]], [str(c) for c in alb[: cfg.az_count]]


def choose_zone_ids(cfg: NetworkConfig, parent: pulumi.Resource) -> list[str]:
    """The first `az_count` zone IDs, in ID order, of the region's available zones that need no opt-in (no Local
    or Wavelength Zone), leaving out the IDs EKS does not support and `network.excludeZoneIds`."""
    excluded = sorted({*EKS_UNSUPPORTED_ZONE_IDS, *cfg.exclude_zone_ids})
    found = aws.get_availability_zones(
        state="available",
        exclude_zone_ids=excluded,
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
        opts=pulumi.InvokeOptions(parent=parent),
    )
    # ID order, not the order names come in: the same zones for every account of the region.
    zone_ids = sorted(found.zone_ids)
    if len(zone_ids) < cfg.az_count:
        raise ConfigError(
            f"platform:network.azCount is {cfg.az_count}, but the region has only {len(zone_ids)} zones EKS supports "
            f"({', '.join(zone_ids)}; excluded: {', '.join(excluded)}): lower it or shorten "
            "platform:network.excludeZoneIds"
        )
    return zone_ids[: cfg.az_count]


class Network(pulumi.ComponentResource):
    """VPC over `az_count` zones with NAT egress, closed default security group and flow logs."""

    vpc_id: pulumi.Output[str]
    availability_zone_ids: list[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    data_subnet_ids: list[pulumi.Output[str]]
    internal_alb_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Network", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)

        self.availability_zone_ids = choose_zone_ids(cfg, self)

        def tags(suffix: str, **extra: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}", **extra}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cfg.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags("vpc"),
            opts=child,
        )
        # Adopt the default security group only to strip every rule from it (CKV2_AWS_12).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], tags=tags("default-closed"), opts=child
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)

        discovery = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"} if args.cluster_name else {}
        public_cidrs, private_cidrs = subnet_cidrs(cfg.vpc_cidr, cfg.az_count)
        # The ALB gets its addresses from the public subnets; nothing launched anywhere here needs a public IP.
        public_subnets = self._subnets(
            name, "public", vpc, public_cidrs, tags, {"kubernetes.io/role/elb": "1", **discovery}
        )
        # No internal-elb role tag: internal ALBs go to subnets of their own (_isolated_subnets), which pods admit
        # them from; the pods' addresses come from these.
        private_subnets = self._subnets(name, "private", vpc, private_cidrs, tags, discovery)

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, tags=tags("public-rt"), opts=child)
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        for i, subnet in enumerate(public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{i}", route_table_id=public_rt.id, subnet_id=subnet.id, opts=child
            )

        nat_count = 1 if cfg.nat_gateways == "single" else cfg.az_count
        nats = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-eip-{i}", domain="vpc", tags=tags(f"nat-eip-{i}"), opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=public_subnets[i].id,
                    tags=tags(f"nat-{i}"),
                    # A NAT gateway in a subnet without an internet route cannot pass traffic.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        private_route_tables: list[aws.ec2.RouteTable] = []
        for i, subnet in enumerate(private_subnets):
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{i}", vpc_id=vpc.id, tags=tags(f"private-rt-{i}"), opts=child)
            aws.ec2.Route(
                f"{name}-private-default-{i}",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[i % nat_count].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{i}", route_table_id=rt.id, subnet_id=subnet.id, opts=child
            )
            private_route_tables.append(rt)

        data_subnets, alb_subnets = self._isolated_subnets(name, cfg, vpc, discovery, tags)
        if cfg.vpc_endpoints:
            self._endpoints(name, vpc, private_subnets, private_route_tables, tags)
        self._flow_logs(name, vpc, cfg.flow_log_retention_days, tags)

        self.vpc_id = vpc.id
        self.vpc_cidr = vpc.cidr_block
        self.public_subnet_ids = [s.id for s in public_subnets]
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.data_subnet_ids = [s.id for s in data_subnets]
        self.internal_alb_subnet_ids = [s.id for s in alb_subnets]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "dataSubnetIds": self.data_subnet_ids,
                "internalAlbSubnetIds": self.internal_alb_subnet_ids,
            }
        )

    def refs(self) -> NetworkRefs:
        return NetworkRefs(
            vpc_id=self.vpc_id,
            public_subnet_ids=list(self.public_subnet_ids),
            private_subnet_ids=list(self.private_subnet_ids),
            data_subnet_ids=list(self.data_subnet_ids),
            internal_alb_subnet_ids=list(self.internal_alb_subnet_ids),
            vpc_cidr=self.vpc_cidr,
            availability_zone_ids=list(self.availability_zone_ids),
        )

    def _subnets(
        self,
        name: str,
        kind: str,
        vpc: aws.ec2.Vpc,
        cidrs: list[str],
        tags: Callable[..., dict[str, str]],
        extra_tags: dict[str, str],
    ) -> list[aws.ec2.Subnet]:
        """One subnet of `kind` per zone, `<name>-<kind>-<i>`, none handing out public IPs (CKV_AWS_130)."""
        return [
            aws.ec2.Subnet(
                f"{name}-{kind}-{i}",
                vpc_id=vpc.id,
                cidr_block=cidrs[i],
                availability_zone_id=zone,
                map_public_ip_on_launch=False,
                tags=tags(f"{kind}-{zone}", **extra_tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for i, zone in enumerate(self.availability_zone_ids)
        ]

    def _isolated_subnets(
        self,
        name: str,
        cfg: NetworkConfig,
        vpc: aws.ec2.Vpc,
        discovery: dict[str, str],
        tags: Callable[..., dict[str, str]],
    ) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.Subnet]]:
        """Per zone, a data subnet (Redis, RDS) and an internal-ALB subnet, on a route table of their own with no
        route but the VPC's local one: nothing in them reaches, or is reached from, outside the VPC.

        Only the ALB subnets carry `kubernetes.io/role/internal-elb`: with role-tagged subnets present, the LB
        controller takes only those as candidates for an internal ALB (v2.14.1 docs/deploy/subnet_discovery.md,
        pkg/networking/subnet_resolver.go ResolveViaDiscovery), one per zone. Their explicit association keeps them
        off the main route table, which anyone may add routes to.
        """
        child = pulumi.ResourceOptions(parent=self)
        data_cidrs, alb_cidrs = isolated_cidrs(cfg)
        route_table = aws.ec2.RouteTable(f"{name}-isolated-rt", vpc_id=vpc.id, tags=tags("isolated-rt"), opts=child)
        data = self._subnets(name, "data", vpc, data_cidrs, tags, {})
        alb_tags = {"kubernetes.io/role/internal-elb": "1", **discovery}
        albs = self._subnets(name, "internal-alb", vpc, alb_cidrs, tags, alb_tags)
        for kind, subnets in (("data", data), ("internal-alb", albs)):
            for i, subnet in enumerate(subnets):
                aws.ec2.RouteTableAssociation(
                    f"{name}-{kind}-rta-{i}", route_table_id=route_table.id, subnet_id=subnet.id, opts=child
                )
        return data, albs

    def _endpoints(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        subnets: list[aws.ec2.Subnet],
        route_tables: list[aws.ec2.RouteTable],
        tags: Callable[..., dict[str, str]],
    ) -> None:
        """An S3 gateway endpoint on the private route tables and the interface endpoints in the private subnets.

        Private DNS on: the services' public names resolve to the endpoints' addresses inside the VPC, so nothing
        is configured on the clients (AWS PrivateLink guide, "Enable private DNS names"; it needs the VPC's DNS
        support and hostnames, both on above). The endpoints' network interfaces take addresses of the private
        subnets, which is why MLflow's egress admits those subnets on 443 when this is on (infra/flows.py).
        """
        child = pulumi.ResourceOptions(parent=self)
        region = aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in route_tables],
            tags=tags("s3-endpoint"),
            opts=child,
        )
        endpoint_sg = https_group(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description=f"Interface VPC endpoints of {name}: HTTPS from the VPC",
            direction="ingress",
            cidr_ipv4=vpc.cidr_block,
            rule_description="HTTPS from the VPC to the interface endpoints",
            tags=tags("endpoints"),
            rule_tags=tags("endpoints-https"),
            parent=self,
        )
        for service in INTERFACE_ENDPOINTS:
            suffix = service.replace(".", "-")
            aws.ec2.VpcEndpoint(
                f"{name}-{suffix}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=[s.id for s in subnets],
                security_group_ids=[endpoint_sg.id],
                private_dns_enabled=True,
                tags=tags(f"{suffix}-endpoint"),
                opts=child,
            )

    def _flow_logs(self, name: str, vpc: aws.ec2.Vpc, retention_days: int, tags: Callable[..., dict[str, str]]) -> None:
        """VPC flow logs to a retained log group, written by a role that may write only there (CKV2_AWS_11)."""
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self))
        log_group_name = f"/aws/vpc/{name}/flow-logs"
        (log_group,) = encrypted_log_groups(
            f"{name}-flow-logs-key",
            description=f"Encryption of the VPC flow logs of {name}",
            log_groups={f"{name}-flow-logs": log_group_name},
            retention_days=retention_days,
            tags=tags("flow-logs"),
            parent=self,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=service_trust_policy("vpc-flow-logs.amazonaws.com", identity.account_id),
            tags=tags("flow-logs-role"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            tags=tags("flow-log"),
            opts=child,
        )
