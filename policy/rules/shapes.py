"""The rule shapes several areas share: a flag that must be on (or off), a setting that must hold one value, and a
number held to a minimum a stack may set in policy config (the days RDS keeps backups, an HPA's minReplicas).

Helpers, not a rule module: the service modules build rules from `flag_rule`, `value_rule` and `minimum_rule`; the sweep
holds a factory's message to a failing case of every rule built from it (tests/policy/sites.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

from pulumi_policy import ResourceValidationArgs

from .base import SECURITY, Props, ResourceRule, config, get, integer_setting, is_true, number, resource_rule


def flag_rule(
    name: str,
    summary: str,
    *,
    controls: Sequence[str],
    types: Collection[str],
    path: str,
    must: bool = True,
    why: str = "",
    category: str = SECURITY,
) -> ResourceRule:
    """A rule reporting the boolean at `path` not `must` (an unset flag is false), with `why` after the message."""
    message = f"{path} must be {'true' if must else 'false'}" + (f": {why}" if why else "")

    @resource_rule(name, summary, controls=controls, types=types, category=category)
    def check(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
        if is_true(get(props, path)) != must:
            yield message

    return check


def value_rule(
    name: str,
    summary: str,
    *,
    controls: Sequence[str],
    types: Collection[str],
    path: str,
    must: str,
    default: str | None = None,
    why: str = "",
    category: str = SECURITY,
) -> ResourceRule:
    """A rule reporting the setting at `path` (`default`, the provider's, when unset) other than `must`, with `why`
    after the message."""

    @resource_rule(name, summary, controls=controls, types=types, category=category)
    def check(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
        value = get(props, path, default)
        if value != must:
            yield f"{path} must be {must!r} (got {value!r})" + (f": {why}" if why else "")

    return check


def minimum_rule(
    name: str,
    summary: str,
    *,
    controls: Sequence[str],
    types: Collection[str],
    path: str,
    setting: str,
    default: int,
    description: str,
    absent: float,
    category: str = SECURITY,
) -> ResourceRule:
    """A rule reporting `path` below the policy config value `setting` (`default` unless a stack sets it, described
    by `description`); an unset or zero `path` counts as `absent`."""
    schema = integer_setting(setting, default, description)

    @resource_rule(name, summary, controls=controls, types=types, category=category, config_schema=schema)
    def check(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
        minimum = int(config(args, setting, default))
        value = number(get(props, path)) or absent
        if value < minimum:
            yield f"{path} must be >= {minimum} (got {value:g})"

    return check
