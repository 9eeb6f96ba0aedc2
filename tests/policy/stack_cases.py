"""Hand-built stacks for the stack policies: the platform's wiring, then the one broken link each rule guards."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.policy import cases as c
from tests.policy.support import DELETE, Fake, changed


@dataclass(frozen=True)
class StackCase:
    rule: str
    build: Callable[[], list[Fake]]
    expect: str | None = None
    config: Mapping[str, Any] | None = None
    id: str = ""

    @property
    def label(self) -> str:
        outcome = "passes" if self.expect is None else "fails"
        return f"{self.rule}-{outcome}{'-' + self.id if self.id else ''}"


def without(fakes: list[Fake], *names: str) -> list[Fake]:
    return [f for f in fakes if f.name not in names]


# ------------------------------------------------------------------------------------------------- S3


def buckets(artifact_sse: str = "aws:kms", log_sse: str = "AES256") -> list[Fake]:
    """The artifact bucket and its access-log bucket, each with every companion, as infra/storage.py wires them."""
    fakes: list[Fake] = []
    artifacts = Fake(c.BUCKET_T, "artifacts", {"bucket": "mlp-prod-artifacts-1a2b3c4", "tags": c.TAGS})
    logs = Fake(c.BUCKET_T, "access-logs", {"bucket": "mlp-prod-access-logs-9f8e7d6", "tags": c.TAGS})
    for bucket, sse in ((artifacts, artifact_sse), (logs, log_sse)):
        name, ref, own = bucket.name, {"bucket": [bucket]}, {"bucket": bucket.props["bucket"]}
        sse_props = changed(c.SSE, {**own, "rules.0.applyServerSideEncryptionByDefault": {"sseAlgorithm": sse}})
        fakes += [
            bucket,
            Fake(c.PAB_T, f"{name}-public-access", changed(c.PAB, own), ref),
            Fake(c.SSE_T, f"{name}-encryption", sse_props, ref),
            Fake(c.VERSIONING_T, f"{name}-versioning", changed(c.VERSIONING, own), ref),
            Fake(c.OWNERSHIP_T, f"{name}-ownership", changed(c.OWNERSHIP, own), ref),
            Fake(c.LIFECYCLE_T, f"{name}-lifecycle", changed(c.LIFECYCLE, own), ref),
            Fake(c.BUCKET_POLICY_T, f"{name}-policy", changed(c.BUCKET_POLICY, own), ref),
        ]
    fakes.append(
        Fake(
            "aws:s3/bucketLogging:BucketLogging",
            "artifacts-logging",
            {
                "bucket": "mlp-prod-artifacts-1a2b3c4",
                "targetBucket": "mlp-prod-access-logs-9f8e7d6",
                "targetPrefix": "artifacts/",
            },
            {"bucket": [artifacts], "targetBucket": [logs]},
        )
    )
    return fakes


def buckets_linked_by_name() -> list[Fake]:
    """Companions that name the bucket literally (no property dependency) still count."""
    fakes = buckets()
    for f in fakes:
        f.refs = {}
    return fakes


def _replace(fakes: list[Fake], name: str, props: dict[str, Any]) -> list[Fake]:
    for f in fakes:
        if f.name == name:
            f.props = props
    return fakes


# ----------------------------------------------------------------------------------------- networking


def data_stores(
    source: str = "node-sg", ports: tuple[int, int] | None = None, store_sg_literal: bool = False
) -> list[Fake]:
    """Redis and RDS behind their own security groups, each admitting the node security group (infra/cache.py,
    infra/database.py); `source` swaps what the ingress rules admit."""
    cluster = Fake(c.CLUSTER_T, "eks", c.CLUSTER)
    node_sg = Fake(c.SG_T, "node-sg", {"vpcId": "vpc-1", "description": "nodes", "tags": c.TAGS})
    alb_sg = Fake(c.SG_T, "alb-sg", {"vpcId": "vpc-1", "description": "alb", "tags": c.TAGS})
    template = Fake(c.LAUNCH_TEMPLATE_T, "nodes-lt", c.LAUNCH_TEMPLATE, {"vpcSecurityGroupIds": [cluster, node_sg]})
    fakes = [cluster, node_sg, alb_sg, template]
    for store_type, props, sg_prop, store_port in (
        (c.REDIS_T, c.REDIS, "securityGroupIds", 6379),
        (c.RDS_T, c.RDS, "vpcSecurityGroupIds", 5432),
    ):
        kind = "redis" if store_type == c.REDIS_T else "db"
        sg = Fake(c.SG_T, f"{kind}-sg", {"vpcId": "vpc-1", "description": kind, "tags": c.TAGS})
        low, high = ports or (store_port, store_port)
        rule_props = changed(c.INGRESS_RULE, {"fromPort": low, "toPort": high})
        refs: dict[str, list[Fake]] = {"securityGroupId": [sg]}
        if source == "node-sg":
            refs["referencedSecurityGroupId"] = [node_sg]
        elif source == "cluster-sg":
            refs["referencedSecurityGroupId"] = [cluster]
        elif source == "alb-sg":
            refs["referencedSecurityGroupId"] = [alb_sg]
        elif source == "cidr":
            rule_props = changed(rule_props, {"referencedSecurityGroupId": DELETE, "cidrIpv4": "10.30.0.0/16"})
        rule = Fake(c.INGRESS_RULE_T, f"{kind}-from-nodes", rule_props, refs)
        store = Fake(store_type, kind, props, {} if store_sg_literal else {sg_prop: [sg]})
        fakes += [sg, rule, store]
    return fakes


def inline_ingress() -> list[Fake]:
    """A data store security group with an inline CIDR rule instead of a rule resource."""
    fakes = data_stores()
    for f in fakes:
        if f.name == "redis-sg":
            f.props = {
                **f.props,
                "ingress": [{"protocol": "tcp", "fromPort": 6379, "toPort": 6379, "cidrBlocks": ["10.0.0.0/8"]}],
            }
    return without(fakes, "redis-from-nodes")


def rds_params(force_ssl: str = "1") -> list[Fake]:
    params = Fake(
        c.PARAMS_T,
        "db-params",
        changed(
            c.PARAMS, {"parameters": [{"name": "rds.force_ssl", "value": force_ssl}], "name": "mlp-prod-db-params"}
        ),
    )
    return [params, Fake(c.RDS_T, "db", c.RDS, {"parameterGroupName": [params]})]


def vpc() -> list[Fake]:
    v = Fake("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.30.0.0/16", "tags": c.TAGS})
    return [
        v,
        Fake(c.FLOW_LOG_T, "flow-log", c.FLOW_LOG, {"vpcId": [v]}),
        Fake(c.DEFAULT_SG_T, "default-sg", {"ingress": [], "egress": [], "tags": c.TAGS}, {"vpcId": [v]}),
    ]


def eks_logs(depends: bool = True, retention: int | None = 90, name: str = "/aws/eks/mlp-prod/cluster") -> list[Fake]:
    group = Fake(
        c.LOG_GROUP_T,
        "control-plane-logs",
        changed(c.LOG_GROUP, {"name": name, "retentionInDays": retention if retention else DELETE}),
    )
    cluster = Fake(c.CLUSTER_T, "eks", c.CLUSTER, depends=[group] if depends else [])
    return [group, cluster]


def node_network(in_public: bool = False) -> list[Fake]:
    """Public and private subnets routed as infra/network.py routes them, and a node group in one of them."""
    igw = Fake("aws:ec2/internetGateway:InternetGateway", "igw", {"tags": c.TAGS})
    nat = Fake("aws:ec2/natGateway:NatGateway", "nat", {"tags": c.TAGS})
    public = Fake(c.SUBNET_T, "public-0", c.SUBNET)
    private = Fake(c.SUBNET_T, "private-0", c.SUBNET)
    public_rt = Fake("aws:ec2/routeTable:RouteTable", "public-rt", {"tags": c.TAGS})
    private_rt = Fake("aws:ec2/routeTable:RouteTable", "private-rt", {"tags": c.TAGS})
    route = "aws:ec2/route:Route"
    association = "aws:ec2/routeTableAssociation:RouteTableAssociation"
    nodes = Fake(c.NODE_GROUP_T, "nodes", c.NODE_GROUP, {"subnetIds": [public if in_public else private]})
    return [
        igw,
        nat,
        public,
        private,
        public_rt,
        private_rt,
        nodes,
        Fake(
            route,
            "public-default",
            {"destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"},
            {"gatewayId": [igw], "routeTableId": [public_rt]},
        ),
        Fake(
            route,
            "private-default",
            {"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"},
            {"natGatewayId": [nat], "routeTableId": [private_rt]},
        ),
        Fake(association, "public-rta", {}, {"subnetId": [public], "routeTableId": [public_rt]}),
        Fake(association, "private-rta", {}, {"subnetId": [private], "routeTableId": [private_rt]}),
    ]


def node_role(extra_policy: str | None = None, inline: bool = False) -> list[Fake]:
    role = Fake(
        c.ROLE_T,
        "node-role",
        changed(
            c.ROLE,
            {
                "assumeRolePolicy": c.doc(
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                )
            },
        ),
    )
    policies = ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"]
    policies += [extra_policy] if extra_policy else []
    fakes = [role, Fake(c.NODE_GROUP_T, "nodes", c.NODE_GROUP, {"nodeRoleArn": [role]})]
    fakes += [
        Fake(
            c.ATTACHMENT_T,
            f"node-{p}",
            {"role": "mlp-prod-node-role", "policyArn": f"arn:aws:iam::aws:policy/{p}"},
            {"role": [role]},
        )
        for p in policies
    ]
    if inline:
        fakes.append(
            Fake(
                c.IAM_POLICY_T,
                "node-extra",
                {"role": "mlp-prod-node-role", "policy": c.doc(c.MLFLOW_S3)},
                {"role": [role]},
            )
        )
    return fakes


def registry(lifecycle: str = "dependency") -> list[Fake]:
    repo = Fake(c.ECR_T, "inference", c.ECR)
    fakes = [repo]
    if lifecycle != "none":
        refs = {"repository": [repo]} if lifecycle == "dependency" else {}
        fakes.append(
            Fake(
                "aws:ecr/lifecyclePolicy:LifecyclePolicy",
                "inference-lifecycle",
                {"repository": "mlp-prod/inference", "policy": "{}"},
                refs,
            )
        )
    return fakes


# ------------------------------------------------------------------------------------------ Kubernetes

DEFAULT_DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "inference"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


def workloads(deployment: dict[str, Any] | None = None, **overrides: Any) -> list[Fake]:
    """The inference namespace as infra/inference.py lays it out; keyword overrides replace one object's props
    (None drops it)."""
    objects: dict[str, tuple[str, dict[str, Any] | None]] = {
        "namespace": (c.NAMESPACE_T, c.NAMESPACE),
        "deployment": (c.DEPLOYMENT_T, deployment or c.DEPLOYMENT),
        "pdb": (c.PDB_T, c.PDB),
        "hpa": (c.HPA_T, c.HPA),
        "default_deny": (c.NETPOL_T, DEFAULT_DENY),
        "allow": (c.NETPOL_T, c.NETPOL),
        "ingress": (c.INGRESS_T, c.INGRESS),
    }
    fakes = []
    for name, (type_, props) in objects.items():
        props = overrides.get(name, props)
        if props is not None:
            fakes.append(Fake(type_, name.replace("_", "-"), props))
    return fakes


def live_deployment_under_hpa() -> list[Fake]:
    """A Deployment that exists: its outputs are the live object (replicas filled in by the HPA) with the
    program's inputs under __inputs, as pulumi-kubernetes checkpoints it."""
    live = changed(c.DEPLOYMENT, {"spec.replicas": 4, "status": {"replicas": 4}})
    live["__inputs"] = c.DEPLOYMENT
    return workloads(live)


def replicas_ignored() -> list[Fake]:
    """A Deployment that declares replicas but ignores changes to them (the HPA's value then stands)."""
    fakes = workloads(changed(c.DEPLOYMENT, {"spec.replicas": 3}))
    for f in fakes:
        if f.type == c.DEPLOYMENT_T:
            f.ignore_changes = ["spec.replicas"]
    return fakes


def _dropping(name: str) -> Callable[[], list[Fake]]:
    return lambda: without(buckets(), name)


OTHER_LABELS = {"app.kubernetes.io/name": "mlflow"}

STACK_CASES = [
    *[
        case
        for rule, companion in (
            ("aws-s3-bucket-enable-public-access-block", "public-access"),
            ("aws-s3-bucket-enable-versioning", "versioning"),
            ("aws-s3-bucket-enable-tls-only-policy", "policy"),
            ("aws-s3-bucket-configure-bucket-owner-enforced", "ownership"),
            ("aws-s3-bucket-configure-lifecycle", "lifecycle"),
            ("aws-s3-bucket-enable-sse-kms", "encryption"),
        )
        for case in (
            StackCase(rule, buckets),
            StackCase(rule, buckets_linked_by_name, id="linked-by-name"),
            StackCase(
                rule,
                _dropping(f"access-logs-{companion}"),
                "bucket access-logs has no",
            ),
        )
    ],
    StackCase(
        "aws-s3-bucket-enable-sse-kms",
        lambda: buckets(artifact_sse="AES256"),
        "bucket artifacts has no",
        id="artifacts-sse-s3",
    ),
    StackCase(
        "aws-s3-bucket-enable-versioning",
        lambda: _replace(
            buckets(), "artifacts-versioning", changed(c.VERSIONING, {"versioningConfiguration.status": "Suspended"})
        ),
        "bucket artifacts has no aws.s3.BucketVersioning with status Enabled",
        id="suspended",
    ),
    StackCase("aws-s3-bucket-enable-access-logging", buckets),
    StackCase(
        "aws-s3-bucket-enable-access-logging",
        lambda: without(buckets(), "artifacts-logging"),
        "bucket artifacts has no aws.s3.BucketLogging",
    ),
    StackCase("aws-elasticache-replicationgroup-configure-cluster-only-ingress", data_stores),
    StackCase(
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
        lambda: data_stores("cluster-sg"),
        id="cluster-sg",
    ),
    StackCase(
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
        lambda: data_stores("alb-sg"),
        "admits SecurityGroup alb-sg, not the cluster's",
    ),
    StackCase(
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
        lambda: data_stores("cidr"),
        "admits CIDR ranges ['10.30.0.0/16']",
        id="cidr",
    ),
    StackCase(
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
        lambda: data_stores(ports=(0, 65535)),
        "the data store listens on 6379 only",
        id="port-range",
    ),
    StackCase(
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
        inline_ingress,
        "security group redis-sg ingress[0] admits CIDR ranges",
        id="inline",
    ),
    StackCase(
        "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
        lambda: data_stores(store_sg_literal=True),
        "are not security groups of this stack",
        id="unknown-groups",
    ),
    StackCase("aws-rds-instance-configure-cluster-only-ingress", data_stores),
    StackCase(
        "aws-rds-instance-configure-cluster-only-ingress",
        lambda: data_stores("cidr"),
        "db: rule db-from-nodes admits CIDR ranges",
    ),
    StackCase("aws-rds-instance-enable-force-ssl-parameter-group", rds_params),
    StackCase("aws-rds-instance-enable-force-ssl-parameter-group", lambda: rds_params("0"), "rds.force_ssl = 1"),
    StackCase("aws-ec2-vpc-enable-flow-logs", vpc),
    StackCase("aws-ec2-vpc-enable-flow-logs", lambda: without(vpc(), "flow-log"), "VPC vpc has no aws.ec2.FlowLog"),
    StackCase("aws-ec2-vpc-configure-closed-default-security-group", vpc),
    StackCase(
        "aws-ec2-vpc-configure-closed-default-security-group",
        lambda: without(vpc(), "default-sg"),
        "has no aws.ec2.DefaultSecurityGroup",
    ),
    StackCase("aws-eks-cluster-configure-log-group-retention", eks_logs),
    StackCase(
        "aws-eks-cluster-configure-log-group-retention", lambda: eks_logs(depends=False), "must depend on log group"
    ),
    StackCase(
        "aws-eks-cluster-configure-log-group-retention",
        lambda: eks_logs(name="/aws/eks/other/cluster"),
        "no log group /aws/eks/mlp-prod/cluster",
        id="missing",
    ),
    StackCase(
        "aws-eks-cluster-configure-log-group-retention",
        lambda: eks_logs(retention=None),
        "must set retentionInDays",
        id="no-retention",
    ),
    StackCase("aws-eks-nodegroup-disallow-public-subnets", node_network),
    StackCase(
        "aws-eks-nodegroup-disallow-public-subnets",
        lambda: node_network(in_public=True),
        "runs in public subnet public-0",
    ),
    StackCase("aws-iam-role-configure-node-role-least-privilege", node_role),
    StackCase(
        "aws-iam-role-configure-node-role-least-privilege",
        lambda: node_role("AmazonS3FullAccess"),
        "holds arn:aws:iam::aws:policy/AmazonS3FullAccess",
    ),
    StackCase(
        "aws-iam-role-configure-node-role-least-privilege",
        lambda: node_role(inline=True),
        "has inline policies",
        id="inline",
    ),
    StackCase("aws-ecr-repository-configure-lifecycle-policy", registry),
    StackCase("aws-ecr-repository-configure-lifecycle-policy", lambda: registry("name"), id="linked-by-name"),
    StackCase(
        "aws-ecr-repository-configure-lifecycle-policy", lambda: registry("none"), "has no aws.ecr.LifecyclePolicy"
    ),
    StackCase("kubernetes-apps-deployment-configure-pdb", workloads),
    StackCase(
        "kubernetes-apps-deployment-configure-pdb",
        lambda: workloads(pdb=None),
        "deployment (inference) has no PodDisruptionBudget",
    ),
    StackCase(
        "kubernetes-apps-deployment-configure-pdb",
        lambda: workloads(pdb=changed(c.PDB, {"spec.selector.matchLabels": OTHER_LABELS})),
        "has no PodDisruptionBudget selecting its pods",
        id="selects-other-pods",
    ),
    StackCase("kubernetes-networking-namespace-configure-default-deny", workloads),
    StackCase(
        "kubernetes-networking-namespace-configure-default-deny",
        lambda: workloads(default_deny=None),
        "namespace inference has no default-deny NetworkPolicy",
    ),
    StackCase(
        "kubernetes-networking-namespace-configure-default-deny",
        lambda: workloads(default_deny=changed(DEFAULT_DENY, {"spec.policyTypes": ["Ingress"]})),
        "has no default-deny",
        id="ingress-only",
    ),
    StackCase("kubernetes-apps-deployment-configure-network-policy", workloads),
    StackCase(
        "kubernetes-apps-deployment-configure-network-policy",
        lambda: workloads(allow=changed(c.NETPOL, {"spec.podSelector.matchLabels": OTHER_LABELS})),
        "is selected by no NetworkPolicy allowing its flows",
    ),
    StackCase("kubernetes-apps-deployment-disallow-replicas-under-hpa", workloads),
    StackCase(
        "kubernetes-apps-deployment-disallow-replicas-under-hpa", live_deployment_under_hpa, id="live-replicas-from-hpa"
    ),
    StackCase(
        "kubernetes-apps-deployment-disallow-replicas-under-hpa",
        lambda: workloads(changed(c.DEPLOYMENT, {"spec.replicas": 3})),
        "deployment sets spec.replicas under HPA hpa",
    ),
    StackCase(
        "kubernetes-apps-deployment-disallow-replicas-under-hpa",
        replicas_ignored,
        id="replicas-ignored",
    ),
    StackCase(
        "kubernetes-apps-deployment-disallow-replicas-under-hpa",
        lambda: workloads(hpa=changed(c.HPA, {"spec.scaleTargetRef.name": "inference-v2"})),
        "targets Deployment inference/inference-v2, which this stack does not create",
        id="dangling",
    ),
    StackCase("kubernetes-core-namespace-enable-pod-readiness-gate", workloads),
    StackCase(
        "kubernetes-core-namespace-enable-pod-readiness-gate",
        lambda: workloads(
            namespace=changed(c.NAMESPACE, {"metadata.labels": {"pod-security.kubernetes.io/enforce": "restricted"}})
        ),
        "must be labelled elbv2.k8s.aws/pod-readiness-gate-inject=enabled",
    ),
]
