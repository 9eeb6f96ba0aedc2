"""The typed, validated view of stack config: the only module that reads `pulumi.Config`.

Every project key is declared with its type, description and default in `Pulumi.yaml`; the CLI fills in
those defaults, so this module `require`s each key and owns only its validation. A missing or invalid key
raises `ConfigError` naming the key and what was expected, before any resource is registered.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pulumi

PROJECT = "platform"
ENVIRONMENTS = ("dev", "staging", "prod")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

T = TypeVar("T")


class ConfigError(ValueError):
    """A stack config key is missing or holds a value the program cannot use."""


class _Keys:
    """Typed getters over one config namespace; every failure names the full key."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._config = pulumi.Config(namespace)

    def full(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def fail(self, key: str, expected: str, got: object = None) -> ConfigError:
        suffix = "" if got is None else f" (got {got!r})"
        return ConfigError(f"{self.full(key)} must be {expected}{suffix}")

    def _raw(self, key: str, expected: str) -> str:
        value = self._config.get(key)
        if value is None:
            raise ConfigError(
                f"{self.full(key)} is missing: expected {expected}; set it with `pulumi config set {key} ...` "
                "or declare its default in Pulumi.yaml"
            )
        return value

    def string(self, key: str, *, pattern: str | None = None, expected: str = "a string") -> str:
        value = self._raw(key, expected)
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.fail(key, expected, value)
        return value

    def optional_string(self, key: str, *, pattern: str | None = None, expected: str = "a string") -> str | None:
        """An optional key is declared with default "" in Pulumi.yaml; "" reads as None."""
        value = self._raw(key, expected)
        if value == "":
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.fail(key, expected, value)
        return value

    def choice(self, key: str, choices: Sequence[str]) -> str:
        expected = "one of " + ", ".join(repr(c) for c in choices)
        value = self._raw(key, expected)
        if value not in choices:
            raise self.fail(key, expected, value)
        return value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        expected = "an integer" + _bounds(minimum, maximum)
        raw = self._raw(key, expected)
        try:
            value = int(raw)
        except ValueError as e:
            raise self.fail(key, expected, raw) from e
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.fail(key, expected, value)
        return value

    def boolean(self, key: str) -> bool:
        raw = self._raw(key, "true or false")
        if raw.lower() not in ("true", "false"):
            raise self.fail(key, "true or false", raw)
        return raw.lower() == "true"

    def string_list(
        self, key: str, *, item: Callable[[str], bool] | None = None, expected: str = "a list of strings"
    ) -> tuple[str, ...]:
        raw = self._raw(key, expected)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError as e:
            raise self.fail(key, expected, raw) from e
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, expected, value)
        for v in value:
            if item is not None and not item(v):
                raise self.fail(key, expected, v)
        return tuple(value)


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" between {minimum} and {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


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

    @property
    def bring_your_own(self) -> bool:
        return self.vpc_id is not None


@dataclass(frozen=True)
class PlatformConfig:
    """Everything the program needs from a stack, typed and validated."""

    stack: str
    environment: Literal["dev", "staging", "prod"]
    name_prefix: str
    region: str
    network: NetworkConfig

    @property
    def name(self) -> str:
        """The prefix of every physical name this stack creates."""
        return f"{self.name_prefix}-{self.stack}"

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    def tags(self, **extra: str) -> dict[str, str]:
        """The tags every taggable AWS resource carries."""
        return {"Project": self.name_prefix, "Environment": self.environment, "ManagedBy": "pulumi", **extra}


def _network(keys: _Keys) -> NetworkConfig:
    expected_cidr = "an IPv4 CIDR between /16 and /24"
    vpc_cidr = keys.string("network.vpcCidr", expected=expected_cidr)
    if not _is_cidr(vpc_cidr):
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
    if vpc_id is None and (public or private):
        raise keys.fail("network.vpcId", "set when network.publicSubnetIds or network.privateSubnetIds is set")
    if vpc_id is not None and len(private) < 2:
        raise keys.fail(
            "network.privateSubnetIds", "at least 2 subnet ids in different AZs when network.vpcId is set", private
        )
    return NetworkConfig(
        vpc_cidr=str(network),
        az_count=az_count,
        nat_gateways="single" if nat == "single" else "perAz",
        flow_log_retention_days=retention,
        vpc_id=vpc_id,
        public_subnet_ids=public,
        private_subnet_ids=private,
    )


def load_config() -> PlatformConfig:
    """Read and validate the current stack's config; raises `ConfigError` on the first bad key."""
    keys = _Keys(PROJECT)
    environment = keys.choice("environment", ENVIRONMENTS)
    region = _Keys("aws").string("region", pattern=r"[a-z]{2}(-[a-z]+)+-\d", expected="an AWS region")
    return PlatformConfig(
        stack=pulumi.get_stack(),
        environment="dev" if environment == "dev" else "staging" if environment == "staging" else "prod",
        name_prefix=keys.string(
            "namePrefix", pattern=r"[a-z][a-z0-9-]{1,14}", expected="2-15 lowercase letters, digits or -"
        ),
        region=region,
        network=_network(keys),
    )
