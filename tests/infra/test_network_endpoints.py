"""VPC endpoints as config: `network.vpcEndpoints` builds an S3 gateway endpoint and interface endpoints for ECR,
STS, CloudWatch Logs and Secrets Manager, and MLflow's egress admits them explicitly; a brought VPC names its
endpoints' CIDRs in `network.endpointCidrs`."""

from __future__ import annotations

import re

import pytest

from infra.config import ConfigError
from tests.infra.harness import REGION, Recording, run_stack
from tests.infra.test_workload_network import MLFLOW, admitted

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
SUBNET = "aws:ec2/subnet:Subnet"
INTERFACE_SERVICES = {f"com.amazonaws.{REGION}.{s}" for s in ("ecr.api", "ecr.dkr", "sts", "logs", "secretsmanager")}
BROUGHT = {
    "platform:network.vpcId": "vpc-0123456789abcdef0",
    "platform:network.publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
    "platform:network.privateSubnetIds": ["subnet-0b000001", "subnet-0b000002"],
    "platform:network.dataSubnetIds": ["subnet-0c000001", "subnet-0c000002"],
    "platform:network.internalAlbSubnetIds": ["subnet-0d000001", "subnet-0d000002"],
}


@pytest.fixture(scope="module")
def with_endpoints() -> Recording:
    return run_stack("prod", {"platform:network.vpcEndpoints": "true"})


def private_subnets(rec: Recording) -> list[dict[str, object]]:
    return [r.inputs for r in rec.find(SUBNET) if re.search(r"-private-\d+$", r.name)]


def mlflow_https(rec: Recording) -> set[str]:
    """Where MLflow's pods may open 443, as the NetworkPolicies admit it."""
    return {dest for src, dest, port in admitted(rec.kubernetes_manifests()) if src == MLFLOW and port == "443/TCP"}


def test_no_endpoint_is_built_unless_config_asks(recording: Recording) -> None:
    assert not recording.find(ENDPOINT)


def test_s3_is_a_gateway_endpoint_on_every_private_route_table(with_endpoints: Recording) -> None:
    """S3's layers of ECR images and MLflow's artifacts go through a gateway endpoint, a route in the route tables
    of the subnets that use it (AWS PrivateLink guide, "Gateway endpoints for Amazon S3")."""
    (s3,) = [r for r in with_endpoints.find(ENDPOINT) if r.inputs["vpcEndpointType"] == "Gateway"]
    assert s3.inputs["serviceName"] == f"com.amazonaws.{REGION}.s3"
    private_tables = {r.id for r in with_endpoints.find(ROUTE_TABLE) if "-private-rt-" in r.name}
    assert len(private_tables) == 3
    assert set(s3.inputs["routeTableIds"]) == private_tables


def test_ecr_sts_logs_and_secrets_manager_are_private_dns_interface_endpoints_in_the_private_subnets(
    with_endpoints: Recording,
) -> None:
    """EKS user guide, "Deploy private clusters with limited internet access": ECR api and dkr, S3, STS (IRSA) and
    CloudWatch Logs; and Secrets Manager (com.amazonaws.<region>.secretsmanager, Secrets Manager user guide, "Using
    an AWS Secrets Manager VPC endpoint"), which MLflow's pgpass sidecar and the migration Job's init container call
    for the database password: without it that call alone still needs the NAT. Private DNS makes the services' own
    names resolve to the endpoints (PrivateLink guide)."""
    interfaces = [r for r in with_endpoints.find(ENDPOINT) if r.inputs["vpcEndpointType"] == "Interface"]
    assert {r.inputs["serviceName"] for r in interfaces} == INTERFACE_SERVICES
    private_ids = {r.id for r in with_endpoints.find(SUBNET) if re.search(r"-private-\d+$", r.name)}
    (sg,) = with_endpoints.find(SECURITY_GROUP, "mlp-prod-endpoints")
    for endpoint in interfaces:
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert set(endpoint.inputs["subnetIds"]) == private_ids
        assert endpoint.inputs["securityGroupIds"] == [sg.id]
        assert {"Project", "Environment", "ManagedBy"} <= set(endpoint.inputs["tags"])


def test_the_interface_endpoints_admit_https_from_the_vpc_only(with_endpoints: Recording) -> None:
    """An interface endpoint is reached on 443 (PrivateLink guide, "Security groups"); from the VPC, nowhere else."""
    (sg,) = with_endpoints.find(SECURITY_GROUP, "mlp-prod-endpoints")
    rules = [r for r in with_endpoints.find(INGRESS) if r.inputs["securityGroupId"] == sg.id]
    vpc_cidr = with_endpoints.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
    assert [
        (r.inputs["cidrIpv4"], r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules
    ] == [(vpc_cidr, "tcp", 443, 443)]
    assert not [r for r in with_endpoints.find(EGRESS) if r.inputs["securityGroupId"] == sg.id]


def test_mlflow_may_reach_the_endpoints_subnets_on_443_only_when_they_exist(
    with_endpoints: Recording, recordings: dict[str, Recording]
) -> None:
    """With private DNS, sts.<region>.amazonaws.com resolves to the endpoint's addresses in the private subnets,
    which the public-443 rule excludes: without an explicit rule IRSA's AssumeRoleWithWebIdentity times out."""
    public = "0.0.0.0/0 except 10.0.0.0/8,100.64.0.0/10,169.254.0.0/16,172.16.0.0/12,192.168.0.0/16"
    cidrs = {str(s["cidrBlock"]) for s in private_subnets(with_endpoints)}
    assert mlflow_https(with_endpoints) == {public, *cidrs}
    assert mlflow_https(recordings["prod"]) == {public}


def test_a_brought_vpc_admits_the_endpoint_cidrs_it_names() -> None:
    """A brought VPC's endpoints are its owner's: the stack admits the CIDRs it is told, and nothing else."""
    rec = run_stack("prod", {**BROUGHT, "platform:network.endpointCidrs": ["10.42.200.0/24", "10.42.201.0/24"]})
    assert not rec.find(ENDPOINT)
    private = {c for c in mlflow_https(rec) if not c.startswith("0.0.0.0/0")}
    assert private == {"10.42.200.0/24", "10.42.201.0/24"}


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({**BROUGHT, "platform:network.vpcEndpoints": "true"}, "platform:network.vpcEndpoints"),
        ({"platform:network.endpointCidrs": ["10.30.0.0/20"]}, "platform:network.endpointCidrs"),
        ({**BROUGHT, "platform:network.endpointCidrs": ["0.0.0.0/0"]}, "platform:network.endpointCidrs"),
        ({**BROUGHT, "platform:network.endpointCidrs": ["52.94.0.0/22"]}, "platform:network.endpointCidrs"),
    ],
)
def test_endpoint_config_that_cannot_work_is_refused_naming_the_key(overrides: dict[str, object], key: str) -> None:
    """Endpoints built into a brought VPC would clash with its own (PrivateLink guide: one private DNS name per
    service per VPC); admitting a public or open range would undo the egress rule that keeps MLflow off the
    VPC's other addresses."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run_stack("prod", overrides)
