"""The sweep: every place a rule reports a violation is asserted by a failing case that changes one thing.

A suite that never looks at a message cannot notice it gone: blanking any one of them (or breaking the branch that
reaches it) must turn some case red. `scripts/mutate_policy.py` checks that by mutating the rules; these tests
check the cases up front, in a second, from the rule modules' own source (`tests/policy/sites.py`).
"""

from __future__ import annotations

import pytest

from policy.rules import POLICIES
from tests.policy.cases import AWS_CASES, KUBERNETES_CASES, STACK_CASES, Case
from tests.policy.cases.stacks import StackCase
from tests.policy.sites import Site, message_of, overlaps, owners, violation_sites, watching
from tests.policy.support import DELETE, changed, resource_rule, stack_rule, stack_violations, violations

RESOURCE_CASES = AWS_CASES + KUBERNETES_CASES


def _run(case: Case | StackCase) -> list[str]:
    if isinstance(case, StackCase):
        found = stack_violations(stack_rule(case.rule), case.build(), config=case.config)
        return [message for message, _ in found]
    rule = resource_rule(case.rule)
    return violations(rule, case.type, case.props, config=case.config, provider=case.provider)


def _asserting_cases() -> dict[Site, list[Case | StackCase]]:
    """For each violation site, the failing cases whose expected messages cover what the site reported."""
    sites = violation_sites()
    asserted: dict[Site, list[Case | StackCase]] = {site: [] for site in sites}
    cases: list[Case | StackCase] = [*RESOURCE_CASES, *STACK_CASES]
    for case in cases:
        if case.expect is None:
            continue
        with watching(sites) as reached:
            reported = _run(case)
        expects = case.expects or (case.expect,)
        for site, part in reached:
            if any(overlaps(e, part, message) for e in expects for message in reported):
                asserted[site].append(case)
    return asserted


def test_the_rule_modules_have_violation_sites_to_sweep() -> None:
    sites = violation_sites()
    assert len(sites) >= 150, len(sites)
    assert {s.file for s in sites} >= {"aws_elasticache.py", "aws_iam.py", "data_store.py", "kubernetes_pods.py"}


def test_every_violation_site_is_asserted_by_a_failing_case() -> None:
    """Each `yield` (and each returned message) of every rule is reached by a failing case whose expected message
    covers what that site reported, so blanking the message or cutting the branch fails that case. A site in a check
    that a factory builds for several rules is asserted by a failing case of each of them: one rule's case proves
    nothing of another's path or setting."""
    owned = owners(violation_sites(), POLICIES)
    unasserted: list[str] = []
    for site, cases in _asserting_cases().items():
        if owned[site]:
            unasserted += [f"{site} for {rule}" for rule in sorted(owned[site] - {case.rule for case in cases})]
        elif not cases:
            unasserted.append(str(site))
    assert not unasserted, "violation sites no failing case asserts:\n" + "\n".join(unasserted)


def test_a_factory_site_belongs_to_every_rule_built_from_it() -> None:
    """The owners the sweep holds a site to: the one rule of a check written as a function, every rule of a
    factory's check, no rule for a helper's message."""
    owned = owners(violation_sites(), POLICIES)
    by_function = {site.function: site for site in owned}
    assert owned[by_function["final_snapshot"]] == {"aws-rds-instance-configure-final-snapshot"}
    flag, value, minimum = sorted((site for site in owned if site.file == "shapes.py"), key=lambda site: site.line)
    assert owned[minimum] == {
        "aws-rds-instance-configure-backup-retention",
        "kubernetes-autoscaling-hpa-configure-min-replicas",
    }
    assert {"aws-rds-instance-enable-multi-az", "aws-ec2-subnet-disallow-public-ip-on-launch"} < owned[flag]
    assert {"aws-s3-bucketversioning-enable-versioning", "aws-ecr-repository-enable-immutable-tags"} < owned[value]
    assert not owned[flag] & owned[value]
    assert owned[by_function["_ingress_faults"]] == set()


def test_the_watch_sees_what_a_site_reports() -> None:
    """The sweep's own instrument: a known site, reached by a known case, with its message."""
    (site,) = [s for s in violation_sites() if s.function == "at_rest_encryption" and "atRest" in _line(s)]
    case = next(c for c in RESOURCE_CASES if c.expect == "atRestEncryptionEnabled must be true")
    with watching([site]) as reached:
        reported = _run(case)
    assert reached == [(site, "atRestEncryptionEnabled must be true")]
    assert reported == ["atRestEncryptionEnabled must be true"]
    assert message_of(("a message", "urn")) == "a message"


def _line(site: Site) -> str:
    from tests.policy.sites import RULES_DIR

    return (RULES_DIR / site.file).read_text().splitlines()[site.line - 1]


@pytest.mark.parametrize("case", [c for c in RESOURCE_CASES if c.expect is not None], ids=lambda c: c.label)
def test_every_failing_case_changes_one_thing(case: Case) -> None:
    """A failing case is a compliant resource (one its rule passes) with one change: one path of its props set or
    removed, or, props untouched, the policy config or the provider."""
    compliant = [c.props for c in RESOURCE_CASES if c.rule == case.rule and c.type == case.type and c.expect is None]
    assert compliant, f"{case.rule} has no passing {case.type} to start from"
    if case.config is not None or case.provider is not None:
        assert len(case.changes) <= 1
        assert case.changes or case.props in compliant
    else:
        assert len(case.changes) == 1, case.changes
        assert any(
            changed(props, {case.changes[0]: DELETE}) == changed(case.props, {case.changes[0]: DELETE})
            for props in compliant
        ), "the case differs from every compliant resource elsewhere too"


def test_case_labels_are_unique() -> None:
    labels = [c.label for c in [*RESOURCE_CASES, *STACK_CASES]]
    assert len(labels) == len(set(labels))
