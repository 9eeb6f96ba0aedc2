"""The whole pack, run as the engine runs it, over what dev, staging and prod really register."""

from __future__ import annotations

import inspect
from importlib import import_module

import pytest

from policy.rules import AVAILABILITY, BY_NAME, ResourceRule
from policy.rules.aws_tagging import TAGGABLE
from tests.conftest import STACKS
from tests.infra.harness import Recording
from tests.policy.engine import Diagnostic, evaluate


@pytest.fixture(scope="module")
def reports(recordings: dict[str, Recording]) -> dict[str, list[Diagnostic]]:
    return {stack: evaluate(rec) for stack, rec in recordings.items()}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_has_no_mandatory_violation(stack: str, reports: dict[str, list[Diagnostic]]) -> None:
    mandatory = [f"[{d.policy}] {d.urn}: {d.detail}" for d in reports[stack] if d.level == "mandatory"]
    assert not mandatory, f"{stack} violates mandatory policies:\n" + "\n".join(mandatory)


@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_could_judge_every_resource(stack: str, reports: dict[str, list[Diagnostic]]) -> None:
    """Under the harness every value is known, so no rule may stop on an unknown value or crash."""
    stopped = [f"[{d.policy}] {d.message}" for d in reports[stack] if d.unknown]
    assert not stopped, "\n".join(stopped)


@pytest.mark.parametrize("stack", STACKS)
def test_only_availability_rules_are_advisory(
    stack: str, reports: dict[str, list[Diagnostic]], advisory_report: dict[str, list[Diagnostic]]
) -> None:
    advisory = [d for d in reports[stack] if d.level == "advisory"]
    advisory_report[stack] = advisory
    assert all(BY_NAME[d.policy].category == AVAILABILITY for d in advisory), advisory
    if stack != "dev":
        assert not advisory, f"{stack} relaxes only what its policy config says; found {advisory}"


def test_resource_rules_govern_what_the_stacks_create(recordings: dict[str, Recording]) -> None:
    """A rule set that matched nothing would pass any stack: the types the rules govern must be registered."""
    registered = {r.type for rec in recordings.values() for r in rec.resources}
    governed = {t for rule in BY_NAME.values() if isinstance(rule, ResourceRule) for t in rule.types}
    assert registered & governed >= {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/flowLog:FlowLog"}


def _takes_tags(type_token: str) -> bool:
    module, _, cls = type_token.removeprefix("aws:").partition(":")
    resource = getattr(import_module(f"pulumi_aws.{module.split('/')[0]}"), cls)
    return "tags" in inspect.signature(resource._internal_init).parameters


def test_taggable_list_names_real_taggable_types() -> None:
    assert [t for t in sorted(TAGGABLE) if not _takes_tags(t)] == []


def test_every_taggable_type_a_stack_registers_is_checked_for_tags(recordings: dict[str, Recording]) -> None:
    registered = {r.type for rec in recordings.values() for r in rec.resources if r.type.startswith("aws:")}
    unchecked = sorted(t for t in registered - TAGGABLE if _takes_tags(t))
    assert not unchecked, f"add these to policy/rules/aws_tagging.py TAGGABLE: {unchecked}"
