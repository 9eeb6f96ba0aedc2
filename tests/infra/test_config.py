"""Stack config is validated at load time, with messages that name the key and what was expected."""

from __future__ import annotations

import pytest
import yaml

from infra.config import ConfigError
from tests.infra.harness import ROOT, run_stack


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"platform:network.azCount": 1}, "platform:network.azCount must be an integer between 2 and 6 (got 1)"),
        ({"platform:network.azCount": "three"}, "platform:network.azCount must be an integer between 2 and 6"),
        ({"platform:network.natGateways": "none"}, "platform:network.natGateways must be one of 'single', 'perAz'"),
        (
            {"platform:network.vpcCidr": "10.0.0.0/8"},
            "platform:network.vpcCidr must be an IPv4 CIDR between /16 and /24",
        ),
        ({"platform:network.vpcCidr": "not-a-cidr"}, "platform:network.vpcCidr must be an IPv4 CIDR"),
        ({"platform:network.flowLogRetentionDays": 42}, "platform:network.flowLogRetentionDays must be a CloudWatch"),
        ({"platform:environment": "qa"}, "platform:environment must be one of 'dev', 'staging', 'prod' (got 'qa')"),
        ({"platform:namePrefix": "Bad_Prefix"}, "platform:namePrefix must be 2-15 lowercase letters"),
        ({"aws:region": "mars"}, "aws:region must be an AWS region"),
        (
            {
                "platform:network.vpcId": "vpc-0123456789abcdef0",
                "platform:network.privateSubnetIds": ["subnet-0123abcd"],
            },
            "platform:network.privateSubnetIds must be at least 2 subnet ids",
        ),
        (
            {"platform:network.privateSubnetIds": ["subnet-0123abcd", "subnet-0123abce"]},
            "platform:network.vpcId must be set when network.publicSubnetIds",
        ),
        (
            {"platform:network.publicSubnetIds": ["sub-1"], "platform:network.vpcId": "vpc-0123456789abcdef0"},
            "a list of subnet ids",
        ),
    ],
)
def test_invalid_config_fails_naming_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack("dev", overrides)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        (
            "dev",
            {"platform:cluster.version": "1.33"},
            "platform:cluster.version must be one of '1.36', '1.35' (got '1.33')",
        ),
        ("dev", {"platform:cluster.deployFrom": "laptop"}, "platform:cluster.deployFrom must be one of 'vpc', 'cidrs'"),
        (
            "dev",
            {"platform:cluster.deployFrom": "cidrs"},
            "platform:cluster.publicAccessCidrs must be the CIDRs `pulumi up` runs from (at least one) when "
            "cluster.deployFrom is cidrs",
        ),
        (
            "dev",
            {"platform:cluster.publicAccessCidrs": ["203.0.113.0/24"]},
            "platform:cluster.publicAccessCidrs must be empty when cluster.deployFrom is vpc",
        ),
        (
            "dev",
            {"platform:cluster.deployerRoleArn": "arn:aws:iam::123456789012:user/ci"},
            "platform:cluster.deployerRoleArn must be the IAM role ARN `pulumi up` runs as",
        ),
        (
            "dev",
            {
                "platform:cluster.deployerRoleArn": "arn:aws:iam::123456789012:role/ops/deploy",
                "platform:cluster.adminRoleArns": ["arn:aws:iam::123456789012:role/ops/deploy"],
            },
            "platform:cluster.adminRoleArns must be free of cluster.deployerRoleArn",
        ),
        (
            "dev",
            {"platform:network.excludeZoneIds": ["us-east-1a"]},
            "platform:network.excludeZoneIds must be a list of availability zone IDs (e.g. use1-az3), not zone names",
        ),
        (
            "prod",
            {"platform:network.excludeZoneIds": ["use1-az1", "use1-az2", "use1-az4"]},
            "platform:network.azCount is 3, but the region has only 2 zones EKS supports (use1-az5, use1-az6; "
            "excluded: cac1-az3, use1-az1, use1-az2, use1-az3, use1-az4, usw1-az2)",
        ),
        (
            "dev",
            {"platform:cluster.publicAccessCidrs": ["0.0.0.0/0"]},
            "platform:cluster.publicAccessCidrs must be a list of IPv4 CIDRs, none of them 0.0.0.0/0",
        ),
        ("dev", {"platform:cluster.publicAccessCidrs": ["10.0.0.1/8"]}, "platform:cluster.publicAccessCidrs must be"),
        (
            "dev",
            {"platform:cluster.adminRoleArns": ["arn:aws:iam::123456789012:user/alice"]},
            "platform:cluster.adminRoleArns must be a list of IAM role ARNs",
        ),
        ("dev", {"platform:cluster.logRetentionDays": 10}, "platform:cluster.logRetentionDays must be a CloudWatch"),
        ("dev", {"platform:nodes.instanceTypes": []}, "platform:nodes.instanceTypes must be a non-empty list"),
        (
            "dev",
            {"platform:nodes.instanceTypes": ["m6i.large", "m7g.large"]},
            "platform:nodes.instanceTypes must be a non-empty list of EC2 instance types of one architecture",
        ),
        ("staging", {"platform:nodes.minSize": 1}, "platform:nodes.minSize must be >= 2 outside dev"),
        ("dev", {"platform:nodes.maxSize": 0}, "platform:nodes.maxSize must be an integer between 1 and 100 (got 0)"),
        ("dev", {"platform:nodes.desiredSize": 9}, "platform:nodes.desiredSize must be an integer between 1 and 3"),
        ("dev", {"platform:nodes.diskSizeGiB": 8}, "platform:nodes.diskSizeGiB must be an integer between 20 and 1000"),
        ("dev", {"platform:nodes.capacityType": "RESERVED"}, "platform:nodes.capacityType must be one of"),
        ("dev", {"platform:redis.multiAz": "true"}, "platform:redis.nodeCount must be >= 2 when redis.multiAz is true"),
        ("prod", {"platform:redis.multiAz": "false"}, "platform:redis.multiAz must be true outside dev"),
        ("dev", {"platform:redis.multiAz": "yes"}, "platform:redis.multiAz must be true or false (got 'yes')"),
        (
            "dev",
            {"platform:redis.engineVersion": "6.2"},
            "platform:redis.engineVersion must be a valkey engine version",
        ),
        (
            "dev",
            {"platform:redis.engine": "redis", "platform:redis.engineVersion": "8.1"},
            "platform:redis.engineVersion must be a redis engine version: 7.0 or 7.1",
        ),
        ("dev", {"platform:redis.engine": "memcached"}, "platform:redis.engine must be one of 'valkey', 'redis'"),
        (
            "dev",
            {"platform:redis.authTokenUpdateStrategy": "DELETE"},
            "platform:redis.authTokenUpdateStrategy must be one of 'ROTATE', 'SET'",
        ),
        ("dev", {"platform:database.logRetentionDays": 31}, "platform:database.logRetentionDays must be a CloudWatch"),
        ("dev", {"platform:redis.nodeType": "r7g.large"}, "platform:redis.nodeType must be an ElastiCache node type"),
        ("dev", {"platform:redis.snapshotRetentionDays": 0}, "platform:redis.snapshotRetentionDays must be an integer"),
        ("prod", {"platform:database.multiAz": "false"}, "platform:database.multiAz must be true in prod"),
        (
            "staging",
            {"platform:database.deletionProtection": "false"},
            "platform:database.deletionProtection must be true outside dev (environment is staging)",
        ),
        ("dev", {"platform:database.backupRetentionDays": 3}, "platform:database.backupRetentionDays must be"),
        ("dev", {"platform:database.engineVersion": "12"}, "platform:database.engineVersion must be a PostgreSQL"),
        ("dev", {"platform:database.instanceClass": "m7g.large"}, "platform:database.instanceClass must be an RDS"),
        (
            "dev",
            {"platform:database.maxAllocatedStorageGiB": 10},
            "platform:database.maxAllocatedStorageGiB must be an integer between 20 and 65536 (got 10)",
        ),
        ("dev", {"platform:artifacts.noncurrentVersionDays": 0}, "platform:artifacts.noncurrentVersionDays must be"),
        (
            "dev",
            {"platform:registry.untaggedExpiryDays": 0},
            "platform:registry.untaggedExpiryDays must be an integer between 1",
        ),
    ],
)
def test_invalid_cloud_config_fails_naming_the_key(stack: str, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack(stack, overrides)
    assert message in str(err.value)


def test_dev_relaxes_availability_only_and_says_so_in_its_stack_file() -> None:
    """Every availability relaxation dev makes is written in Pulumi.dev.yaml, not implied by code."""
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    assert dev["platform:redis.multiAz"] == "false" and dev["platform:redis.nodeCount"] == "1"
    assert dev["platform:database.multiAz"] == "false"
    assert dev["platform:database.deletionProtection"] == "false"
    assert dev["platform:nodes.minSize"] == "1"
    assert not any("encrypt" in key.lower() or "public" in key.lower() for key in dev)


def test_missing_key_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match=r"platform:environment is missing: expected one of .*pulumi config set"):
        run_stack("no-such-stack")


def test_every_stack_file_sets_only_declared_keys() -> None:
    """Stack files differ only by config, and only by keys Pulumi.yaml declares (or provider keys)."""
    declared = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        body = yaml.safe_load(stack_file.read_text())
        assert set(body) <= {"config", "environment"}, stack_file.name
        for key in body.get("config") or {}:
            namespace, _, name = key.partition(":")
            assert namespace in {"platform", "aws"}, f"{stack_file.name}: {key}"
            if namespace == "platform":
                assert name in declared, f"{stack_file.name} sets undeclared key {key}"


def test_every_declared_key_has_a_description() -> None:
    config = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key, decl in config.items():
        assert decl.get("description"), key
        assert decl.get("type") in {"string", "integer", "boolean", "array"}, key
