"""The pack as the CLI sees it: names, controls, enforcement levels and their per-stack overrides, its entry
point, unknown values in preview, and the docs that list every rule."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from google.protobuf import empty_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE

from policy.rules import AVAILABILITY, BY_NAME, POLICIES, SECURITY, ResourceRule, StackRule
from tests.infra.harness import ROOT, Resource
from tests.policy import cases as c
from tests.policy.engine import CONFIG_DIR, analyze, analyze_stack, analyzer, stack_policy_config
from tests.policy.support import changed

NAME = re.compile(r"(aws|kubernetes)-[a-z0-9]+-[a-z0-9]+-(enable|disallow|configure)-[a-z0-9]+(-[a-z0-9]+)*")
CONTROL = re.compile(
    r"(CKV2?_(AWS|K8S)_\d+|CIS EKS \d+(\.\d+)*|Security Hub [A-Za-z0-9]+\.\d+|kube-score [a-z-]+|kube-linter [a-z-]+"
    r"|polaris [A-Za-z]+|Platform baseline: .+)"
)


def test_the_pack_has_at_least_40_uniquely_named_rules() -> None:
    assert len(POLICIES) >= 40
    assert len(BY_NAME) == len(POLICIES)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_rule_name_and_description_follow_the_convention(policy: ResourceRule | StackRule) -> None:
    assert NAME.fullmatch(policy.name), policy.name
    assert policy.category in (SECURITY, AVAILABILITY)
    assert policy.controls and all(CONTROL.fullmatch(control) for control in policy.controls), policy.controls
    assert policy.description.endswith(f"Controls: {', '.join(policy.controls)}.")
    assert policy.enforcement_level == EnforcementLevel.MANDATORY


def test_analyzer_info_is_what_the_cli_shows() -> None:
    info = analyzer().GetAnalyzerInfo(empty_pb2.Empty(), None)
    by_name = {p.name: p for p in info.policies}
    assert set(by_name) == set(BY_NAME)
    for name, policy in BY_NAME.items():
        assert by_name[name].enforcementLevel == proto.MANDATORY
        expected = proto.POLICY_TYPE_STACK if isinstance(policy, StackRule) else proto.POLICY_TYPE_RESOURCE
        assert by_name[name].policy_type == expected
        assert list(by_name[name].tags) == [policy.category]


def test_the_entry_point_builds_the_pack_from_every_rule() -> None:
    """Run policy/__main__.py as `pulumi preview --policy-pack policy` does (runpy on the pack's directory, which
    then heads sys.path), with PolicyPack recorded instead of serving gRPC until killed."""
    boot = (
        "import json, runpy, pulumi_policy\n"
        "built = {}\n"
        "pulumi_policy.PolicyPack = lambda **kwargs: built.update(kwargs)\n"
        "runpy.run_path('.', run_name='__main__')\n"
        "print(json.dumps({'name': built['name'], 'level': built['enforcement_level'].value,"
        " 'policies': [p.name for p in built['policies']]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", boot], cwd=ROOT / "policy", capture_output=True, text=True, timeout=60, check=True
    )
    built = json.loads(done.stdout)
    assert built == {"name": "platform-guardrails", "level": "mandatory", "policies": [p.name for p in POLICIES]}


# ------------------------------------------------------------------------------------- enforcement


def test_policy_config_files_relax_only_availability_rules() -> None:
    files = sorted(CONFIG_DIR.glob("*.json"))
    assert files, "policy/config/ holds the per-stack --policy-pack-config files"
    for path in files:
        for name, entry in json.loads(path.read_text()).items():
            assert name in BY_NAME, f"{path.name}: no policy {name}"
            level = entry if isinstance(entry, str) else entry.get("enforcementLevel", "mandatory")
            if level != "mandatory":
                assert BY_NAME[name].category == AVAILABILITY, f"{path.name} relaxes security rule {name}"
                assert level == "advisory", f"{path.name}: {name} may go advisory, not {level}"


def test_dev_relaxes_every_availability_rule_and_nothing_else() -> None:
    relaxed = set(stack_policy_config("dev"))
    assert relaxed == {p.name for p in POLICIES if p.category == AVAILABILITY}


def _resource(type_: str, props: dict[str, object], name: str = "subject") -> Resource:
    urn = f"urn:pulumi:dev::platform::{type_}::{name}"
    return Resource(urn, type_, name, True, props, "", [], {}, "", outputs=props)


def test_stack_config_sets_enforcement_per_policy() -> None:
    """With dev's config a single-AZ database is advisory; an unencrypted one stays mandatory."""
    db = _resource(c.RDS_T, changed(c.RDS, {"multiAz": False, "storageEncrypted": False}))
    levels = {d.policy: d.level for d in analyze(analyzer(stack_policy_config("dev")), [db])}
    assert levels == {
        "aws-rds-instance-enable-multi-az": "advisory",
        "aws-rds-instance-enable-storage-encryption": "mandatory",
    }
    levels = {d.policy: d.level for d in analyze(analyzer({}), [db])}
    assert set(levels.values()) == {"mandatory"}


def test_policy_config_properties_reach_the_rule() -> None:
    db = _resource(c.RDS_T, c.RDS)
    config = {"aws-rds-instance-configure-backup-retention": {"enforcementLevel": "mandatory", "minimumDays": 14}}
    (found,) = analyze(analyzer(config), [db])
    assert found.policy == "aws-rds-instance-configure-backup-retention"
    assert "must be >= 14 (got 7)" in found.detail


def test_config_naming_an_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="aws-no-such-rule"):
        analyzer({"aws-no-such-rule": "advisory"})


def test_a_disabled_policy_does_not_run() -> None:
    db = _resource(c.RDS_T, changed(c.RDS, {"storageEncrypted": False}))
    assert analyze(analyzer({"aws-rds-instance-enable-storage-encryption": "disabled"}), [db]) == []


# ------------------------------------------------------------------------------------ unknown in preview


def test_unknown_values_in_preview_are_reported_as_unknown_never_as_violations() -> None:
    """What `pulumi preview` shows for a cluster whose endpoint flag depends on an unknown output."""
    cluster = _resource(c.CLUSTER_T, changed(c.CLUSTER, {"vpcConfig.endpointPublicAccess": UNKNOWN_BOOLEAN_VALUE}))
    found = analyze(analyzer(), [cluster])
    assert [(d.policy, d.level, d.unknown) for d in found] == [
        ("aws-eks-cluster-disallow-unrestricted-public-endpoint", "advisory", True)
    ]
    assert "can't be known during preview" in found[0].message


def test_stack_policies_treat_unknown_outputs_as_unknown() -> None:
    bucket = _resource(c.BUCKET_T, {"bucket": "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "tags": c.TAGS}, "artifacts")
    block = _resource(c.PAB_T, changed(c.PAB, {"bucket": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}), "artifacts-pab")
    found = [
        d for d in analyze_stack(analyzer(), [bucket, block]) if d.policy == "aws-s3-bucket-enable-public-access-block"
    ]
    assert [(d.level, d.unknown) for d in found] == [("advisory", True)]


# ------------------------------------------------------------------------------------------------ docs


def test_guardrails_doc_lists_every_rule_with_its_controls_and_enforcement() -> None:
    doc = (ROOT / "docs" / "guardrails.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", doc, re.M)}
    assert set(rows) == set(BY_NAME), set(rows) ^ set(BY_NAME)
    dev = stack_policy_config("dev")
    for name, policy in BY_NAME.items():
        row = rows[name]
        assert all(control in row for control in policy.controls), name
        expected = "mandatory; advisory in dev" if name in dev else "mandatory"
        assert f"| {expected} |" in row, name
    assert re.search(r"pulumi preview .*--policy-pack policy", doc)
    assert "--policy-pack-config policy/config/dev.json" in doc


def test_guardrails_doc_names_the_day_2_rules_and_each_is_a_rule_of_the_pack() -> None:
    """docs/guardrails.md lists the rules added for day 2 on AWS: each one named there is a rule of the pack."""
    doc = (ROOT / "docs" / "guardrails.md").read_text()
    section = doc.split("Added for day 2 on AWS", 1)[1].split("###", 1)[0]
    named = set(re.findall(r"`(aws-[a-z0-9-]+|k8s-[a-z0-9-]+|kubernetes-[a-z0-9-]+)`", section))
    assert named >= {"aws-cloudwatch-loggroup-enable-kms-encryption", "aws-kms-key-configure-key-policy"}
    assert named <= set(BY_NAME), named - set(BY_NAME)
