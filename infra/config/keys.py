"""Typed getters over stack config; every failure raises `ConfigError` naming the full key."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pulumi

# Re-exported: the versions the one table in infra/versions.py pins add-ons and the autoscaler for.
from infra.versions import KUBERNETES_VERSIONS as KUBERNETES_VERSIONS
from service.core.aliases import RULE, is_alias

_ALIAS = f"a model alias ({RULE})"

PROJECT = "platform"
ENVIRONMENTS = ("dev", "staging", "prod")
# full: the cloud layer and the workloads (dev, staging, prod); preview: one inference service on a base stack's
# cluster, in its own namespace (pull-request previews).
MODES = ("full", "preview")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

# Every physical name the stack creates starts with `<namePrefix>-<stack>` (StackConfig.name). The strictest AWS
# rules it meets (RDS, ElastiCache, ECR, S3; tests/infra/aws_limits.py) allow lowercase letters, digits and
# single inner hyphens only, and some names may not start with a reserved prefix.
NAME_PREFIX_PATTERN = r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,14}"
STACK_NAME_PATTERN = r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*"
# EC2 refuses security-group names starting "sg-"; S3 refuses bucket names starting with these others.
RESERVED_NAME_STARTS = ("sg-", "xn--", "sthree-", "amzn-s3-demo-")
# The longest `<namePrefix>-<stack>` of a full stack: ElastiCache replication group ids are at most 40 characters
# and the cache's is Pulumi's autoname of `<name>-redis` ("-" and 7 hex digits appended), so 40 - 6 - 8. Every
# other physical name is shorter than its limit at this length (tests/infra/test_rehearsal_names.py).
MAX_FULL_STACK_NAME = 26

T = TypeVar("T")


class ConfigError(ValueError):
    """A stack config key is missing or holds a value the program cannot use."""


class Keys:
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

    def removed(self, key: str, instead: str) -> None:
        """Refuse a key the program no longer reads, so a stack still setting it learns what replaced it instead
        of having it silently ignored (Pulumi accepts undeclared keys of the project's namespace)."""
        if self._config.get(key) is not None:
            raise ConfigError(f"{self.full(key)} is no longer read: {instead}; remove it: `pulumi config rm {key}`")

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

    def alias(self, key: str) -> str:
        """A registry alias, by the one rule the service and the training CLI apply (service/core/aliases.py)."""
        value = self.optional_alias(key)
        if value is None:
            raise self.fail(key, _ALIAS, "")
        return value

    def optional_alias(self, key: str) -> str | None:
        value = self.optional_string(key, expected=_ALIAS)
        if value is not None and not is_alias(value):
            raise self.fail(key, _ALIAS, value)
        return value

    def choice(self, key: str, choices: Sequence[str]) -> str:
        expected = "one of " + ", ".join(repr(c) for c in choices)
        value = self._raw(key, expected)
        if value not in choices:
            raise self.fail(key, expected, value)
        return value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        expected = "an integer" + bounds(minimum, maximum)
        raw = self._raw(key, expected)
        try:
            value = int(raw)
        except ValueError as e:
            raise self.fail(key, expected, raw) from e
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.fail(key, expected, value)
        return value

    def number(self, key: str, *, minimum: float, maximum: float) -> float:
        """A decimal number in [minimum, maximum], declared as a string key in Pulumi.yaml (e.g. "0.2")."""
        expected = f"a number between {minimum:g} and {maximum:g}"
        raw = self._raw(key, expected)
        try:
            value = float(raw)
        except ValueError as e:
            raise self.fail(key, expected, raw) from e
        if not minimum <= value <= maximum:  # also refuses NaN
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


def stack_name(keys: Keys, key: str) -> str | None:
    """A stack to reference: `<org>/<project>/<stack>`, or a bare `<stack>` of this stack's organization and project."""
    expected = "a stack name, <stack> or <organization>/<project>/<stack> (e.g. acme/platform/dev)"
    raw = keys.optional_string(key, pattern=r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?", expected=expected)
    if raw is None or "/" in raw:
        return raw
    # A bare name would resolve to the CLI user's default organization; qualifying it keeps the reference in
    # the organization the referring stack lives in, as a platform team (and CI's organization token) expects.
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{raw}"


def bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" between {minimum} and {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True
