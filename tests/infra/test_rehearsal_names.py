"""Deploy rehearsal: every physical name, identifier, description, tag and Kubernetes name the program registers
meets the rule of the API that receives it (tests/infra/aws_limits.py, each rule with its source), for every
stack (dev, staging, prod, a preview as its workflow writes it) and for the longest `namePrefix` and stack name
the config accepts. A name the program omits is checked as Pulumi would make it (`<logical name>-<random>`),
including whether Pulumi can make it at all.

`preview` never calls AWS's create APIs, so none of this shows before `up`: EC2 refused the old security-group
descriptions ("from the cluster's nodes only": no apostrophe in a GroupDescription) after `preview` had passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.config import ConfigError
from infra.config.keys import MAX_FULL_STACK_NAME
from infra.config.preview import MAX_PR_NUMBER
from tests.infra import aws_limits as limits
from tests.infra import kubernetes_limits as k8s
from tests.infra.harness import Recording, Resource, qualified, run_stack
from tests.infra.stack_files import preview_config, stack_file

LONGEST_PREFIX = "abcdefghijklmno"  # namePrefix: 2-15 characters
INPUT_RULES = {**limits.INPUT_RULES, **k8s.INPUT_RULES}


@dataclass(frozen=True)
class Named:
    """One value a create API will receive, and the rule it must meet there."""

    resource: str
    where: str
    value: str
    rule: limits.Rule


def _name_input(r: Resource, field: str) -> tuple[str | None, list[str]]:
    """The physical name `field` of `r` will have: as set, from a `*Prefix` input, or as Pulumi autonames it."""
    inputs = r.inputs
    if isinstance(inputs.get(field), str):
        return inputs[field], []
    prefix_field, named = limits.NAME_PREFIXES.get(r.type, ("", ""))
    if named == field and isinstance(inputs.get(prefix_field), str):
        return inputs[prefix_field] + "0" * limits.PREFIX_SUFFIX_LENGTH, []
    autoname = limits.AUTONAMES.get(r.type)
    if autoname is None or autoname.field != field:
        return None, []
    if not autoname.fits(r.name):
        return None, [
            f"{r.type} {r.name}: Pulumi cannot autoname {field}: {r.name!r} plus '-' and {autoname.random} "
            f"random characters is longer than {autoname.max_length} (resource.NewUniqueName)"
        ]
    return autoname.name(r.name), []


def _aws_names(r: Resource) -> Iterator[tuple[str, str, limits.Rule]]:
    inputs = r.inputs
    for (type_, field), rule in INPUT_RULES.items():
        if type_ == r.type and not (field.endswith("Prefix") and field not in inputs):
            value, _ = _name_input(r, field)
            if value is not None:
                yield field, value, rule
    for (type_, field), rule in limits.LIST_INPUT_RULES.items():
        if type_ == r.type:
            for i, value in enumerate(inputs.get(field) or []):
                yield f"{field}[{i}]", value, rule
    if r.type in (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    ):
        if inputs.get("description") is not None:
            grouped = inputs.get("referencedSecurityGroupId") is not None
            rule = limits.SG_RULE_DESCRIPTION_GROUP if grouped else limits.SG_RULE_DESCRIPTION_CIDR
            yield "description", inputs["description"], rule
    if r.type in ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"):
        for direction in ("ingress", "egress"):
            for i, item in enumerate(inputs.get(direction) or []):
                if item.get("description") is not None:
                    grouped = bool(item.get("securityGroups")) or bool(item.get("self"))
                    rule = limits.SG_RULE_DESCRIPTION_GROUP if grouped else limits.SG_RULE_DESCRIPTION_CIDR
                    yield f"{direction}[{i}].description", item["description"], rule
    tag_sets = [("tags", inputs.get("tags") or {})]
    tag_sets += [
        (f"tagSpecifications[{i}].tags", s.get("tags") or {})
        for i, s in enumerate(inputs.get("tagSpecifications") or [])
    ]
    for where, tags in tag_sets:
        for key, value in tags.items():
            yield f"{where} key", key, limits.TAG_KEY
            yield f"{where}[{key}]", str(value), limits.TAG_VALUE
    if r.type == "aws:eks/nodeGroup:NodeGroup":
        yield from _labels("labels", inputs.get("labels") or {})


def _labels(where: str, labels: dict[str, Any]) -> Iterator[tuple[str, str, limits.Rule]]:
    for key, value in labels.items():
        yield from _qualified_key(f"{where} key", key)
        yield f"{where}[{key}]", str(value), k8s.LABEL_VALUE


def _qualified_key(where: str, key: str) -> Iterator[tuple[str, str, limits.Rule]]:
    prefix, _, name = key.rpartition("/")
    if prefix:
        yield f"{where} prefix", prefix, k8s.DNS1123_SUBDOMAIN
    yield where, name, k8s.QUALIFIED_NAME


def _pod_names(where: str, pod: dict[str, Any]) -> Iterator[tuple[str, str, limits.Rule]]:
    yield from _labels(f"{where}.metadata.labels", (pod.get("metadata") or {}).get("labels") or {})
    spec = pod.get("spec") or {}
    for kind in ("containers", "initContainers"):
        for c in spec.get(kind) or []:
            yield f"{where}.{kind}[].name", c["name"], k8s.DNS1123_LABEL
            for port in c.get("ports") or []:
                if port.get("name"):
                    yield f"{where}.{kind}[{c['name']}].ports[].name", port["name"], k8s.PORT_NAME
    for volume in spec.get("volumes") or []:
        yield f"{where}.volumes[].name", volume["name"], k8s.DNS1123_LABEL


def spec_rules(body: dict[str, Any]) -> list[dict[str, Any]]:
    """An Ingress's rules (hosts); nothing for other kinds."""
    return list((body.get("spec") or {}).get("rules") or []) if body.get("kind") == "Ingress" else []


def _kubernetes_names(r: Resource) -> Iterator[tuple[str, str, limits.Rule]]:
    body = r.inputs
    kind = body.get("kind")
    if kind is None:
        return
    metadata = body.get("metadata") or {}
    name = metadata.get("name") or k8s.KUBERNETES_AUTONAME.name(r.name)
    yield "metadata.name", name, k8s.KIND_NAME_RULES.get(kind, k8s.DNS1123_SUBDOMAIN)
    if metadata.get("namespace"):
        yield "metadata.namespace", metadata["namespace"], k8s.DNS1123_LABEL
    yield from _labels("metadata.labels", metadata.get("labels") or {})
    annotations = metadata.get("annotations") or {}
    for key, value in annotations.items():
        yield from _qualified_key("metadata.annotations key", key)
        if key in k8s.ANNOTATION_RULES:
            yield f"metadata.annotations[{key}]", str(value), k8s.ANNOTATION_RULES[key]
    # The controller tags the ALB, its target groups and security groups with these (AWS tag rules).
    for pair in filter(None, str(annotations.get(k8s.ALB_TAGS_ANNOTATION, "")).split(",")):
        tag_key, _, tag_value = pair.partition("=")
        yield f"metadata.annotations[{k8s.ALB_TAGS_ANNOTATION}] key", tag_key, limits.TAG_KEY
        yield f"metadata.annotations[{k8s.ALB_TAGS_ANNOTATION}][{tag_key}]", tag_value, limits.TAG_VALUE
    for i, rule in enumerate(spec_rules(body)):
        if rule.get("host"):
            yield f"spec.rules[{i}].host", rule["host"], limits.DNS_NAME
    spec = body.get("spec") or {}
    if "template" in spec:
        yield from _pod_names("spec.template", spec["template"])
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    if "template" in job:
        yield from _pod_names("spec.jobTemplate.spec.template", job["template"])
    for port in spec.get("ports") or [] if kind == "Service" else []:
        if port.get("name"):
            yield "spec.ports[].name", port["name"], k8s.PORT_NAME


def physical_names(rec: Recording) -> tuple[list[Named], list[str]]:
    """Every checked value of `rec`, and the names Pulumi could not make at all."""
    named: list[Named] = []
    problems: list[str] = []
    for r in rec.resources:
        if not r.custom or r.read:
            continue
        if r.type.startswith("aws:") or r.type == "kubernetes:helm.sh/v3:Release":
            for field in {f for (t, f) in INPUT_RULES if t == r.type}:
                problems += _name_input(r, field)[1]
            found = _aws_names(r)
        elif r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes":
            found = _kubernetes_names(r)
        else:
            continue
        named += [Named(f"{r.type} {r.name}", where, value, rule) for where, value, rule in found]
    return named, problems


def violations(rec: Recording) -> list[str]:
    named, problems = physical_names(rec)
    found = list(problems)
    for n in named:
        found += [f"{n.resource} {n.where}={n.value!r}: {v} [{n.rule.source}]" for v in n.rule.violations(n.value)]
    return found


def unclassified_aws_types(rec: Recording) -> set[str]:
    """AWS resource types the rehearsal has no name rule for and does not know to be nameless."""
    ruled = {t for t, _ in INPUT_RULES} | set(limits.AUTONAMES) | limits.NAMELESS_AWS_TYPES
    return {r.type for r in rec.resources if r.custom and r.type.startswith("aws:") and r.type not in ruled}


# ------------------------------------------------------------------------------------------------- stacks


@pytest.fixture(scope="module")
def preview_at_the_longest_name(recordings: dict[str, Recording]) -> Recording:
    """The preview of the highest pull-request number config accepts, written by its workflow, longest prefix."""
    pr = MAX_PR_NUMBER
    config = {**preview_config(pr), "platform:namePrefix": LONGEST_PREFIX}
    return run_stack(f"pr-{pr}", config, references={qualified("dev"): recordings["dev"]})


def test_every_name_of_every_stack_meets_the_rule_of_its_api(recording: Recording) -> None:
    """dev, staging, prod: e.g. EC2's GroupDescription charset, RDS/ElastiCache identifiers, IAM names (64/128),
    S3 bucket names, Kubernetes DNS-1123 names, Helm release names (53); sources in tests/infra/aws_limits.py."""
    assert violations(recording) == []


def test_every_name_of_a_preview_as_its_workflow_writes_it_meets_its_rule(
    preview_at_the_longest_name: Recording,
) -> None:
    """Pulumi.pr-<N>.yaml as .github/scripts/preview_stacks.py renders it, for the largest N and namePrefix."""
    assert preview_at_the_longest_name.stack == f"pr-{MAX_PR_NUMBER}"
    assert violations(preview_at_the_longest_name) == []


@pytest.mark.parametrize("base", ["dev", "prod"])
def test_the_longest_prefix_and_stack_name_config_accepts_still_fit_every_limit(base: str) -> None:
    """The longest `<namePrefix>-<stack>` config accepts for a full stack (MAX_FULL_STACK_NAME) with the longest
    namePrefix: every name fits, and Pulumi can make every autoname (ElastiCache's is the tightest: 40)."""
    stack = "s" * (MAX_FULL_STACK_NAME - len(LONGEST_PREFIX) - 1)
    config = {**stack_file(base), "platform:namePrefix": LONGEST_PREFIX}
    rec = run_stack(stack, config)
    assert {len(c.inputs["name"]) for c in rec.find("aws:eks/cluster:Cluster")} == {MAX_FULL_STACK_NAME}
    assert violations(rec) == []
    with pytest.raises(ConfigError, match="platform:namePrefix"):
        run_stack(stack + "s", config)


# What a fork could write that AWS would refuse: each must be refused by config, naming what to change, or
# produce only valid names. (On the old config each was accepted and failed at the create API.)
ADVERSARIAL = [
    pytest.param("ab-", "dev", id="prefix-trailing-hyphen"),  # RDS/ElastiCache ids: no "--"
    pytest.param("sg", "dev", id="prefix-sg"),  # EC2 security group names: not "sg-..."
    pytest.param("sthree", "dev", id="prefix-sthree"),  # S3 bucket names: not "sthree-..."
    pytest.param("mlp", "Prod", id="stack-uppercase"),  # ECR repository names: lowercase
    pytest.param("mlp", "qa_1", id="stack-underscore"),  # S3 bucket names: no "_"
    pytest.param("mlp", "v1.2", id="stack-dot"),  # EKS cluster names: no "."
    pytest.param(LONGEST_PREFIX, "production-eu", id="too-long"),  # ElastiCache ids: 40
]


@pytest.mark.parametrize(("prefix", "stack"), ADVERSARIAL)
def test_config_refuses_a_prefix_or_stack_name_aws_would_refuse(prefix: str, stack: str) -> None:
    config = {**stack_file("dev"), "platform:namePrefix": prefix}
    try:
        rec = run_stack(stack, config)
    except ConfigError as e:
        assert "platform:namePrefix" in str(e) or repr(stack) in str(e)
        return
    assert violations(rec) == []


def test_every_aws_resource_type_has_a_name_rule_or_is_known_nameless(recordings: dict[str, Recording]) -> None:
    """A new AWS resource type gets its name rules in tests/infra/aws_limits.py before it ships."""
    unknown = set().union(*(unclassified_aws_types(rec) for rec in recordings.values()))
    assert unknown == set()


# ---------------------------------------------------------------------------------------- the rules' own


@pytest.mark.parametrize(
    ("rule", "value", "breaks"),
    [
        (limits.SG_DESCRIPTION, "Redis: 6379 from the cluster's nodes only", 'offending: "\'"'),
        (limits.SG_RULE_DESCRIPTION_GROUP, "Redis & RDS", "offending: '&'"),
        (limits.RDS_IDENTIFIER, "ab--dev-db-0123456", "two consecutive hyphens"),
        (limits.ELASTICACHE_REPLICATION_GROUP_ID, "a" * 41, "length 41"),
        (limits.S3_BUCKET, "192.168.0.1", "IP address"),
        (limits.S3_BUCKET, "sthree-bucket", "reserved 'sthree-'"),
        (limits.SG_NAME, "sg-dev-redis", "reserved 'sg-'"),
        (limits.KMS_ALIAS, "alias/aws/mine", "reserved 'alias/aws/'"),
        (limits.ECR_REPOSITORY, "mlp-Prod/inference", "not"),
        (k8s.HELM_RELEASE, "r" * 54, "length 54"),
        (k8s.CRONJOB_NAME, "c" * 53, "length 53"),
        (k8s.ALB_NAME, "k8s-" + "a" * 29, "length 33"),
        (k8s.ALB_GROUP_NAME, "Previews", "not"),
    ],
)
def test_each_rule_refuses_what_its_api_refuses(rule: limits.Rule, value: str, breaks: str) -> None:
    assert any(breaks in v for v in rule.violations(value)), rule.violations(value)


def test_pulumi_autonames_the_way_the_provider_does() -> None:
    """`<logical>-` plus 7 hex digits; lowercased where pulumi-aws transforms it; refused past the maximum."""
    bucket = limits.AUTONAMES["aws:s3/bucket:Bucket"]
    assert bucket.name("Mlp-Prod-artifacts").startswith("mlp-prod-artifacts-")
    assert len(bucket.name("x")) == len("x-") + 7
    redis = limits.AUTONAMES["aws:elasticache/replicationGroup:ReplicationGroup"]
    assert redis.fits("r" * 32) and not redis.fits("r" * 33)
