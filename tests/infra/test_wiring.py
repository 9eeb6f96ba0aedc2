"""The stack as a whole: what each stack registers, how components depend on each other (data stores in parallel
with EKS, Kubernetes only after nodes), exposure, tagging, exports without leaked secrets, and bring-your-own VPC."""

from __future__ import annotations

import importlib
import inspect
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.infra.harness import UNTAGGABLE, Recording, Resource, run_stack

COMPONENTS = ("Network", "Cluster", "Addons", "Cache", "Database", "ArtifactStore", "Registry", "Images")
# The workload layer's components; the stacks with trainingJob.enabled also have a TrainingJob.
WORKLOAD_COMPONENTS = ("Namespaces", "Mlflow", "Inference", "Certificates", "Dns")
TRAINING_STACKS = {"dev", "staging"}
# Stacks with preview.hosting: they keep Secrets Manager copies for their previews.
HOSTING_STACKS = {"dev"}


def components(stack: str) -> tuple[str, ...]:
    return (
        COMPONENTS
        + WORKLOAD_COMPONENTS
        + (("TrainingJob",) if stack in TRAINING_STACKS else ())
        + (("SharedSecrets",) if stack in HOSTING_STACKS else ())
    )


NETWORK_SHAPE = {"dev": (2, 1), "staging": (3, 3), "prod": (3, 3)}  # stack: (AZs, NAT gateways)
OPEN = {"0.0.0.0/0", "::/0"}


def inventory(stack: str) -> Counter[str]:
    """Every resource type each stack registers, and how many."""
    azs, nats = NETWORK_SHAPE[stack]
    counts = {
        # network
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 1,
        "aws:ec2/internetGateway:InternetGateway": 1,
        # Public, private, data and internal-ALB subnets, one of each per zone.
        "aws:ec2/subnet:Subnet": 4 * azs,
        # The public one, one per private subnet (its NAT), and the data and internal-ALB subnets' (no route out).
        "aws:ec2/routeTable:RouteTable": 2 + azs,
        "aws:ec2/route:Route": 1 + azs,
        "aws:ec2/routeTableAssociation:RouteTableAssociation": 4 * azs,
        "aws:ec2/eip:Eip": nats,
        "aws:ec2/natGateway:NatGateway": nats,
        "aws:ec2/flowLog:FlowLog": 1,
        # cluster + add-ons
        "aws:eks/cluster:Cluster": 1,
        # one node group per AZ
        "aws:eks/nodeGroup:NodeGroup": azs,
        "aws:eks/addon:Addon": 3,
        # the deployer's access entry and its cluster-admin association
        "aws:eks/accessEntry:AccessEntry": 1,
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": 1,
        "aws:ec2/launchTemplate:LaunchTemplate": 1,
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1,
        "aws:kms/alias:Alias": 1,
        # cluster, nodes (worker, CNI, ECR), RDS enhanced monitoring
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 5,
        "pulumi:providers:kubernetes": 1,
        "kubernetes:helm.sh/v3:Release": 3,
        # roles: flow logs, EKS cluster, nodes, LB controller, cluster autoscaler, RDS enhanced monitoring
        "aws:iam/role:Role": 6,
        "aws:iam/rolePolicy:RolePolicy": 4,
        # flow logs, control plane, Redis slow log, RDS postgresql + upgrade logs
        "aws:cloudwatch/logGroup:LogGroup": 5,
        # EKS secrets, Redis, RDS, artifacts; and one per component's log groups (network, cluster, Redis, RDS)
        "aws:kms/key:Key": 8,
        # nodes, Redis, RDS, deploy runners
        "aws:ec2/securityGroup:SecurityGroup": 4,
        # Redis and RDS from the nodes; the EKS API from the deploy runners (and their HTTPS out)
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 3,
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 1,
        # cache
        "aws:elasticache/replicationGroup:ReplicationGroup": 1,
        "aws:elasticache/subnetGroup:SubnetGroup": 1,
        "aws:elasticache/parameterGroup:ParameterGroup": 1,
        # The Redis AUTH token; the database's password is RDS's (manage_master_user_password), none here.
        "random:index/randomPassword:RandomPassword": 1,
        # database
        "aws:rds/instance:Instance": 1,
        # Taken before the MLflow schema migration of the running image (infra/mlflow_schema.py).
        "aws:rds/snapshot:Snapshot": 1,
        "aws:rds/subnetGroup:SubnetGroup": 1,
        "aws:rds/parameterGroup:ParameterGroup": 1,
        # the suffix of the final snapshot's name
        "random:index/randomId:RandomId": 1,
        # artifacts + access logs
        "aws:s3/bucket:Bucket": 2,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 2,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 2,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 2,
        "aws:s3/bucketVersioning:BucketVersioning": 2,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 2,
        "aws:s3/bucketPolicy:BucketPolicy": 2,
        "aws:s3/bucketLogging:BucketLogging": 1,
        # registry
        "aws:ecr/repository:Repository": 3,
        "aws:ecr/lifecyclePolicy:LifecyclePolicy": 3,
        # inference and MLflow, built and pushed by `up` (infra/images.py); the training image below
        "docker-build:index:Image": 2,
    }
    counts.update({f"platform:index:{c}": 1 for c in components(stack)})
    # workload layer (infra/workloads.py)
    training = stack in TRAINING_STACKS
    counts.update(
        {
            "kubernetes:core/v1:Namespace": 3 if training else 2,
            # default deny + DNS per namespace, then each flow's ingress and/or egress half (the schema migration
            # Job's egress to the database and, for its password, to Secrets Manager and STS included)
            "kubernetes:networking.k8s.io/v1:NetworkPolicy": 18 if training else 14,
            # MLflow, inference, the user-bootstrap Job, the schema migration Job, and the training run's own account
            "kubernetes:core/v1:ServiceAccount": 5 if training else 4,
            "kubernetes:core/v1:Service": 2,
            "kubernetes:apps/v1:Deployment": 2,
            "kubernetes:policy/v1:PodDisruptionBudget": 2,
            "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,
            "kubernetes:networking.k8s.io/v1:Ingress": 1,
            "kubernetes:core/v1:ConfigMap": 1,
            # MLflow server, admin and users; inference credentials; the training run's MLflow credentials
            "kubernetes:core/v1:Secret": 5 if training else 4,
            # MLflow's schema migration and user bootstrap, the inference image check, and dev's one-off training
            # run, its seed (staging trains on a schedule)
            "kubernetes:batch/v1:Job": 4 if stack == "dev" else 3,
        }
    )
    if stack == "staging":
        counts["kubernetes:batch/v1:CronJob"] = 1
    # MLflow admin, its Flask secret key, one password per MLflow user (inference, trainer), the cache signing key
    counts["random:index/randomPassword:RandomPassword"] += 5 if training else 4
    counts["docker-build:index:Image"] += 1 if training else 0
    # MLflow's IRSA role and the migration Job's (the database secret only), each with its inline policy
    counts["aws:iam/role:Role"] += 2
    counts["aws:iam/rolePolicy:RolePolicy"] += 2
    # ingress.host's certificate (and, on a hosting stack, the previews' wildcard), each with its validation
    # record; the host's alias to the ALB.
    certificates = 2 if stack in HOSTING_STACKS else 1
    counts["aws:acm/certificate:Certificate"] = certificates
    counts["aws:acm/certificateValidation:CertificateValidation"] = certificates
    counts["aws:route53/record:Record"] = certificates + 1
    if stack in HOSTING_STACKS:
        # The Redis AUTH token and the inference service's MLflow credentials, under a key of their own; MLflow
        # admits the previews' inference pods.
        counts["aws:kms/key:Key"] += 1
        counts["aws:secretsmanager/secret:Secret"] = 2
        counts["aws:secretsmanager/secretVersion:SecretVersion"] = 2
        counts["kubernetes:networking.k8s.io/v1:NetworkPolicy"] += 1
    return Counter(counts)


def test_each_stack_registers_exactly_its_inventory(recording: Recording) -> None:
    assert Counter(r.type for r in recording.resources) == inventory(recording.stack)


def test_each_stack_runs_under_mocks_in_under_five_seconds(recording: Recording) -> None:
    # Guards against the program blocking on a network call or doing per-resource work that grows badly.
    assert recording.seconds < 5


def test_no_security_group_admits_the_internet(recording: Recording) -> None:
    for sg in recording.of_type(
        "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
    ):
        for rule in sg.inputs.get("ingress") or []:
            assert not OPEN & set(rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", [])), sg.name
    for rule in recording.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert rule.inputs.get("cidrIpv4") not in OPEN and rule.inputs.get("cidrIpv6") not in OPEN
    assert not recording.find("aws:ec2/securityGroupRule:SecurityGroupRule")


def test_every_ingress_rule_admits_one_port_from_one_security_group(recording: Recording) -> None:
    """Redis and RDS admit the nodes; the EKS API (the cluster security group) admits the deploy runners."""
    node_sg = recording.one("aws:ec2/securityGroup:SecurityGroup", f"mlp-{recording.stack}-node-sg")
    runner_sg = recording.one("aws:ec2/securityGroup:SecurityGroup", f"mlp-{recording.stack}-deploy-runner")
    cluster_sg = recording.one("aws:eks/cluster:Cluster").outputs["vpcConfig"]["clusterSecurityGroupId"]
    rules = recording.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    sources = {
        r.inputs["fromPort"]: (r.inputs["referencedSecurityGroupId"], r.inputs["securityGroupId"]) for r in rules
    }
    assert sorted(sources) == [443, 5432, 6379]
    assert sources[443] == (runner_sg.id, cluster_sg)
    assert sources[5432][0] == sources[6379][0] == node_sg.id
    for rule in rules:
        assert rule.inputs["fromPort"] == rule.inputs["toPort"]
        assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs


def test_every_taggable_resource_is_tagged(recording: Recording) -> None:
    for r in recording.resources:
        if r.type.startswith("aws:") and r.type not in UNTAGGABLE:
            tags = r.inputs.get("tags") or {}
            assert {"Project", "Environment", "ManagedBy"} <= set(tags), f"{r.type} {r.name}"
            assert tags["Environment"] == recording.stack
            assert tags["Name"].startswith(f"mlp-{recording.stack}-"), r.name


@pytest.mark.parametrize("type_token", sorted(UNTAGGABLE))
def test_tag_exemptions_are_resources_that_take_no_tags(type_token: str) -> None:
    module, _, cls = type_token.removeprefix("aws:").partition(":")
    resource_class = getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), cls)
    assert "tags" not in inspect.signature(resource_class._internal_init).parameters


def test_components_own_their_resources_under_their_name(recording: Recording) -> None:
    owned: set[str] = set()
    for component in components(recording.stack):
        owner = recording.one(f"platform:index:{component}")
        assert owner.name == f"mlp-{recording.stack}"
        assert owner.parent.endswith(f"pulumi:pulumi:Stack::platform-{recording.stack}")
        owned.update(r.urn for r in recording.descendants(owner))
        for r in recording.children(owner):
            assert r.name.startswith(f"{owner.name}-"), f"{component}: {r.name}"
    assert [r.name for r in recording.resources if r.custom and r.urn not in owned] == []


def data_stores(rec: Recording) -> list[Resource]:
    return [
        *rec.within("platform:index:Cache"),
        *rec.within("platform:index:Database"),
        *rec.within("platform:index:ArtifactStore"),
    ]


def test_data_stores_are_created_in_parallel_with_eks(recording: Recording) -> None:
    eks = recording.one("aws:eks/cluster:Cluster")
    groups = recording.find("aws:eks/nodeGroup:NodeGroup")
    stores = data_stores(recording)
    assert {r.type for r in stores} >= {
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:rds/instance:Instance",
        "aws:s3/bucket:Bucket",
    }
    for r in stores:
        assert not recording.depends_on(r, eks), f"{r.name} waits for the EKS cluster"
        assert not any(recording.depends_on(r, group) for group in groups), f"{r.name} waits for a node group"
    # ...while admitting only the nodes: their ingress rules take the node security group, built from the VPC.
    node_sg = recording.one("aws:ec2/securityGroup:SecurityGroup", f"mlp-{recording.stack}-node-sg")
    rules = [r for r in stores if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"]
    assert len(rules) == 2 and all(recording.depends_on(rule, node_sg) for rule in rules)
    assert not recording.depends_on(node_sg, eks)


def test_kubernetes_waits_for_the_node_groups(recording: Recording) -> None:
    groups = recording.find("aws:eks/nodeGroup:NodeGroup")
    provider = recording.one("pulumi:providers:kubernetes")
    assert groups and all(recording.depends_on(provider, group) for group in groups)
    for release in recording.find("kubernetes:helm.sh/v3:Release"):
        assert all(recording.depends_on(release, group) for group in groups), release.name


def test_exports_name_what_operators_and_the_workload_layer_need(recording: Recording) -> None:
    exports = recording.exports
    eks = recording.one("aws:eks/cluster:Cluster")
    oidc = recording.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert exports["clusterName"] == eks.inputs["name"] == f"mlp-{recording.stack}"
    assert exports["oidcProviderArn"] == oidc.outputs["arn"]
    assert exports["oidcIssuerUrl"] == oidc.inputs["url"]
    assert exports["vpcId"].startswith("vpc-")
    assert set(exports) >= {
        "kubeconfig",
        "redisEndpoint",
        "redisPort",
        "rdsEndpoint",
        "artifactBucket",
        "ecrRepositoryUrls",
        "publicSubnetIds",
        "privateSubnetIds",
    }


def test_no_secret_leaves_the_stack_in_plain_text(recording: Recording) -> None:
    assert recording.secret_exports == {"kubeconfig"}
    plain_exports = json.dumps({k: v for k, v in recording.exports.items() if k not in recording.secret_exports})
    for password in recording.find("random:index/randomPassword:RandomPassword"):
        assert password.outputs["result"] not in plain_exports
        assert password.outputs["result"] not in recording.exports["kubeconfig"]
    for r in recording.resources:
        for key in ("authToken", "password", "kubeconfig"):
            if key in r.inputs:
                assert r.is_secret(key), f"{r.name}.{key} reached the engine in plain text"


def test_bring_your_own_vpc_builds_the_platform_into_it() -> None:
    private = ["subnet-0b000001", "subnet-0b000002"]
    byo = run_stack(
        "prod",
        {
            "platform:network.vpcId": "vpc-0123456789abcdef0",
            "platform:network.publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
            "platform:network.privateSubnetIds": private,
            "platform:network.dataSubnetIds": ["subnet-0c000001", "subnet-0c000002"],
            "platform:network.internalAlbSubnetIds": ["subnet-0d000001", "subnet-0d000002"],
        },
    )
    assert not byo.find("platform:index:Network") and not byo.find("aws:ec2/vpc:Vpc")
    assert byo.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]["subnetIds"] == private
    # One node group per brought private subnet (one subnet per AZ).
    assert [g.inputs["subnetIds"] for g in byo.find("aws:eks/nodeGroup:NodeGroup")] == [[s] for s in private]
    data = ["subnet-0c000001", "subnet-0c000002"]
    assert byo.one("aws:elasticache/subnetGroup:SubnetGroup").inputs["subnetIds"] == data
    assert byo.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"] == data
    assert {sg.inputs["vpcId"] for sg in byo.find("aws:ec2/securityGroup:SecurityGroup")} == {"vpc-0123456789abcdef0"}
    values = {r.inputs["name"]: r.inputs["values"] for r in byo.find("kubernetes:helm.sh/v3:Release")}
    assert values["aws-load-balancer-controller"]["vpcId"] == "vpc-0123456789abcdef0"


WORKLOAD_PROGRAM = """
import json

import pulumi
import pulumi_kubernetes as k8s

from infra.config import load_config
from infra.identity import irsa_role
from infra.stack import build

platform = build(load_config())
assert isinstance(platform.cluster.provider, k8s.Provider)
artifacts = platform.artifacts
role = irsa_role(
    "mlp-dev-mlflow",
    namespace="mlflow",
    service_account="mlflow",
    cluster=platform.cluster,
    policy=pulumi.Output.all(artifacts.bucket_arn, artifacts.kms_key_arn).apply(
        lambda a: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{a[0]}/mlflow/*"},
                    {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": a[1]},
                ],
            }
        )
    ),
    tags=platform.config.tags(),
)
pulumi.export(
    "contract",
    {
        "cluster": [
            platform.cluster.cluster_name,
            platform.cluster.oidc_provider_arn,
            platform.cluster.oidc_issuer,
            platform.cluster.version,
            len(platform.cluster.node_groups),
            platform.cluster.cluster_security_group_id,
            platform.cluster.node_security_group_id,
        ],
        "cache": [platform.cache.primary_endpoint, platform.cache.port],
        "database": [
            platform.database.address,
            platform.database.port,
            platform.database.db_name,
            platform.database.username,
            platform.database.secret_arn,
        ],
        "artifacts": [
            artifacts.bucket_name,
            artifacts.bucket_arn,
            artifacts.kms_key_arn,
            artifacts.access_log_bucket_name,
        ],
        "registry": platform.registry.repository_urls,
        "role": role.arn,
    },
)
pulumi.export("redisAuthToken", platform.cache.auth_token)
pulumi.export("kubeconfig", platform.cluster.kubeconfig)
"""


def test_the_workload_layer_gets_what_it_codes_against(tmp_path: Path) -> None:
    """The attributes infra/stack.Platform promises the MLflow and inference components, used as they will be."""
    program = tmp_path / "__main__.py"
    program.write_text(WORKLOAD_PROGRAM)
    rec = run_stack("dev", program=program)
    contract = rec.exports["contract"]
    name, oidc_arn, issuer, version, node_groups, cluster_sg, node_sg = contract["cluster"]
    # One node group per AZ (dev has two).
    assert name == "mlp-dev" and version == "1.36" and node_groups == 2
    assert oidc_arn == rec.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").outputs["arn"]
    assert not issuer.startswith("https://") and oidc_arn.endswith(f":oidc-provider/{issuer}")
    assert cluster_sg.startswith("sg-") and node_sg.startswith("sg-") and cluster_sg != node_sg
    assert contract["cache"] == [
        rec.one("aws:elasticache/replicationGroup:ReplicationGroup").outputs["primaryEndpointAddress"],
        6379,
    ]
    assert contract["database"][1:4] == [5432, "mlflow", "mlflow"]
    # The password is RDS's, in this secret; the program never holds it (tests/infra/test_database_secret.py).
    assert contract["database"][4] == rec.one("aws:rds/instance:Instance").outputs["masterUserSecrets"][0]["secretArn"]
    bucket = [b for b in rec.find("aws:s3/bucket:Bucket") if b.name.endswith("-artifacts")][0]
    assert contract["artifacts"][:2] == [bucket.outputs["bucket"], bucket.outputs["arn"]]
    assert set(contract["registry"]) == {"inference", "mlflow", "training"}
    assert rec.secret_exports == {"redisAuthToken", "kubeconfig"}
    role = rec.one("aws:iam/role:Role", "mlp-dev-mlflow")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert trust == {f"{issuer}:sub": "system:serviceaccount:mlflow:mlflow", f"{issuer}:aud": "sts.amazonaws.com"}
    (policy,) = [p for p in rec.find("aws:iam/rolePolicy:RolePolicy") if p.parent == role.urn]
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Resource"] == f"{contract['artifacts'][1]}/mlflow/*"
