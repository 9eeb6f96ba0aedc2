"""What the offline harness answers for the resources the program creates and the provider functions it invokes,
as AWS and the providers would (DNS and ACM answers: tests/infra/mock_dns.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from tests.infra.harness_config import (
    ACCOUNT_ID,
    BYO_VPC_CIDR,
    CALLER_ARN,
    DEPLOY_ROLE_ARN,
    DOCKER_IMAGE,
    ELB_SERVICE_ACCOUNTS,
    GET_CLUSTER,
    GET_CLUSTERS,
    GET_ECR_TOKEN,
    GET_SECRET_VERSION,
    GET_ZONE,
    HOSTED_ZONES,
    REGION,
    STACK_REFERENCE,
    ZONES,
    Zone,
)
from tests.infra.mock_dns import ALB_HOSTED_ZONE_IDS, NLB_HOSTED_ZONE_IDS, hosted_zone, validation_option
from tests.infra.pulumi_engine import mark_secret
from tests.infra.recording import Recording


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


class PlatformMocks:
    """Realistic answers for what the program reads back from resources and invokes.

    `references` are the stacks a StackReference may name (fully qualified), as recorded runs. `clusters` are the
    EKS clusters the account already runs in the region (name -> Kubernetes version): none before a first deploy.
    With `ingress_addresses` off, no Ingress is ever given an address (an LB controller that is missing, or cannot
    create the ALB).
    """

    def __init__(
        self,
        references: dict[str, Recording] | None = None,
        zones: Iterable[Zone] = ZONES,
        clusters: dict[str, str] | None = None,
        ingress_addresses: bool = True,
    ) -> None:
        self.references = references or {}
        self.zones = tuple(zones)
        self.clusters = dict(clusters or {})
        self.ingress_addresses = ingress_addresses

    def new_resource(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
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
            if inputs.get("manageMasterUserPassword"):
                # RDS names the secret it creates rds!db-<instance resource id>, with Secrets Manager's suffix.
                secret = f"rds!db-{_fake_id('db', name, 8)[3:]}-{_fake_id('s', name, 6)[2:]}"
                state["masterUserSecrets"] = [
                    {
                        "secretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{secret}",
                        "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"),
                        "secretStatus": "active",
                    }
                ]
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
            if typ == "kubernetes:networking.k8s.io/v1:Ingress" and not self.ingress_addresses:
                state["status"] = {"loadBalancer": {}}
            elif typ == "kubernetes:networking.k8s.io/v1:Ingress":
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

    def call(self, token: str, args: dict[str, Any]) -> dict[str, Any]:
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return self._availability_zones(args)
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": CALLER_ARN,
                "userId": "AROAMOCK:deploy-dev-1234",
                "id": ACCOUNT_ID,
            }
        if token == "aws:iam/getSessionContext:getSessionContext":
            # IAM's answer for an assumed-role session: the role's ARN (with its path) as the issuer.
            arn = str(args["arn"])
            role = arn.split(":assumed-role/", 1)[1].split("/")[0] if ":assumed-role/" in arn else ""
            issuer = DEPLOY_ROLE_ARN if role == "platform-deploy" else arn
            return {"arn": arn, "issuerArn": issuer, "issuerName": role, "sessionName": "deploy-dev-1234", "id": arn}
        if token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com"}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:ec2/getVpc:getVpc":
            # A brought VPC, looked up by id (bring-your-own network).
            return {"id": args["id"], "cidrBlock": BYO_VPC_CIDR, "state": "available"}
        if token == "aws:ec2/getSubnet:getSubnet":
            index = int(hashlib.sha256(str(args["id"]).encode()).hexdigest(), 16) % 256
            return {"id": args["id"], "cidrBlock": f"{BYO_VPC_CIDR.split('.0.0/')[0]}.{index}.0/24"}
        if token == "aws:elb/getServiceAccount:getServiceAccount":
            region = str(args.get("region") or REGION)
            if region not in ELB_SERVICE_ACCOUNTS:
                raise ValueError(f"unsupported AWS Region: {region}")
            partition = {"cn": "aws-cn", "us-gov": "aws-us-gov"}.get(region.rsplit("-", 2)[0], "aws")
            account = ELB_SERVICE_ACCOUNTS[region]
            return {"id": account, "arn": f"arn:{partition}:iam::{account}:root", "region": region}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": json.dumps(_policy_document(args)), "id": "policy"}
        if token == GET_ECR_TOKEN:
            registry = str(args.get("registryId") or ACCOUNT_ID)
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
            return self._secret_version(str(args["secretId"]))
        if token == GET_ZONE:
            return hosted_zone(args, HOSTED_ZONES)
        if token == GET_CLUSTERS:
            # ListClusters: every page, as the provider's data source pages through them.
            return {"id": REGION, "names": sorted(self.clusters)}
        if token == GET_CLUSTER:
            name = str(args["name"])
            if name not in self.clusters:
                # DescribeCluster of a missing cluster fails the invoke, and with it the whole program.
                raise ValueError(f"ResourceNotFoundException: No cluster found for name: {name}.")
            return {"id": name, "name": name, "version": self.clusters[name], "status": "ACTIVE"}
        if token == "aws:lb/getHostedZoneId:getHostedZoneId":
            region = args.get("region") or REGION
            kind = args.get("loadBalancerType") or "application"
            zones = {"application": ALB_HOSTED_ZONE_IDS, "network": NLB_HOSTED_ZONE_IDS}[kind]
            return {"id": zones[region], "region": region, "loadBalancerType": kind}
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
            key: mark_secret(value) if key in referenced.secret_exports else value
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
