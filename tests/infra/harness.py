"""Runs the real Pulumi program offline under `pulumi.runtime.set_mocks` and records what it registers.

`run_stack("prod")` loads config the way the CLI would (Pulumi.yaml defaults, then Pulumi.prod.yaml, then
overrides), executes `__main__.py`, and returns a `Recording`: every resource's type, name, inputs, parent,
dependencies (explicit and implied by Outputs), provider, the outputs the mocks gave it, the invokes it made,
and the stack's exports. No CLI, no provider plugin and no cloud account is involved.

A stack that references another (`pulumi.StackReference`, e.g. a preview's base stack) reads that stack's real
exports: the harness runs the referenced stack of this project first (or takes its `Recording` from the
caller), and answers Secrets Manager lookups with what that stack stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import runpy
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from tests.infra.mock_dns import ALB_HOSTED_ZONE_IDS, hosted_zone, validation_option

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
# The marker Pulumi's wire format puts on a secret value.
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


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


# ---------------------------------------------------------------------------------------------- mocks


def _fake_id(kind: str, name: str, length: int = 17) -> str:
    return f"{kind}-{hashlib.sha256(name.encode()).hexdigest()[:length]}"


_EC2_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/flowLog:FlowLog": "fl",
}


class PlatformMocks(mocks.Mocks):
    """Realistic answers for what the program reads back from resources and invokes.

    `references` are the stacks a StackReference may name (fully qualified), as recorded runs. `clusters` are the
    EKS clusters the account already runs in the region (name -> Kubernetes version): none before a first deploy.
    """

    def __init__(
        self,
        references: dict[str, Recording] | None = None,
        zones: Iterable[Zone] = ZONES,
        clusters: dict[str, str] | None = None,
    ) -> None:
        self.references = references or {}
        self.zones = tuple(zones)
        self.clusters = dict(clusters or {})

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        if typ == STACK_REFERENCE:
            return self._stack_reference(str(inputs["name"]))
        state: dict[str, Any] = dict(inputs)
        if typ in _EC2_ID_PREFIX:
            rid = _fake_id(_EC2_ID_PREFIX[typ], name)
        else:
            rid = inputs.get("name") if isinstance(inputs.get("name"), str) else f"{name}-{_fake_id('id', name, 8)}"
        service = typ.split(":")[1].split("/")[0] if typ.startswith("aws:") else "mock"
        state.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{name}")
        state.setdefault("name", inputs.get("name") or f"{name}-{_fake_id('n', name, 7)}")

        if typ == "aws:ec2/vpc:Vpc":
            state.setdefault("defaultSecurityGroupId", _fake_id("sg", name + "default"))
        elif typ == "aws:eks/cluster:Cluster":
            state.update(
                endpoint=f"https://{_fake_id('eks', name, 32)[4:].upper()}.gr7.{REGION}.eks.amazonaws.com",
                certificateAuthority={"data": base64.b64encode(b"-----BEGIN CERTIFICATE-----mock").decode()},
                identities=[
                    {"oidcs": [{"issuer": f"https://oidc.eks.{REGION}.amazonaws.com/id/{_fake_id('o', name, 32)[2:]}"}]}
                ],
                vpcConfig={**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": _fake_id("sg", name + "cl")},
                platformVersion="eks.1",
                status="ACTIVE",
            )
        elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            state["arn"] = (
                f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}"
            )
        elif typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{state['name']}"
        elif typ == "aws:iam/policy:Policy":
            state["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:policy/{state['name']}"
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{state['name']}"
        elif typ == "aws:kms/key:Key":
            rid = _fake_id("key", name, 32)[4:]
            state.update(keyId=rid, arn=f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{rid}")
        elif typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{name}-{_fake_id('b', name, 7)[2:]}"
            rid = bucket
            state.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketRegionalDomainName=f"{bucket}.s3.{REGION}.amazonaws.com",
            )
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            host = f"master.{name}.abc123.use1.cache.amazonaws.com"
            state.update(primaryEndpointAddress=host, readerEndpointAddress=host.replace("master.", "replica."))
            state.setdefault("port", 6379)
        elif typ == "aws:rds/instance:Instance":
            host = f"{name}.abc123.{REGION}.rds.amazonaws.com"
            state.update(address=host, endpoint=f"{host}:5432")
            state.setdefault("port", 5432)
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            state.update(latestVersion=1, defaultVersion=1)
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            state.update(
                status="ACTIVE",
                resources=[{"autoscalingGroups": [{"name": f"eks-{name}-{_fake_id('asg', name, 8)[4:]}"}]}],
            )
        elif typ == "kubernetes:helm.sh/v3:Release":
            state["status"] = {
                "name": inputs.get("name") or name,
                "namespace": inputs.get("namespace", "default"),
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "status": "deployed",
                "revision": 1,
            }
            return rid, state
        elif typ == "aws:ecr/repository:Repository":
            state["repositoryUrl"] = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{state['name']}"
        elif typ == DOCKER_IMAGE:
            # What pulumi-docker-build reports after a push (provider/internal/image.go@v0.0.22, Create): the
            # manifest's digest is the id, and `ref` is the first tag with the digest appended.
            tags = list(inputs.get("tags") or [])
            digest = "sha256:" + hashlib.sha256(json.dumps([name, tags], sort_keys=True).encode()).hexdigest()
            rid = digest
            state.update(
                digest=digest,
                ref=f"{tags[0]}@{digest}" if tags else "",
                contextHash=hashlib.sha256(json.dumps(inputs.get("context"), sort_keys=True).encode()).hexdigest(),
            )
            state.pop("arn", None)
            state.pop("name", None)
        elif typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "mock-" + hashlib.sha256(name.encode()).hexdigest()[: int(inputs.get("length", 32)) - 5]
        elif typ == "random:index/randomId:RandomId":
            # byte_length random bytes, as the provider renders them (hex: two digits a byte).
            digest = hashlib.sha256(name.encode()).hexdigest()[: 2 * int(inputs.get("byteLength", 8))]
            rid = digest
            state.update(hex=digest, dec=str(int(digest, 16)), b64Std=base64.b64encode(bytes.fromhex(digest)).decode())
        elif typ == "aws:secretsmanager/secret:Secret":
            # The provider's id is the ARN; AWS appends six random characters to the name.
            secret_name = f"{inputs.get('namePrefix') or name}{_fake_id('s', name, 7)[2:]}"
            rid = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{secret_name}-{_fake_id('x', name, 8)[2:]}"
            state.update(name=secret_name, arn=rid)
        elif typ == "aws:secretsmanager/secretVersion:SecretVersion":
            state.update(versionId=_fake_id("v", name, 32)[2:], versionStages=["AWSCURRENT"], arn=inputs["secretId"])
        elif typ == "aws:acm/certificate:Certificate":
            # ACM's certificate ids are UUIDs.
            certificate_id = str(uuid.UUID(hashlib.sha256(name.encode()).hexdigest()[:32]))
            rid = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/{certificate_id}"
            names = [inputs["domainName"], *(inputs.get("subjectAlternativeNames") or [])]
            state.update(
                arn=rid,
                status="PENDING_VALIDATION",
                domainValidationOptions=[validation_option(n) for n in dict.fromkeys(names)],
                validationMethod=inputs.get("validationMethod"),
            )
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            rid = str(inputs["certificateArn"])
        elif typ == "aws:route53/record:Record":
            # The provider's id is <zone id>_<name>_<type>; fqdn is the name without the root's trailing dot.
            fqdn = str(inputs["name"]).removesuffix(".")
            rid = f"{inputs['zoneId']}_{fqdn}_{inputs['type']}"
            state.update(fqdn=fqdn)
        elif typ.startswith("kubernetes:") and typ != "pulumi:providers:kubernetes":
            metadata = dict(state.get("metadata") or {})
            metadata.setdefault("name", f"{name}-{_fake_id('k', name, 8)[2:]}")
            state["metadata"] = metadata
            if typ == "kubernetes:networking.k8s.io/v1:Ingress":
                # What the AWS Load Balancer Controller writes back once the ALB exists (Pulumi waits for it).
                annotations = metadata.get("annotations") or {}
                internal = annotations.get("alb.ingress.kubernetes.io/scheme") == "internal"
                # Every Ingress of an IngressGroup is served by the group's one ALB (LB controller annotations.md,
                # IngressGroup), so they all report its DNS name.
                balancer = annotations.get("alb.ingress.kubernetes.io/group.name") or name
                host = (
                    f"{'internal-' if internal else ''}k8s-{_fake_id('alb', balancer, 20)[4:]}"
                    f".{REGION}.elb.amazonaws.com"
                )
                state["status"] = {"loadBalancer": {"ingress": [{"hostname": host}]}}
        return rid, state

    def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return self._availability_zones(args.args)
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": CALLER_ARN,
                "userId": "AROAMOCK:deploy-dev-1234",
                "id": ACCOUNT_ID,
            }
        if token == "aws:iam/getSessionContext:getSessionContext":
            # IAM's answer for an assumed-role session: the role's ARN (with its path) as the issuer.
            arn = str(args.args["arn"])
            role = arn.split(":assumed-role/", 1)[1].split("/")[0] if ":assumed-role/" in arn else ""
            issuer = DEPLOY_ROLE_ARN if role == "platform-deploy" else arn
            return {"arn": arn, "issuerArn": issuer, "issuerName": role, "sessionName": "deploy-dev-1234", "id": arn}
        if token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com"}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:ec2/getVpc:getVpc":
            # A brought VPC, looked up by id (bring-your-own network).
            return {"id": args.args["id"], "cidrBlock": BYO_VPC_CIDR, "state": "available"}
        if token == "aws:ec2/getSubnet:getSubnet":
            index = int(hashlib.sha256(str(args.args["id"]).encode()).hexdigest(), 16) % 256
            return {"id": args.args["id"], "cidrBlock": f"{BYO_VPC_CIDR.split('.0.0/')[0]}.{index}.0/24"}
        if token == "aws:elb/getServiceAccount:getServiceAccount":
            region = str(args.args.get("region") or REGION)
            if region not in ELB_SERVICE_ACCOUNTS:
                raise ValueError(f"unsupported AWS Region: {region}")
            partition = {"cn": "aws-cn", "us-gov": "aws-us-gov"}.get(region.rsplit("-", 2)[0], "aws")
            account = ELB_SERVICE_ACCOUNTS[region]
            return {"id": account, "arn": f"arn:{partition}:iam::{account}:root", "region": region}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": json.dumps(_policy_document(args.args)), "id": "policy"}
        if token == GET_ECR_TOKEN:
            registry = str(args.args.get("registryId") or ACCOUNT_ID)
            secret = base64.b64encode(f"AWS:mock-token-{registry}".encode()).decode()
            return {
                "authorizationToken": secret,
                "expiresAt": "2026-01-01T12:00:00Z",
                "id": registry,
                "password": f"mock-token-{registry}",
                "proxyEndpoint": f"https://{registry}.dkr.ecr.{REGION}.amazonaws.com",
                "region": REGION,
                "registryId": registry,
                "userName": "AWS",
            }
        if token == GET_SECRET_VERSION:
            return self._secret_version(str(args.args["secretId"]))
        if token == GET_ZONE:
            return hosted_zone(args.args, HOSTED_ZONES)
        if token == GET_CLUSTERS:
            # ListClusters: every page, as the provider's data source pages through them.
            return {"id": REGION, "names": sorted(self.clusters)}
        if token == GET_CLUSTER:
            name = str(args.args["name"])
            if name not in self.clusters:
                # DescribeCluster of a missing cluster fails the invoke, and with it the whole program.
                raise ValueError(f"ResourceNotFoundException: No cluster found for name: {name}.")
            return {"id": name, "name": name, "version": self.clusters[name], "status": "ACTIVE"}
        if token == "aws:lb/getHostedZoneId:getHostedZoneId":
            region = args.args.get("region") or REGION
            if (args.args.get("loadBalancerType") or "application") != "application":
                raise NotImplementedError("the offline harness knows the ALB zones only")
            return {"id": ALB_HOSTED_ZONE_IDS[region], "region": region, "loadBalancerType": "application"}
        raise NotImplementedError(f"the offline harness has no mock for invoke {token}")

    def _availability_zones(self, args: dict[str, Any]) -> dict[str, Any]:
        """DescribeAvailabilityZones with the invoke's filters applied, in name order as EC2 returns them."""
        zones = [z for z in self.zones if args.get("state") in (None, z.state)]
        zones = [z for z in zones if z.zone_id not in (args.get("excludeZoneIds") or [])]
        zones = [z for z in zones if z.name not in (args.get("excludeNames") or [])]
        for f in args.get("filters") or []:
            field_of = {"opt-in-status": lambda z: z.opt_in_status, "zone-id": lambda z: z.zone_id}
            if f["name"] not in field_of:
                raise NotImplementedError(f"the offline harness has no availability-zone filter {f['name']}")
            zones = [z for z in zones if field_of[f["name"]](z) in f["values"]]
        zones.sort(key=lambda z: z.name)
        return {"names": [z.name for z in zones], "zoneIds": [z.zone_id for z in zones], "id": REGION}

    def _stack_reference(self, stack: str) -> tuple[str, dict[str, Any]]:
        """What the engine reads for a StackReference: the stack's outputs, secret ones marked secret."""
        if stack not in self.references:
            raise KeyError(f"unknown stack {stack!r}: the harness knows {sorted(self.references)}")
        referenced = self.references[stack]
        outputs = {
            key: {_SECRET_SIG: _SECRET_VALUE, "value": value} if key in referenced.secret_exports else value
            for key, value in referenced.exports.items()
        }
        return stack, {"name": stack, "outputs": outputs, "secretOutputNames": sorted(referenced.secret_exports)}

    def _secret_version(self, secret_id: str) -> dict[str, Any]:
        """The current value a referenced stack stored in the secret `secret_id` (an ARN)."""
        for rec in self.references.values():
            for secret in rec.find("aws:secretsmanager/secret:Secret"):
                if secret_id not in (secret.id, secret.outputs.get("arn")):
                    continue
                (version,) = [
                    v
                    for v in rec.find("aws:secretsmanager/secretVersion:SecretVersion")
                    if v.inputs["secretId"] == secret.id
                ]
                # Plain, as the provider returns it: the program must keep it secret itself.
                return {
                    "arn": secret.outputs["arn"],
                    "id": f"{secret.outputs['arn']}|AWSCURRENT",
                    "name": secret.outputs["name"],
                    "secretId": secret_id,
                    "secretString": version.inputs["secretString"],
                    "secretBinary": "",
                    "versionId": version.outputs["versionId"],
                    "versionStage": "AWSCURRENT",
                    "versionStages": ["AWSCURRENT"],
                    "createdDate": "2026-01-01T00:00:00Z",
                }
        raise KeyError(f"no secret {secret_id!r} in the referenced stacks")


def _policy_document(args: dict[str, Any]) -> dict[str, Any]:
    """Render aws.iam.get_policy_document's arguments as the JSON document AWS would return."""
    statements = []
    for s in args.get("statements") or []:
        out: dict[str, Any] = {"Effect": s.get("effect", "Allow")}
        if s.get("sid"):
            out["Sid"] = s["sid"]
        for key, wire in (("actions", "Action"), ("resources", "Resource"), ("notActions", "NotAction")):
            if s.get(key):
                out[wire] = s[key]
        principals = s.get("principals") or []
        if principals:
            out["Principal"] = {p["type"]: p["identifiers"] for p in principals}
        conditions: dict[str, dict[str, Any]] = {}
        for c in s.get("conditions") or []:
            conditions.setdefault(c["test"], {})[c["variable"]] = c["values"]
        if conditions:
            out["Condition"] = conditions
        statements.append(out)
    return {"Version": "2012-10-17", "Statement": statements}


# ------------------------------------------------------------------------------------------ recording


@dataclass
class Resource:
    """One registration, as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    raw_inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    outputs: dict[str, Any] = field(default_factory=dict)
    ignore_changes: list[str] = field(default_factory=list)
    # ResourceOptions.delete_before_replace: on a replacement, the old one is deleted before the new one exists.
    delete_before_replace: bool = False
    # The physical id the mocks gave it (what other resources receive as `.id`).
    id: str = ""
    # Read, not created (a StackReference, a `get`): the engine creates nothing for it.
    read: bool = False
    # The `customTimeouts` option ("create"/"update"/"delete" -> a duration such as "20m"; unset ones absent).
    custom_timeouts: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped and integral floats turned back into ints."""
        return plain(self.raw_inputs)

    @property
    def provider_urn(self) -> str:
        """The provider reference is `<urn>::<id>`; this is the URN part ("" for the default provider)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""

    def is_secret(self, key: str) -> bool:
        """Whether input `key` reached the engine marked secret."""
        return _is_secret(self.raw_inputs.get(key))


@dataclass
class Invoke:
    """One provider function call (e.g. a Secrets Manager lookup): not a resource, nothing is created."""

    token: str
    args: dict[str, Any]


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SECRET_SIG) == _SECRET_VALUE


def mark_secret(value: Any) -> dict[str, Any]:
    """`value` as the engine receives a secret."""
    return {_SECRET_SIG: _SECRET_VALUE, "value": value}


def secret_leaves(value: Any, inside: bool = False) -> Iterator[Any]:
    """Every scalar inside a value the engine received marked secret."""
    if _is_secret(value):
        yield from secret_leaves(value.get("value"), True)
    elif isinstance(value, dict):
        for v in value.values():
            yield from secret_leaves(v, inside)
    elif isinstance(value, list):
        for v in value:
            yield from secret_leaves(v, inside)
    elif inside and value is not None:
        yield value


def plain(value: Any) -> Any:
    """Unwrap secrets and turn integral floats (the wire format has no ints) back into ints."""
    if _is_secret(value):
        return plain(value.get("value"))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that also keeps what `MockResourceArgs` lacks: parent, dependencies, provider.

    It also does what the engine does with `additional_secret_outputs` (e.g. RandomPassword.result): those
    outputs come back secret, so secrecy flows through the program as in a real deployment.
    """

    def __init__(self, mock: mocks.Mocks) -> None:
        super().__init__(mock)
        self.registrations: list[Resource] = []
        self.invokes: list[Invoke] = []

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        _ensure_event_loop()
        self.invokes.append(Invoke(token=request.tok, args=rpc.deserialize_properties(request.args)))
        return super().Invoke(request)

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """A read (a StackReference, or `get` of an existing resource): recorded like a registration."""
        response = super().ReadResource(request)
        _ensure_event_loop()
        state = self.resources[response.urn].state
        self.registrations.append(
            Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=True,
                raw_inputs=rpc.deserialize_properties(request.properties),
                parent=request.parent,
                dependencies=list(request.dependencies),
                property_dependencies={},
                provider=request.provider,
                outputs=plain(state),
                id=request.id,
                read=True,
            )
        )
        return response

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        _ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = rpc.deserialize_properties(request.object)  # secrets stay wrapped: Resource.is_secret reads them
        rid, state = self.mocks.new_resource(
            mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=plain(inputs),
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        for key in request.additionalSecretOutputs:
            if key in state and not _is_secret(state[key]):
                state[key] = {_SECRET_SIG: _SECRET_VALUE, "value": state[key]}
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, rid or "", state)
        self.registrations.append(
            Resource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                raw_inputs=inputs,
                parent=request.parent,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                provider=request.provider,
                outputs=plain(state),
                ignore_changes=list(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                id=rid or "",
                custom_timeouts={
                    op: getattr(request.customTimeouts, op)
                    for op in ("create", "update", "delete")
                    if getattr(request.customTimeouts, op)
                },
            )
        )
        props = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid or "", object=props)


@dataclass
class Recording:
    """Everything one run of the program registered, with lookups for tests."""

    stack: str
    config: dict[str, str]
    resources: list[Resource]
    exports: dict[str, Any]
    secret_exports: set[str]
    # CPU seconds the program run under mocks took (all threads of this process).
    seconds: float = 0.0
    # What the program logged with pulumi.log.warn, in order.
    warnings: list[str] = field(default_factory=list)
    invokes: list[Invoke] = field(default_factory=list)
    # Config keys set as secrets (`pulumi config set --secret`).
    secret_config: set[str] = field(default_factory=set)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def by_urn(self, urn: str) -> Resource:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def find(self, type_: str, name: str | None = None) -> list[Resource]:
        return [r for r in self.resources if r.type == type_ and (name is None or r.name == name)]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = self.find(type_, name)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def direct_dependencies(self, resource: Resource) -> set[str]:
        """URNs `resource` waits for: depends_on, Output-implied inputs and its provider."""
        deps = set(resource.dependencies)
        for urns in resource.property_dependencies.values():
            deps.update(urns)
        if resource.provider_urn:
            deps.add(resource.provider_urn)
        return deps

    def transitive_dependencies(self, resource: Resource) -> set[str]:
        seen: set[str] = set()
        stack = list(self.direct_dependencies(resource))
        known = {r.urn: r for r in self.resources}
        while stack:
            urn = stack.pop()
            if urn in seen:
                continue
            seen.add(urn)
            if urn in known:
                stack.extend(self.direct_dependencies(known[urn]))
        return seen

    def depends_on(self, resource: Resource, other: Resource) -> bool:
        return other.urn in self.transitive_dependencies(resource)

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def descendants(self, ancestor: Resource) -> list[Resource]:
        """Everything registered under `ancestor`, at any depth."""
        below = {ancestor.urn}
        found = []
        for r in self.resources:  # registration order: a parent always precedes its children
            if r.parent in below:
                below.add(r.urn)
                found.append(r)
        return found

    def within(self, component_type: str) -> Recording:
        """The part of the recording the one component of `component_type` owns."""
        component = self.one(component_type)
        return Recording(
            stack=self.stack,
            config=self.config,
            resources=self.descendants(component),
            exports={},
            secret_exports=set(),
        )

    def kubernetes_manifests(self) -> list[dict[str, Any]]:
        """Every Kubernetes object the stack creates, as the plain dict `kubectl apply` would take."""
        manifests = []
        for r in self.resources:
            if not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm.sh"):
                continue
            if r.type == "pulumi:providers:kubernetes":
                continue
            body = {k: v for k, v in r.inputs.items() if not k.startswith("__")}
            if "apiVersion" in body and "kind" in body:
                metadata = dict(body.get("metadata") or {})
                metadata.setdefault("name", (r.outputs.get("metadata") or {}).get("name", r.name))
                body["metadata"] = metadata
                manifests.append(body)
        return manifests


# Config keys that name a stack to reference.
REFERENCE_KEYS = (f"{PROJECT}:preview.baseStack", f"{PROJECT}:cluster.stackReference")


def qualified(stack: str) -> str:
    return stack if "/" in stack else f"{ORGANIZATION}/{PROJECT}/{stack}"


def referenced_stacks(config: dict[str, str]) -> set[str]:
    """The stacks a run with `config` references, fully qualified."""
    return {qualified(config[key]) for key in REFERENCE_KEYS if config.get(key)}


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    program: Path | None = None,
    references: dict[str, Recording] | None = None,
    fork: bool = True,
    zones: Iterable[Zone] = ZONES,
    clusters: dict[str, str] | None = None,
) -> Recording:
    """Run the program for `stack` under mocks; raises what the program raises (e.g. ConfigError).

    Wrap an override in `Secret` to set it as a secret. A referenced stack missing from `references` (keyed by
    its fully qualified name) is run first, with its own stack file, when it is a stack of this project. `zones` is
    the region's zones as the account sees them (name -> zone ID). `clusters` are the EKS clusters already running
    in the account (name -> version; `deployed_clusters(recording)` of an earlier run). With `fork` false the files
    run exactly as shipped, without what a fork sets once (FORK_CONFIG).
    """
    config = stack_config(stack, overrides, fork)
    known = dict(references or {})
    for name in sorted(referenced_stacks(config) - set(known)):
        # Only a stack of this project; a malformed name is left for the program's config check to refuse.
        organization, project, base = (name.split("/") + ["", "", ""])[:3]
        if (organization, project) == (ORGANIZATION, PROJECT) and (ROOT / f"Pulumi.{base}.yaml").exists():
            known[name] = run_stack(base)
    settings.ROOT.set(None)
    # The program creates asyncio futures as it registers resources; a test before this one (an async service
    # test, say) may have closed and unset the main thread's loop.
    _ensure_event_loop()
    pulumi.runtime.set_all_config(config, secret_keys(overrides))
    mock = PlatformMocks(known, zones, clusters)
    monitor = RecordingMonitor(mock)
    log = _WarningLog()
    mocks.set_mocks(
        mock,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=monitor,
        logger=log.logger,
        organization=ORGANIZATION,
    )

    def run() -> None:
        runpy.run_path(str(program or ROOT / "__main__.py"), run_name="__main__")

    # CPU time of this process (all threads): what the program costs, not how busy the machine is.
    started = time.process_time()
    try:
        _sync_await(pulumi.runtime.stack.run_pulumi_func(run))
        root = settings.get_root_resource()
        assert root is not None
        exported: dict[str, Any] = getattr(root, "outputs", {})
        exports, secret = {}, set()
        for key, value in exported.items():
            output = pulumi.Output.from_input(value)
            exports[key] = plain(_sync_await(output.future()))
            if _sync_await(output.is_secret()):
                secret.add(key)
    finally:
        settings.ROOT.set(None)
    return Recording(
        stack=stack,
        config=config,
        resources=list(monitor.registrations),
        exports=exports,
        secret_exports=secret,
        seconds=time.process_time() - started,
        warnings=list(log.messages),
        invokes=list(monitor.invokes),
        secret_config=set(secret_keys(overrides)),
    )


class _WarningLog(logging.Handler):
    """Collects what the mock engine logs at WARNING, instead of printing it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"{__name__}.run.{id(self)}")
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def deployed_clusters(recording: Recording) -> dict[str, str]:
    """The EKS clusters a recorded run leaves running (name -> version): the account the next run sees."""
    return {str(r.inputs["name"]): str(r.inputs["version"]) for r in recording.of_type("aws:eks/cluster:Cluster")}


def type_names(resources: Iterable[Resource]) -> list[tuple[str, str]]:
    return [(r.type, r.name) for r in resources]
