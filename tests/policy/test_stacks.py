"""The whole pack, run as the engine runs it, over what dev, staging and prod really register."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from importlib import import_module

import pytest

from policy.rules import AVAILABILITY, BY_NAME, ResourceRule
from policy.rules.aws_tagging import TAGGABLE
from tests.infra.harness import Recording, Resource
from tests.policy.engine import Diagnostic, analyze_stack, analyzer, evaluate, stack_policy_config
from tests.support.stacks import STACKS


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


def _drop(rec: Recording, type_: str, name_part: str) -> list[Resource]:
    return [r for r in rec.resources if not (r.type == type_ and name_part in r.name)]


def _with_inputs(rec: Recording, type_: str, name_part: str, **changes: object) -> list[Resource]:
    found = []
    for r in rec.resources:
        if r.type == type_ and name_part in r.name:
            r = replace(r, raw_inputs={**r.raw_inputs, **changes}, outputs={**r.outputs, **changes})
        found.append(r)
    return found


def _nodes_in_public_subnets(rec: Recording) -> list[Resource]:
    public = [r.urn for r in rec.resources if r.type == "aws:ec2/subnet:Subnet" and "public" in r.name]
    return [
        replace(r, property_dependencies={**r.property_dependencies, "subnetIds": public})
        if r.type == "aws:eks/nodeGroup:NodeGroup"
        else r
        for r in rec.resources
    ]


def _replicas_under_hpa(rec: Recording) -> list[Resource]:
    found = []
    for r in rec.resources:
        if r.type == DEPLOYMENT and "inference" in r.name:
            spec = {**r.raw_inputs["spec"], "replicas": 3}
            r = replace(r, raw_inputs={**r.raw_inputs, "spec": spec}, outputs={**r.outputs, "spec": spec})
        found.append(r)
    return found


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# policy: (a type the break needs in the stack, the break)
BREAKS: dict[str, tuple[str, Callable[[Recording], list[Resource]]]] = {
    "aws-s3-bucket-enable-public-access-block": (
        "aws:s3/bucket:Bucket",
        lambda rec: _drop(rec, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "artifacts"),
    ),
    "aws-ec2-vpc-enable-flow-logs": ("aws:ec2/vpc:Vpc", lambda rec: _drop(rec, "aws:ec2/flowLog:FlowLog", "")),
    "aws-elasticache-replicationgroup-configure-cluster-only-ingress": (
        "aws:elasticache/replicationGroup:ReplicationGroup",
        lambda rec: _with_inputs(
            rec, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "redis", cidrIpv4="10.30.0.0/16"
        ),
    ),
    "aws-eks-nodegroup-disallow-public-subnets": ("aws:eks/nodeGroup:NodeGroup", _nodes_in_public_subnets),
    "kubernetes-apps-deployment-configure-pdb": (PDB, lambda rec: _drop(rec, PDB, "inference")),
    "kubernetes-networking-namespace-configure-default-deny": (
        NETWORK_POLICY,
        lambda rec: _drop(rec, NETWORK_POLICY, "inference-default-deny"),
    ),
    "kubernetes-apps-deployment-disallow-replicas-under-hpa": (DEPLOYMENT, _replicas_under_hpa),
}


@pytest.mark.parametrize("policy", sorted(BREAKS))
def test_stack_policies_catch_a_broken_link_in_the_real_program(policy: str, recordings: dict[str, Recording]) -> None:
    """The stack policies follow the program's real wiring: break one link and they report it."""
    rec = recordings["prod"]
    needed, break_link = BREAKS[policy]
    if not rec.find(needed):
        pytest.skip(f"prod registers no {needed}")
    servicer = analyzer(stack_policy_config("prod"))
    assert not [d for d in analyze_stack(servicer, rec.resources) if d.policy == policy]
    broken = [d for d in analyze_stack(servicer, break_link(rec)) if d.policy == policy]
    assert broken and all(d.level == "mandatory" for d in broken), broken


def test_the_pull_request_stack_passes_the_pack_with_devs_config(preview: Recording) -> None:
    """preview.yml runs `pulumi up` of pr-<N> with `--policy-pack policy --policy-pack-config policy/config/dev.json`
    (tests/delivery/test_workflows.py): the stack the workflow writes must pass it, or every preview stops."""
    report = evaluate(preview, stack_policy_config("dev"))
    mandatory = [f"[{d.policy}] {d.urn}: {d.detail}" for d in report if d.level == "mandatory"]
    assert not mandatory, "\n".join(mandatory)
    assert not [d for d in report if d.unknown]
