"""Compliant stacks for the stack rules, each wired as the platform's components wire it, and the one-change rows the
stack tables are written in.

A stack rule's table starts from one of these stacks (built afresh for each case) and each row changes one thing:
drops a resource, edits one path of one resource, adds one resource, or rewires one property. `stack_table` expands
a table into cases; the compliant stack passing every rule of its table comes for free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.policy.cases import aws_resources as a
from tests.policy.cases import kubernetes_resources as k
from tests.policy.cases.common import TAGS, doc
from tests.policy.support import Fake, Path, changed

Stack = list[Fake]


@dataclass(frozen=True)
class StackCase:
    """`rule` over the stack `build` makes: passes when `expect` is None, else reports every message in `expects`
    (each a substring of one message) and nothing else."""

    rule: str
    build: Callable[[], Stack]
    expect: str | None = None
    config: Mapping[str, Any] | None = None
    id: str = ""
    expects: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        outcome = "passes" if self.expect is None else "fails"
        return f"{self.rule}-{outcome}{'-' + self.id if self.id else ''}"


@dataclass(frozen=True)
class StackChange:
    """One row of a stack rule's table: a change to the compliant stack and the messages the rule then reports."""

    id: str
    apply: Callable[[Stack], Stack]
    expects: tuple[str, ...] = ()
    config: Mapping[str, Any] | None = field(default=None)

    def fails(self, *expects: str, id: str = "", config: Mapping[str, Any] | None = None) -> StackChange:
        assert expects, "a failing change names the message it must produce"
        return StackChange(id or self.id, self.apply, expects, config)

    def passes(self, *, id: str = "", config: Mapping[str, Any] | None = None) -> StackChange:
        return StackChange(id or self.id, self.apply, (), config)


def _named(stack: Stack, name: str) -> Fake:
    found = [f for f in stack if f.name == name]
    assert len(found) == 1, f"no single resource {name} in the stack"
    return found[0]


def drop(name: str) -> StackChange:
    """Remove one resource, and with it the references to it (what still names it, names it literally)."""

    def apply(stack: Stack) -> Stack:
        gone = _named(stack, name)
        kept = [f for f in stack if f is not gone]
        for f in kept:
            f.refs = {p: [t for t in targets if t is not gone] for p, targets in f.refs.items()}
            f.refs = {p: targets for p, targets in f.refs.items() if targets}
            f.depends = [t for t in f.depends if t is not gone]
        return kept

    return StackChange(f"without-{name}", apply)


def edit(name: str, path: Path, value: Any) -> StackChange:
    """Set (or, with DELETE, remove) one path of one resource's props."""
    last = path if isinstance(path, str) else path[-1]

    def apply(stack: Stack) -> Stack:
        fake = _named(stack, name)
        fake.props = changed(fake.props, {path: value})
        return stack

    return StackChange(f"{name}-{last.rsplit('/', 1)[-1]}", apply)


def link(name: str, prop: str, *targets: str) -> StackChange:
    """Make one property of one resource depend on `targets` (none: a literal value, linked by name if at all)."""

    def apply(stack: Stack) -> Stack:
        fake = _named(stack, name)
        fake.refs = {**fake.refs, prop: [_named(stack, t) for t in targets]}
        if not targets:
            del fake.refs[prop]
        return stack

    return StackChange(f"{name}-{prop}-{'-'.join(targets) or 'literal'}", apply)


def add(type_: str, name: str, props: Mapping[str, Any], **refs: str) -> StackChange:
    """Add one resource, its properties depending on the named resources."""

    def apply(stack: Stack) -> Stack:
        return [*stack, Fake(type_, name, dict(props), {p: [_named(stack, t)] for p, t in refs.items()})]

    return StackChange(f"with-{name}", apply)


def depend(name: str, *targets: str) -> StackChange:
    """Make one resource wait for exactly `targets` (none: for nothing)."""

    def apply(stack: Stack) -> Stack:
        _named(stack, name).depends = [_named(stack, t) for t in targets]
        return stack

    return StackChange(f"{name}-depends-on-{'-'.join(targets) or 'nothing'}", apply)


def variant(id: str, apply: Callable[[Stack], Stack]) -> StackChange:
    """A change that is not one of the above (a passing variant: the same wiring written another way)."""
    return StackChange(id, apply)


def stack_table(
    build: Callable[[], Stack], rules: Mapping[str, Sequence[StackChange]], *, id: str = ""
) -> list[StackCase]:
    """The cases of one compliant stack's table: for each rule, the stack passing, then each row. A rule with a
    table on a second compliant stack names it with `id` (its cases' labels then start with it)."""
    found: list[StackCase] = []
    for rule, rows in rules.items():
        found.append(StackCase(rule, build, id=id))
        for row in rows:

            def case_build(row: StackChange = row) -> Stack:
                return row.apply(build())

            expect = row.expects[0] if row.expects else None
            label = f"{id}-{row.id}" if id else row.id
            found.append(StackCase(rule, case_build, expect, row.config, label, row.expects))
    return found


# ------------------------------------------------------------------------------------------------- S3


def buckets() -> Stack:
    """The artifact bucket and its access-log bucket, each with every companion, as infra/storage.py wires them."""
    fakes: Stack = []
    artifacts = Fake(a.BUCKET_T, "artifacts", {"bucket": "mlp-prod-artifacts-1a2b3c4", "tags": TAGS})
    logs = Fake(a.BUCKET_T, "access-logs", {"bucket": "mlp-prod-access-logs-9f8e7d6", "tags": TAGS})
    # Server access logs can be delivered only into SSE-S3 buckets: the log bucket is AES256.
    for bucket, sse in ((artifacts, "aws:kms"), (logs, "AES256")):
        name, ref, own = bucket.name, {"bucket": [bucket]}, {"bucket": bucket.props["bucket"]}
        sse_props = changed(a.SSE, {**own, "rules.0.applyServerSideEncryptionByDefault": {"sseAlgorithm": sse}})
        fakes += [
            bucket,
            Fake(a.PAB_T, f"{name}-public-access", changed(a.PAB, own), ref),
            Fake(a.SSE_T, f"{name}-encryption", sse_props, ref),
            Fake(a.VERSIONING_T, f"{name}-versioning", changed(a.VERSIONING, own), ref),
            Fake(a.OWNERSHIP_T, f"{name}-ownership", changed(a.OWNERSHIP, own), ref),
            Fake(a.LIFECYCLE_T, f"{name}-lifecycle", changed(a.LIFECYCLE, own), ref),
            Fake(a.BUCKET_POLICY_T, f"{name}-policy", changed(a.BUCKET_POLICY, own), ref),
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


def _linked_by_name(stack: Stack) -> Stack:
    """Companions that name the bucket literally (no property dependency) still count."""
    for f in stack:
        f.refs = {}
    return stack


LINKED_BY_NAME = variant("linked-by-name", _linked_by_name)

# ----------------------------------------------------------------------------------------- networking


def data_stores() -> Stack:
    """Redis and RDS behind their own security groups, each admitting the node security group from a rule resource
    (infra/cache.py, infra/database.py), and the ALB's group that must not reach them."""
    cluster = Fake(a.CLUSTER_T, "eks", a.CLUSTER)
    node_sg = Fake(a.SG_T, "node-sg", {"vpcId": "vpc-1", "description": "nodes", "tags": TAGS})
    alb_sg = Fake(a.SG_T, "alb-sg", {"vpcId": "vpc-1", "description": "alb", "tags": TAGS})
    template = Fake(a.LAUNCH_TEMPLATE_T, "nodes-lt", a.LAUNCH_TEMPLATE, {"vpcSecurityGroupIds": [cluster, node_sg]})
    fakes = [cluster, node_sg, alb_sg, template]
    for kind, store_type, props, sg_prop, port in (
        ("redis", a.REDIS_T, a.REDIS, "securityGroupIds", 6379),
        ("db", a.RDS_T, a.RDS, "vpcSecurityGroupIds", 5432),
    ):
        sg = Fake(a.SG_T, f"{kind}-sg", {"vpcId": "vpc-1", "description": kind, "tags": TAGS})
        rule_props = changed(a.INGRESS_RULE, {"fromPort": port, "toPort": port})
        refs = {"securityGroupId": [sg], "referencedSecurityGroupId": [node_sg]}
        fakes += [
            sg,
            Fake(a.INGRESS_RULE_T, f"{kind}-from-nodes", rule_props, refs),
            Fake(store_type, kind, props, {sg_prop: [sg]}),
        ]
    return fakes


def data_stores_inline() -> Stack:
    """The same stores, Redis's group admitting the node security group through an inline rule instead of a rule
    resource (what a program writing `ingress=[...]` on the group registers)."""
    stack = drop("redis-from-nodes").apply(data_stores())
    group = _named(stack, "redis-sg")
    rule = {"protocol": "tcp", "fromPort": 6379, "toPort": 6379, "securityGroups": ["sg-0node00000000000"]}
    group.props = {**group.props, "ingress": [rule]}
    group.refs = {**group.refs, "ingress": [_named(stack, "node-sg")]}
    return stack


def rds_params() -> Stack:
    params = Fake(a.PARAMS_T, "db-params", {**a.PARAMS, "name": "mlp-prod-db-params"})
    return [params, Fake(a.RDS_T, "db", a.RDS, {"parameterGroupName": [params]})]


def vpc() -> Stack:
    v = Fake("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.30.0.0/16", "tags": TAGS})
    return [
        v,
        Fake(a.FLOW_LOG_T, "flow-log", a.FLOW_LOG, {"vpcId": [v]}),
        Fake(a.DEFAULT_SG_T, "default-sg", {"ingress": [], "egress": [], "tags": TAGS}, {"vpcId": [v]}),
    ]


def eks_logs() -> Stack:
    """The control-plane log group, created before the cluster (infra/cluster.py)."""
    group = Fake(a.LOG_GROUP_T, "control-plane-logs", a.LOG_GROUP)
    return [group, Fake(a.CLUSTER_T, "eks", a.CLUSTER, depends=[group])]


def node_network() -> Stack:
    """Public and private subnets routed as infra/network.py routes them, and a node group in the private one."""
    igw = Fake("aws:ec2/internetGateway:InternetGateway", "igw", {"tags": TAGS})
    nat = Fake("aws:ec2/natGateway:NatGateway", "nat", {"tags": TAGS})
    public = Fake(a.SUBNET_T, "public-0", a.SUBNET)
    private = Fake(a.SUBNET_T, "private-0", a.SUBNET)
    public_rt = Fake("aws:ec2/routeTable:RouteTable", "public-rt", {"tags": TAGS})
    private_rt = Fake("aws:ec2/routeTable:RouteTable", "private-rt", {"tags": TAGS})
    route = "aws:ec2/route:Route"
    association = "aws:ec2/routeTableAssociation:RouteTableAssociation"
    return [
        igw,
        nat,
        public,
        private,
        public_rt,
        private_rt,
        Fake(a.NODE_GROUP_T, "nodes", a.NODE_GROUP, {"subnetIds": [private]}),
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


NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")


def node_role() -> Stack:
    """The node role with the three managed policies a node needs, attached one resource each."""
    trust = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    role = Fake(a.ROLE_T, "node-role", changed(a.ROLE, {"assumeRolePolicy": trust}))
    fakes = [role, Fake(a.NODE_GROUP_T, "nodes", a.NODE_GROUP, {"nodeRoleArn": [role]})]
    fakes += [
        Fake(
            a.ATTACHMENT_T,
            f"node-{p}",
            {"role": "mlp-prod-node-role", "policyArn": f"arn:aws:iam::aws:policy/{p}"},
            {"role": [role]},
        )
        for p in NODE_POLICIES
    ]
    return fakes


def registry() -> Stack:
    repo = Fake(a.ECR_T, "inference", a.ECR)
    lifecycle = Fake(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "inference-lifecycle",
        {"repository": "mlp-prod/inference", "policy": "{}"},
        {"repository": [repo]},
    )
    return [repo, lifecycle]


# ------------------------------------------------------------------------------------------ Kubernetes

DEFAULT_DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "inference"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


def workloads() -> Stack:
    """The inference namespace as infra/inference.py lays it out."""
    return [
        Fake(k.NAMESPACE_T, "namespace", k.NAMESPACE),
        Fake(k.DEPLOYMENT_T, "deployment", k.DEPLOYMENT),
        Fake(k.PDB_T, "pdb", k.PDB),
        Fake(k.HPA_T, "hpa", k.HPA),
        Fake(k.NETPOL_T, "default-deny", DEFAULT_DENY),
        Fake(k.NETPOL_T, "allow", k.NETPOL),
        Fake(k.INGRESS_T, "ingress", k.INGRESS),
    ]


def _live_deployment_under_hpa(stack: Stack) -> Stack:
    """A Deployment that exists: its outputs are the live object (replicas filled in by the HPA) with the
    program's inputs under __inputs, as pulumi-kubernetes checkpoints it."""
    deployment = _named(stack, "deployment")
    deployment.props = {
        **changed(k.DEPLOYMENT, {"spec.replicas": 4, "status": {"replicas": 4}}),
        "__inputs": k.DEPLOYMENT,
    }
    return stack


def _replicas_ignored(stack: Stack) -> Stack:
    """A Deployment that declares replicas but ignores changes to them (the HPA's value then stands)."""
    deployment = _named(stack, "deployment")
    deployment.props = changed(deployment.props, {"spec.replicas": 3})
    deployment.ignore_changes = ["spec.replicas"]
    return stack


LIVE_DEPLOYMENT_UNDER_HPA = variant("live-replicas-from-hpa", _live_deployment_under_hpa)
REPLICAS_IGNORED = variant("replicas-ignored", _replicas_ignored)
OTHER_LABELS = {"app.kubernetes.io/name": "mlflow"}
