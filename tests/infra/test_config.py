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
