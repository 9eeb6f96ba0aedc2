"""The network component, checked on what each stack registers."""

from __future__ import annotations

import ipaddress
import json

import pytest

from infra.config import ConfigError
from tests.infra.harness import UNTAGGABLE, Recording, Zone, run_stack

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"

EXPECTED = {  # stack: (AZs, NAT gateways, CIDR, flow-log retention)
    "dev": (2, 1, "10.10.0.0/16", 30),
    "staging": (3, 3, "10.20.0.0/16", 90),
    "prod": (3, 3, "10.30.0.0/16", 365),
}


def subnets(rec: Recording, role: str) -> list[dict[str, object]]:
    return [r.inputs for r in rec.find(SUBNET) if f"kubernetes.io/role/{role}" in r.inputs["tags"]]


def test_vpc_spans_the_configured_zones(recording: Recording) -> None:
    azs, _, cidr, _ = EXPECTED[recording.stack]
    vpc = recording.one(VPC).inputs
    assert vpc["cidrBlock"] == cidr
    assert vpc["enableDnsHostnames"] and vpc["enableDnsSupport"]
    public, private = subnets(recording, "elb"), subnets(recording, "internal-elb")
    assert len(public) == len(private) == azs
    # Zones by ID (names differ per account), one public and one private subnet in each.
    assert all("availabilityZone" not in s for s in public + private)
    assert len({s["availabilityZoneId"] for s in public}) == azs
    # Registration order is the engine's, not the program's: compare the zones, not the sequences.
    assert sorted(s["availabilityZoneId"] for s in public) == sorted(s["availabilityZoneId"] for s in private)
    blocks = [ipaddress.ip_network(str(s["cidrBlock"])) for s in public + private]
    assert all(b.subnet_of(ipaddress.ip_network(cidr)) for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


def test_subnets_carry_elb_discovery_tags_and_no_public_ips(recording: Recording) -> None:
    for s in subnets(recording, "elb"):
        assert s["tags"]["kubernetes.io/role/elb"] == "1"
        assert not s["mapPublicIpOnLaunch"]
    for s in subnets(recording, "internal-elb"):
        assert s["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert not s["mapPublicIpOnLaunch"]


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
        },
    )
    assert not byo.find(VPC) and not byo.find(SUBNET) and not byo.find(NAT)
    assert byo.exports["vpcId"] == "vpc-0123456789abcdef0"
    assert byo.exports["privateSubnetIds"] == ["subnet-0b000001", "subnet-0b000002"]


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
