"""The network component, checked on what each stack registers."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest

from infra.config import ConfigError, NetworkConfig
from infra.config.keys import PROJECT
from infra.network import isolated_cidrs, subnet_cidrs
from tests.infra import aws_limits as limits
from tests.infra.harness import UNTAGGABLE, Recording, Zone, run_stack
from tests.infra.stack_files import stack_file

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
KINDS = ("public", "private", "data", "internal-alb")
# Pulumi.yaml's default of network.dataSubnetPrefixLength and network.internalAlbSubnetPrefixLength.
DEFAULT_PREFIX = 26

EXPECTED = {  # stack: (AZs, NAT gateways, CIDR, flow-log retention)
    "dev": (2, 1, "10.10.0.0/16", 30),
    "staging": (3, 3, "10.20.0.0/16", 90),
    "prod": (3, 3, "10.30.0.0/16", 365),
}


def subnets(rec: Recording, kind: str) -> list[dict[str, Any]]:
    """The subnets of one kind (public, private, data, internal-alb), by their Name tag `<name>-<kind>-<zone id>`."""
    return [
        r.inputs for r in rec.find(SUBNET) if re.fullmatch(rf".*-{kind}-[a-z0-9]+-az\d+", str(r.inputs["tags"]["Name"]))
    ]


def test_vpc_spans_the_configured_zones(recording: Recording) -> None:
    azs, _, cidr, _ = EXPECTED[recording.stack]
    vpc = recording.one(VPC).inputs
    assert vpc["cidrBlock"] == cidr
    assert vpc["enableDnsHostnames"] and vpc["enableDnsSupport"]
    kinds = [subnets(recording, kind) for kind in KINDS]
    assert [len(k) for k in kinds] == [azs] * len(KINDS)
    assert len(recording.find(SUBNET)) == azs * len(KINDS)
    everything = [s for k in kinds for s in k]
    # Zones by ID (names differ per account), one subnet of each kind in each.
    assert all("availabilityZone" not in s for s in everything)
    # Registration order is the engine's, not the program's: compare the zones, not the sequences.
    assert len({tuple(sorted(s["availabilityZoneId"] for s in k)) for k in kinds}) == 1
    assert len({s["availabilityZoneId"] for s in kinds[0]}) == azs
    blocks = [ipaddress.IPv4Network(str(s["cidrBlock"])) for s in everything]
    assert all(b.subnet_of(ipaddress.IPv4Network(cidr)) for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


def test_subnets_carry_elb_discovery_tags_and_no_public_ips(recording: Recording) -> None:
    """kubernetes.io/role/elb on the public subnets, kubernetes.io/role/internal-elb on the internal-ALB subnets
    alone (LB controller v2.14.1 docs/deploy/subnet_discovery.md: with role-tagged subnets present, only those are
    candidates), no role tag on the pods' or the data subnets."""
    roles = {"public": "kubernetes.io/role/elb", "internal-alb": "kubernetes.io/role/internal-elb"}
    for kind in KINDS:
        for s in subnets(recording, kind):
            tagged = {k for k in s["tags"] if k.startswith("kubernetes.io/role/")}
            assert tagged == ({roles[kind]} if kind in roles else set()), (kind, s["tags"])
            assert all(s["tags"][t] == "1" for t in tagged)
            assert not s["mapPublicIpOnLaunch"]


def test_data_and_internal_alb_subnets_have_no_route_out_of_the_vpc(recording: Recording) -> None:
    """Redis, RDS and the internal ALBs' subnets share one route table with no route at all: only the VPC's local
    route, which every route table has (Amazon VPC User Guide, "Route tables": "the local route")."""
    (table,) = [t for t in recording.find(ROUTE_TABLE) if t.name.endswith("-isolated-rt")]
    assert not table.inputs.get("routes")
    assert not [r for r in recording.find(ROUTE) if r.inputs["routeTableId"] == table.id]
    associated = {
        a.inputs["subnetId"]
        for a in recording.find("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs["routeTableId"] == table.id
    }
    isolated = {r.id for r in recording.find(SUBNET) if re.search(r"-(data|internal-alb)-\d+$", r.name)}
    assert associated == isolated and len(isolated) == 2 * EXPECTED[recording.stack][0]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_shipped_stacks_subnets_fit_its_vpc(stack: str) -> None:
    """Every subnet of a committed stack file's VPC lies inside it, none overlaps another, each is between /16 and
    /28 (Amazon VPC User Guide, "Subnet sizing": tests/infra/aws_limits.py SUBNET_PREFIX) and each internal-ALB
    subnet is at least a /27 (Elastic Load Balancing, "Subnets for your load balancer")."""
    cfg = stack_file(stack)
    network = NetworkConfig(
        vpc_cidr=cfg[f"{PROJECT}:network.vpcCidr"],
        az_count=int(cfg[f"{PROJECT}:network.azCount"]),
        nat_gateways="single",
        flow_log_retention_days=1,
        vpc_id=None,
        public_subnet_ids=(),
        private_subnet_ids=(),
        data_subnet_prefix_length=int(cfg.get(f"{PROJECT}:network.dataSubnetPrefixLength", DEFAULT_PREFIX)),
        internal_alb_subnet_prefix_length=int(
            cfg.get(f"{PROJECT}:network.internalAlbSubnetPrefixLength", DEFAULT_PREFIX)
        ),
    )
    public, private = subnet_cidrs(network.vpc_cidr, network.az_count)
    data, albs = isolated_cidrs(network)
    blocks = [ipaddress.ip_network(c) for c in public + private + data + albs]
    assert len(blocks) == 4 * network.az_count and len(set(blocks)) == len(blocks)
    vpc = ipaddress.ip_network(network.vpc_cidr)
    assert all(b.subnet_of(vpc) and limits.SUBNET_PREFIX[0] <= b.prefixlen <= limits.SUBNET_PREFIX[1] for b in blocks)  # type: ignore[arg-type]
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    assert all(ipaddress.ip_network(c).prefixlen <= limits.ALB_SUBNET_MAX_PREFIX for c in albs)


def test_a_vpc_too_small_for_its_data_subnets_fails_naming_the_key() -> None:
    """Six /26 data subnets cannot fit in a sixteenth (/26) of a /22: the config check says so before any subnet
    request fails (EC2 CreateSubnet, InvalidSubnet.Range)."""
    with pytest.raises(ConfigError, match=r"platform:network\.dataSubnetPrefixLength must be between 28 and 28"):
        run_stack("prod", {"platform:network.vpcCidr": "10.0.0.0/22", "platform:network.dataSubnetPrefixLength": 26})


def test_nat_gateways_per_config_and_private_routes_use_them(recording: Recording) -> None:
    azs, nats, _, _ = EXPECTED[recording.stack]
    assert len(recording.find(NAT)) == nats
    private_routes = [r for r in recording.find(ROUTE) if "natGatewayId" in r.inputs]
    assert len(private_routes) == azs
    nat_urns = {n.urn for n in recording.find(NAT)}
    assert len({r.inputs["natGatewayId"] for r in private_routes}) == nats
    assert all(set(r.property_dependencies["natGatewayId"]) <= nat_urns for r in private_routes)
    public_routes = [r for r in recording.find(ROUTE) if "gatewayId" in r.inputs]
    assert len(public_routes) == 1 and public_routes[0].inputs["destinationCidrBlock"] == "0.0.0.0/0"


def test_each_nat_gateway_sits_in_a_public_subnet_and_waits_for_the_internet_gateway(recording: Recording) -> None:
    igw = recording.one("aws:ec2/internetGateway:InternetGateway")
    public_urns = {r.urn for r in recording.find(SUBNET) if "kubernetes.io/role/elb" in r.inputs["tags"]}
    for nat in recording.find(NAT):
        assert igw.urn in nat.dependencies
        assert set(nat.property_dependencies["subnetId"]) <= public_urns


def test_default_security_group_is_closed(recording: Recording) -> None:
    sg = recording.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert sg["ingress"] == [] and sg["egress"] == []


def test_flow_logs_capture_all_traffic_into_a_retained_group(recording: Recording) -> None:
    _, _, _, retention = EXPECTED[recording.stack]
    network = recording.within("platform:index:Network")
    log_group = network.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["retentionInDays"] == retention
    flow = network.one("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestination"] == log_group.outputs["arn"]
    policy = json.loads(network.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert "*" not in json.dumps(statement["Action"])
    assert all(res.startswith(log_group.outputs["arn"]) for res in statement["Resource"])
    trust = json.loads(network.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}


NETWORK_TYPES = {
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/eip:Eip",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/route:Route",
    "aws:ec2/flowLog:FlowLog",
}


def test_every_network_resource_is_parented_by_the_component(recording: Recording) -> None:
    component = recording.one("platform:index:Network")
    for r in recording.of_type(*NETWORK_TYPES):
        assert r.parent == component.urn, r.name
    for r in recording.children(component):
        assert r.name.startswith(component.name + "-")


def test_every_taggable_resource_is_tagged(recording: Recording) -> None:
    for r in recording.within("platform:index:Network"):
        if r.type.startswith("aws:") and r.type not in UNTAGGABLE:
            tags = r.inputs.get("tags") or {}
            assert {"Project", "Environment", "ManagedBy"} <= set(tags), f"{r.type} {r.name}"
            assert tags["Environment"] == recording.stack


def test_exports_name_the_network(recording: Recording) -> None:
    azs = EXPECTED[recording.stack][0]
    assert recording.exports["vpcId"].startswith("vpc-")
    assert len(recording.exports["privateSubnetIds"]) == azs
    assert len(recording.exports["publicSubnetIds"]) == azs


def test_bring_your_own_vpc_creates_no_network() -> None:
    byo = run_stack(
        "prod",
        {
            "platform:network.vpcId": "vpc-0123456789abcdef0",
            "platform:network.publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
            "platform:network.privateSubnetIds": ["subnet-0b000001", "subnet-0b000002"],
            "platform:network.dataSubnetIds": ["subnet-0c000001", "subnet-0c000002"],
            "platform:network.internalAlbSubnetIds": ["subnet-0d000001", "subnet-0d000002"],
        },
    )
    assert not byo.find(VPC) and not byo.find(SUBNET) and not byo.find(NAT)
    assert byo.exports["vpcId"] == "vpc-0123456789abcdef0"
    assert byo.exports["privateSubnetIds"] == ["subnet-0b000001", "subnet-0b000002"]
    assert byo.exports["dataSubnetIds"] == ["subnet-0c000001", "subnet-0c000002"]
    assert byo.exports["internalAlbSubnetIds"] == ["subnet-0d000001", "subnet-0d000002"]


def test_a_brought_vpc_keeps_its_data_subnets_apart_from_the_pods() -> None:
    """A brought VPC names data subnets of its own (RDS and ElastiCache subnet groups span two AZs at least: RDS API
    CreateDBSubnetGroup, DBSubnetGroupDoesNotCoverEnoughAZs); the pods' subnets are refused there, or the rules
    admitting Redis and RDS would admit every pod's address."""
    brought = {
        "platform:network.vpcId": "vpc-0123456789abcdef0",
        "platform:network.publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
        "platform:network.privateSubnetIds": ["subnet-0b000001", "subnet-0b000002"],
    }
    with pytest.raises(ConfigError, match=r"platform:network\.dataSubnetIds must be at least 2 subnet ids"):
        run_stack("prod", brought)
    with pytest.raises(ConfigError, match=r"platform:network\.dataSubnetIds must be free of network.privateSubnetIds"):
        run_stack("prod", {**brought, "platform:network.dataSubnetIds": ["subnet-0b000001", "subnet-0c000002"]})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_program_runs_under_mocks_quickly(stack: str) -> None:
    import time

    started = time.perf_counter()
    run_stack(stack)
    # A generous bound: this guards against the program blocking on a network call, not a benchmark.
    assert time.perf_counter() - started < 30


TWO_ZONE_REGION = (Zone("us-east-1a", "use1-az1"), Zone("us-east-1b", "use1-az2"))


def test_a_two_zone_region_holds_dev_and_refuses_a_three_zone_stack() -> None:
    """Some Regions offer only two zones an account may use (AWS Regions and Zones, "Availability Zones"; e.g.
    us-west-1 for most accounts): dev's two zones fit, prod's three are refused naming the key, not left to
    CreateSubnet to fail halfway through an `up`."""
    dev = run_stack("dev", zones=TWO_ZONE_REGION)
    private = [s for s in dev.find("aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    assert sorted(s.inputs["availabilityZoneId"] for s in private) == ["use1-az1", "use1-az2"]
    with pytest.raises(ConfigError, match=r"platform:network.azCount is 3, but the region has only 2 zones"):
        run_stack("prod", zones=TWO_ZONE_REGION)


def test_a_stack_deployed_before_data_subnets_keeps_its_data_stores_where_they_are() -> None:
    """`network.dataStoreSubnets: private` keeps Redis's and RDS's subnet groups on the private subnets, and the
    rules that reach them on those subnets' CIDRs: RDS cannot move an instance to another subnet group of the same
    VPC (RDS API ModifyDBInstance, InvalidVPCNetworkStateFault) and a subnet group cannot drop a subnet in use
    (ModifyDBSubnetGroup, SubnetAlreadyInUse; ElastiCache ModifyCacheSubnetGroup, SubnetInUse), so an older
    stack's next `up` must not change either."""
    moved, kept = run_stack("prod"), run_stack("prod", {"platform:network.dataStoreSubnets": "private"})
    for recording, kind in ((moved, "data"), (kept, "private")):
        wanted = sorted(s.id for s in recording.find(SUBNET) if re.search(rf"-{kind}-\d+$", s.name))
        groups = [
            *recording.find("aws:rds/subnetGroup:SubnetGroup"),
            *recording.find("aws:elasticache/subnetGroup:SubnetGroup"),
        ]
        assert len(groups) == 2 and all(sorted(g.inputs["subnetIds"]) == wanted for g in groups), kind
        cidrs = {s.inputs["cidrBlock"] for s in recording.find(SUBNET) if s.id in wanted}
        exported = recording.exports["dataSubnetCidrs"]
        assert set(exported) == cidrs, kind
    with pytest.raises(ConfigError, match=r"platform:network\.dataStoreSubnets must be one of 'data', 'private'"):
        run_stack("prod", {"platform:network.dataStoreSubnets": "pods"})
