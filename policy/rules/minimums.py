"""The rule shape two areas share: a number held to a minimum a stack may set in policy config (the days RDS keeps
backups, an HPA's minReplicas).

A helper, not a rule module: `aws_rds` and `kubernetes_cluster` each build their rule from `minimum_rule`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

from pulumi_policy import ResourceValidationArgs

from .base import SECURITY, Props, ResourceRule, config, get, integer_setting, number


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

    def check(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
        minimum = int(config(args, setting, default))
        value = number(get(props, path)) or absent
        if value < minimum:
            yield f"{path} must be >= {minimum} (got {value:g})"

    return ResourceRule(
        name,
        summary,
        controls=controls,
        types=types,
        check=check,
        category=category,
        config_schema=integer_setting(setting, default, description),
    )
