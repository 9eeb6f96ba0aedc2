"""The offline harness's account and config: the mocked AWS account, its zones, and the config a stack runs with,
loaded the way the CLI loads it (Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then overrides)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "platform"
# The Pulumi organization the stacks run in (bare stack references are qualified with it).
ORGANIZATION = "acme"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# What a fork sets once for the whole project (docs/forking.md) and the shipped files leave unset, so that
# `pulumi up` of an unforked stack fails its config check naming the key. The harness runs the stacks under the
# zone a fork declared in Pulumi.yaml; in this repository, which declares none, under a test fixture: a zone
# under the .test TLD reserved for testing (RFC 6761 6.2), which no stack file or doc may carry
# (tests/infra/test_rehearsal_tls.py).
FIXTURE_ZONE = "ml.acme.test"
_DECLARED_ZONE = (yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"].get("dns.zone") or {}).get("default")
FORK_ZONE = str(_DECLARED_ZONE or FIXTURE_ZONE).removesuffix(".")
FORK_CONFIG = {f"{PROJECT}:dns.zone": FORK_ZONE}
# The public hosted zones the mocked account holds, by domain name (Route 53 ids: Z and uppercase alphanumerics).
HOSTED_ZONES = {FORK_ZONE: "Z0" + hashlib.sha256(FORK_ZONE.encode()).hexdigest()[:17].upper()}
# What a brought VPC (network.vpcId) reports as its CIDR; its subnets are /24s inside it.
BYO_VPC_CIDR = "10.42.0.0/16"
# aws.elb.get_service_account's answers: the Elastic Load Balancing account of each Region available before
# August 2022, as the provider holds them (terraform-provider-aws internal/service/elb/service_account_data_source.go,
# accountIDPerRegionMap); it refuses any other Region.
ELB_SERVICE_ACCOUNTS = dict(
    pair.split("=")
    for pair in """
    af-south-1=098369216593 ap-east-1=754344448648 ap-northeast-1=582318560864 ap-northeast-2=600734575887
    ap-northeast-3=383597477331 ap-south-1=718504428378 ap-southeast-1=114774131450 ap-southeast-2=783225319266
    ap-southeast-3=589379963580 ca-central-1=985666609251 cn-north-1=638102146993 cn-northwest-1=037604701340
    eu-central-1=054676820928 eu-north-1=897822967062 eu-south-1=635631232127 eu-west-1=156460612806
    eu-west-2=652711504416 eu-west-3=009996457667 me-south-1=076674570225 sa-east-1=507241528517
    us-east-1=127311923021 us-east-2=033677994240 us-gov-east-1=190560391635 us-gov-west-1=048591011584
    us-west-1=027434742980 us-west-2=797873946194
""".split()
)
# The role the program runs as (the deploy workflow assumes it) and its STS session, as AWS reports them.
DEPLOY_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-deploy"
CALLER_ARN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/platform-deploy/deploy-dev-1234"


@dataclass(frozen=True)
class Zone:
    """One zone of the region as this account sees it: names map to zone IDs differently in every account."""

    name: str
    zone_id: str
    opt_in_status: str = "opt-in-not-required"
    state: str = "available"


# This account's us-east-1: six AZs (us-east-1c is use1-az3, where EKS places no control plane) and an opted-in
# Local Zone.
ZONES = (
    *(Zone(f"{REGION}{letter}", f"use1-az{i}") for i, letter in enumerate("abcdef", start=1)),
    Zone(f"{REGION}-bos-1a", "use1-bos1-az1", opt_in_status="opted-in"),
)
# AWS resource types that take no `tags` argument; every other aws: resource must carry the stack's tags.
# tests/infra/test_wiring.py checks each entry against the pulumi_aws class, so the list cannot hide one.
UNTAGGABLE = frozenset(
    {
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:route53/record:Record",
        "aws:acm/certificateValidation:CertificateValidation",
    }
)
STACK_REFERENCE = "pulumi:pulumi:StackReference"
DOCKER_IMAGE = "docker-build:index:Image"
GET_ECR_TOKEN = "aws:ecr/getAuthorizationToken:getAuthorizationToken"
GET_SECRET_VERSION = "aws:secretsmanager/getSecretVersion:getSecretVersion"
GET_ZONE = "aws:route53/getZone:getZone"
GET_CLUSTERS = "aws:eks/getClusters:getClusters"
GET_CLUSTER = "aws:eks/getCluster:getCluster"

# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Secret:
    """An override set as `pulumi config set --secret` would set it."""

    value: Any


def secret_keys(overrides: dict[str, Any] | None) -> list[str]:
    return [k for k, v in (overrides or {}).items() if isinstance(v, Secret)]


def stack_config(stack: str, overrides: dict[str, Any] | None = None, fork: bool = True) -> dict[str, str]:
    """The config the CLI hands the program: project defaults, then the stack file, then overrides.

    With `fork`, the project-wide values a fork sets once (FORK_CONFIG) come in over the defaults, as a fork's
    Pulumi.yaml or shared ESC environment gives them; without it, the files exactly as shipped.
    """
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    values: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict) and "default" in decl:
            values[f"{PROJECT}:{key}" if ":" not in key else key] = decl["default"]
    if fork:
        values.update({k: v for k, v in FORK_CONFIG.items() if not values.get(k)})
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        values.update((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {})
    values.update({k: v.value if isinstance(v, Secret) else v for k, v in (overrides or {}).items()})
    return {k: _config_string(v) for k, v in values.items() if v is not None}


def _config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


# Config keys that name a stack to reference.
REFERENCE_KEYS = (f"{PROJECT}:preview.baseStack", f"{PROJECT}:cluster.stackReference")


def qualified(stack: str) -> str:
    return stack if "/" in stack else f"{ORGANIZATION}/{PROJECT}/{stack}"


def referenced_stacks(config: dict[str, str]) -> set[str]:
    """The stacks a run with `config` references, fully qualified."""
    return {qualified(config[key]) for key in REFERENCE_KEYS if config.get(key)}
