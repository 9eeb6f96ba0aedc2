"""Every rule passes a compliant resource and reports the fault in a broken one, with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, UnknownValueError

from policy.rules import POLICIES, ResourceRule
from policy.rules import kubernetes_networking as alb
from tests.policy import cases as c
from tests.policy.cases import AWS_CASES, KUBERNETES_CASES, STACK_CASES, Case
from tests.policy.cases.stacks import StackCase
from tests.policy.support import (
    DELETE,
    as_engine_sends,
    changed,
    options,
    resource_rule,
    stack_rule,
    stack_violations,
    violations,
)

RESOURCE_CASES = AWS_CASES + KUBERNETES_CASES


@pytest.mark.parametrize("case", RESOURCE_CASES, ids=lambda case: case.label)
def test_resource_rule(case: Case) -> None:
    rule = resource_rule(case.rule)
    assert case.type in rule.types, f"{case.rule} does not apply to {case.type}"
    found = violations(rule, case.type, case.props, config=case.config, provider=case.provider)
    if case.expect is None:
        assert found == []
        return
    # The one change produces exactly the messages its row names: each of them, and nothing else.
    expects = case.expects or (case.expect,)
    assert all(any(e in message for message in found) for e in expects), found
    assert all(any(e in message for e in expects) for message in found), found


@pytest.mark.parametrize("case", STACK_CASES, ids=lambda case: case.label)
def test_stack_rule(case: StackCase) -> None:
    fakes = case.build()
    found = stack_violations(stack_rule(case.rule), fakes, config=case.config)
    if case.expect is None:
        assert found == []
        return
    messages = [message for message, _ in found]
    expects = case.expects or (case.expect,)
    assert all(any(e in message for message in messages) for e in expects), messages
    assert all(any(e in message for e in expects) for message in messages), messages
    urns = {f.urn for f in fakes}
    assert all(urn in urns for _, urn in found), "a stack violation must point at a resource of the stack"


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    outcomes: dict[str, set[bool]] = {p.name: set() for p in POLICIES}
    all_cases: list[Case | StackCase] = [*RESOURCE_CASES, *STACK_CASES]
    for case in all_cases:
        outcomes[case.rule].add(case.expect is None)
    missing = {name: sorted({True, False} - seen) for name, seen in outcomes.items() if seen != {True, False}}
    assert not missing, f"rules without a passing (True) or failing (False) case: {missing}"


def test_rules_ignore_resource_types_they_do_not_govern() -> None:
    rule = resource_rule("aws-rds-instance-enable-storage-encryption")
    assert violations(rule, c.REDIS_T, changed(c.RDS, {"storageEncrypted": False})) == []


def test_alb_rules_judge_only_the_ingresses_the_alb_controller_serves() -> None:
    """Every failing case of a rule built with `alb_rule` passes once the Ingress belongs to another controller."""
    alb_rules = {p.name for p in POLICIES if isinstance(p, ResourceRule) and p.applies is alb.is_alb}
    assert len(alb_rules) == 8
    failing = [case for case in RESOURCE_CASES if case.rule in alb_rules and case.expect is not None]
    assert {case.rule for case in failing} == alb_rules
    for case in failing:
        nginx = changed(case.props, {"spec.ingressClassName": "nginx"})
        assert violations(resource_rule(case.rule), case.type, nginx, config=case.config) == [], case.label


def test_a_resource_rule_passes_the_companions_it_accepts() -> None:
    """`passes` is how the bucket rules judge a companion: the resource rule's own verdict, with its default config."""
    rule = resource_rule("aws-s3-bucketversioning-enable-versioning")

    def versioning(props: dict[str, Any]) -> PolicyResource:
        return PolicyResource(c.VERSIONING_T, as_engine_sends(props), "urn:v", "v", options(), None, None, [], {})

    assert rule.passes(versioning(c.VERSIONING))
    assert not rule.passes(versioning(changed(c.VERSIONING, {"versioningConfiguration.status": "Suspended"})))
    assert not rule.passes(versioning(changed(c.VERSIONING, {"versioningConfiguration": DELETE})))


# -------------------------------------------------------------------------------- unknown during preview


def test_an_unknown_value_a_rule_reads_is_unknown_not_a_violation() -> None:
    """During preview the engine sends unknowns as sentinels; reading one raises, and the analyzer turns that
    into "can't run during preview" (see test_pack.py), never a violation."""
    rule = resource_rule("aws-eks-cluster-disallow-unrestricted-public-endpoint")
    props = changed(c.CLUSTER, {"vpcConfig.endpointPublicAccess": UNKNOWN_BOOLEAN_VALUE})
    with pytest.raises(UnknownValueError) as unknown:
        violations(rule, c.CLUSTER_T, props)
    assert unknown.value.message == "boolean value at .vpcConfig.endpointPublicAccess can't be known during preview"


def test_unknown_values_a_rule_does_not_read_do_not_stop_it() -> None:
    """Subnet ids are unknown until the subnets exist; the endpoint rules still judge the endpoint flags."""
    props = changed(c.CLUSTER, {"vpcConfig.subnetIds": UNKNOWN_ARRAY_VALUE, "roleArn": UNKNOWN_STRING_VALUE})
    assert violations(resource_rule("aws-eks-cluster-enable-private-endpoint"), c.CLUSTER_T, props) == []
    public = changed(props, {"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]})
    found = violations(resource_rule("aws-eks-cluster-disallow-unrestricted-public-endpoint"), c.CLUSTER_T, public)
    assert any("0.0.0.0/0" in m for m in found)


def test_an_unknown_list_element_is_unknown() -> None:
    props = changed(c.CLUSTER, {"enabledClusterLogTypes": ["api", UNKNOWN_STRING_VALUE]})
    with pytest.raises(UnknownValueError):
        violations(resource_rule("aws-eks-cluster-enable-control-plane-logging"), c.CLUSTER_T, props)


def test_an_unknown_policy_document_is_unknown() -> None:
    """IAM documents built with Output.apply are a single unknown string until their inputs exist."""
    props = {"role": "mlflow", "policy": UNKNOWN_STRING_VALUE}
    with pytest.raises(UnknownValueError) as unknown:
        violations(resource_rule("aws-iam-policy-disallow-wildcard-actions"), c.IAM_POLICY_T, props)
    assert unknown.value.props == ["policy"]


def test_resource_rules_see_numbers_as_the_engine_sends_them() -> None:
    """The wire has no integers: 1 arrives as 1.0, and the hop-limit rule must still accept it."""
    rule = resource_rule("aws-ec2-launchtemplate-configure-metadata-hop-limit")
    assert isinstance(rule, ResourceRule)
    assert (
        violations(
            rule, c.LAUNCH_TEMPLATE_T, changed(c.LAUNCH_TEMPLATE, {"metadataOptions.httpPutResponseHopLimit": 1.0})
        )
        == []
    )
