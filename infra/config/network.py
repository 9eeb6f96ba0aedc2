"""Config of the network: a VPC built here over `network.azCount` zones, or one the stack brings."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from infra.config.keys import LOG_RETENTION_DAYS, Keys, is_cidr

# An availability zone ID: use1-az3, apne1-az1, or a Local Zone's usw2-lax1-az1.
ZONE_ID = re.compile(r"[a-z]+\d+(-[a-z]+\d+)?-az\d+")
# The smallest subnet EC2 creates is a /28 (Amazon VPC User Guide, "Subnet sizing"); an ALB's subnets need at least
# a /27 and eight free addresses (Elastic Load Balancing, Application Load Balancers, "Subnets for your load
# balancer"; LB controller v2.14.1 pkg/networking/subnet_resolver.go filters out subnets with fewer than 8 free).
SMALLEST_SUBNET = 28
SMALLEST_ALB_SUBNET = 27


@dataclass(frozen=True)
class NetworkConfig:
    """The VPC: either built here over `az_count` zones, or brought by the stack (`vpc_id`)."""

    vpc_cidr: str
    az_count: int
    nat_gateways: Literal["single", "perAz"]
    flow_log_retention_days: int
    vpc_id: str | None
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]
    # AZ IDs (use1-az1, not us-east-1a) never used, on top of those EKS does not support (infra/network.py).
    exclude_zone_ids: tuple[str, ...] = ()
    # VPC endpoints built here: S3 (gateway), ECR api/dkr, STS and CloudWatch Logs (interface) - infra/network.py.
    vpc_endpoints: bool = False
    # A brought VPC's interface endpoint addresses (its endpoint subnets' CIDRs), admitted on 443 like those built here.
    endpoint_cidrs: tuple[str, ...] = ()
    # Prefix lengths of the per-zone data subnets (Redis, RDS) and internal-ALB subnets built here (infra/network.py).
    data_subnet_prefix_length: int = 26
    internal_alb_subnet_prefix_length: int = 26
    # A brought VPC's data subnets (Redis, RDS) and the subnets its internal ALBs are placed in.
    data_subnet_ids: tuple[str, ...] = ()
    internal_alb_subnet_ids: tuple[str, ...] = ()
    # Where Redis and RDS live: their own data subnets, or the pods' private subnets - for a stack deployed before
    # data subnets existed, whose data stores RDS and ElastiCache cannot move in place (docs/operations.md).
    data_store_subnets: Literal["data", "private"] = "data"

    @property
    def bring_your_own(self) -> bool:
        return self.vpc_id is not None


def read_network(keys: Keys) -> NetworkConfig:
    expected_cidr = "an IPv4 CIDR between /16 and /24"
    vpc_cidr = keys.string("network.vpcCidr", expected=expected_cidr)
    if not is_cidr(vpc_cidr):
        raise keys.fail("network.vpcCidr", expected_cidr, vpc_cidr)
    network = ipaddress.ip_network(vpc_cidr)
    if network.version != 4 or not 16 <= network.prefixlen <= 24:
        raise keys.fail("network.vpcCidr", expected_cidr, vpc_cidr)
    az_count = keys.integer("network.azCount", minimum=2, maximum=6)
    nat = keys.choice("network.natGateways", ("single", "perAz"))
    retention = keys.integer("network.flowLogRetentionDays", minimum=1)
    if retention not in LOG_RETENTION_DAYS:
        raise keys.fail(
            "network.flowLogRetentionDays",
            "a CloudWatch retention period " + str(sorted(LOG_RETENTION_DAYS)),
            retention,
        )
    subnet_id = re.compile(r"subnet-[0-9a-f]{8,17}")
    vpc_id = keys.optional_string("network.vpcId", pattern=r"vpc-[0-9a-f]{8,17}", expected="a VPC id (vpc-...)")
    public = keys.string_list(
        "network.publicSubnetIds", item=lambda v: bool(subnet_id.fullmatch(v)), expected="a list of subnet ids"
    )
    private = keys.string_list(
        "network.privateSubnetIds", item=lambda v: bool(subnet_id.fullmatch(v)), expected="a list of subnet ids"
    )
    zone_ids = keys.string_list(
        "network.excludeZoneIds",
        item=lambda v: bool(ZONE_ID.fullmatch(v)),
        expected="a list of availability zone IDs (e.g. use1-az3), not zone names",
    )
    if vpc_id is None and (public or private):
        raise keys.fail("network.vpcId", "set when network.publicSubnetIds or network.privateSubnetIds is set")
    endpoints = keys.boolean("network.vpcEndpoints")
    if endpoints and vpc_id is not None:
        raise keys.fail(
            "network.vpcEndpoints",
            "false when network.vpcId is set (a brought VPC's endpoints are its owner's, and a second interface "
            "endpoint with private DNS for the same service is refused); list their subnets' CIDRs in "
            "network.endpointCidrs instead",
            endpoints,
        )
    expected_endpoints = "a list of private IPv4 CIDRs (RFC 1918): the brought VPC's interface endpoints' subnets"
    endpoint_cidrs = keys.string_list("network.endpointCidrs", item=is_cidr, expected=expected_endpoints)
    for cidr in endpoint_cidrs:
        block = ipaddress.ip_network(cidr)
        # Private only: these are admitted past the egress rule that keeps MLflow out of the VPC's other addresses.
        if block.version != 4 or not block.is_private:
            raise keys.fail("network.endpointCidrs", expected_endpoints, cidr)
    if endpoint_cidrs and vpc_id is None:
        raise keys.fail(
            "network.endpointCidrs",
            "empty unless network.vpcId is set (a VPC built here admits its own endpoints' subnets)",
            list(endpoint_cidrs),
        )
    if vpc_id is not None and len(private) < 2:
        raise keys.fail(
            "network.privateSubnetIds", "at least 2 subnet ids in different AZs when network.vpcId is set", private
        )
    data = keys.string_list(
        "network.dataSubnetIds", item=lambda v: bool(subnet_id.fullmatch(v)), expected="a list of subnet ids"
    )
    internal_alb = keys.string_list(
        "network.internalAlbSubnetIds", item=lambda v: bool(subnet_id.fullmatch(v)), expected="a list of subnet ids"
    )
    if vpc_id is None and (data or internal_alb):
        raise keys.fail("network.vpcId", "set when network.dataSubnetIds or network.internalAlbSubnetIds is set")
    placement = keys.choice("network.dataStoreSubnets", ("data", "private"))
    if vpc_id is not None and placement == "data" and len(data) < 2:
        # RDS and ElastiCache subnet groups span at least two AZs; sharing the pods' subnets would let every pod's
        # address through the rules that admit Redis and RDS.
        raise keys.fail(
            "network.dataSubnetIds",
            "at least 2 subnet ids in different AZs when network.vpcId is set (subnets of their own for Redis and "
            "RDS, none of them in network.privateSubnetIds)",
            list(data),
        )
    if shared := sorted(set(data) & set(private)):
        raise keys.fail("network.dataSubnetIds", "free of network.privateSubnetIds (the pods' subnets)", shared)
    if shared := sorted(set(internal_alb) & set(private)):
        raise keys.fail("network.internalAlbSubnetIds", "free of network.privateSubnetIds (the pods' subnets)", shared)
    data_prefix = keys.integer("network.dataSubnetPrefixLength", minimum=16, maximum=SMALLEST_SUBNET)
    alb_prefix = keys.integer("network.internalAlbSubnetPrefixLength", minimum=16, maximum=SMALLEST_ALB_SUBNET)
    if vpc_id is None:
        # Each kind gets one of the VPC's 16 blocks (infra/network.py isolated_cidrs): az_count subnets must fit.
        sixteenth = network.prefixlen + 4
        smallest = sixteenth + (az_count - 1).bit_length()
        for key, prefix, limit in (
            ("network.dataSubnetPrefixLength", data_prefix, SMALLEST_SUBNET),
            ("network.internalAlbSubnetPrefixLength", alb_prefix, SMALLEST_ALB_SUBNET),
        ):
            if smallest > limit:
                raise keys.fail(
                    "network.vpcCidr",
                    f"large enough for {az_count} subnets of at most /{limit} ({key}) in a sixteenth of it",
                    str(network),
                )
            if prefix < smallest:
                raise keys.fail(
                    key,
                    f"between {smallest} and {limit}: {az_count} subnets (network.azCount) must fit in a /{sixteenth}, "
                    f"a sixteenth of network.vpcCidr {network}",
                    prefix,
                )
    return NetworkConfig(
        vpc_cidr=str(network),
        az_count=az_count,
        nat_gateways="single" if nat == "single" else "perAz",
        flow_log_retention_days=retention,
        vpc_id=vpc_id,
        public_subnet_ids=public,
        private_subnet_ids=private,
        exclude_zone_ids=zone_ids,
        vpc_endpoints=endpoints,
        endpoint_cidrs=tuple(str(ipaddress.ip_network(c)) for c in endpoint_cidrs),
        data_subnet_prefix_length=data_prefix,
        internal_alb_subnet_prefix_length=alb_prefix,
        data_subnet_ids=data,
        internal_alb_subnet_ids=internal_alb,
        data_store_subnets="private" if placement == "private" else "data",
    )
