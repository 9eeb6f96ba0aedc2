"""Stack policies: controls that span resources (a bucket and its companions, a data store and the security group
rules that admit clients, a Deployment and its PDB, NetworkPolicies and HPA).

They see every resource's outputs and follow the engine's property dependencies (which resource's output flows
into which property), so the links they check are the program's real wiring, not naming conventions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema, PolicyResource, StackValidationArgs

from . import aws_ec2, aws_ecr, aws_eks, aws_elasticache, aws_rds, aws_s3
from .aws_iam import ROLE
from .base import (
    AVAILABILITY,
    config,
    depends_on,
    get,
    is_true,
    items,
    json_document,
    number,
    of_type,
    referenced,
    references,
    stack_rule,
)
from .k8s import (
    DEPLOYMENT,
    HPA,
    INGRESS,
    LONG_RUNNING,
    NAMESPACE,
    NETWORK_POLICY,
    PDB,
    STATEFUL_SET,
    declared,
    name_of,
    namespace_of,
    pod_template,
    selector_matches,
)

Findings = Iterator[tuple[str, str | None]]

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEC2ContainerRegistryPullOnly",
)
READINESS_GATE = "elbv2.k8s.aws/pod-readiness-gate-inject"


def _linked(companion: PolicyResource, prop: str, target: PolicyResource, target_name_prop: str) -> bool:
    """Whether `companion.prop` is `target`: through a property dependency, else by the same physical name.

    Names are compared only when the property depends on no resource (a literal), so an output still unknown
    in preview is read only when it decides the link.
    """
    deps = companion.property_dependencies.get(prop)
    if deps:
        return any(d.urn == target.urn for d in deps)
    value = get(companion.props, prop)
    return value is not None and value == get(target.props, target_name_prop)


# ------------------------------------------------------------------------------------------------- S3


def _log_targets(resources: Sequence[PolicyResource], buckets: Sequence[PolicyResource]) -> set[str]:
    """URNs of the buckets that receive another bucket's server access logs."""
    targets = set()
    for logging in of_type(resources, *aws_s3.LOGGING):
        for bucket in buckets:
            if _linked(logging, "targetBucket", bucket, "bucket"):
                targets.add(bucket.urn)
    return targets


def _companions(
    resources: Sequence[PolicyResource], bucket: PolicyResource, types: Sequence[str]
) -> list[PolicyResource]:
    return [c for c in of_type(resources, *types) if _linked(c, "bucket", bucket, "bucket")]


def _bucket_rule(
    name: str,
    summary: str,
    controls: Sequence[str],
    types: Sequence[str],
    requirement: str,
    *,
    satisfied: Callable[[PolicyResource, bool], bool] = lambda companion, is_log_target: True,
    skip_log_targets: bool = False,
) -> Any:
    """A stack rule: every bucket has a companion of `types` that `satisfied` accepts."""

    @stack_rule(name, summary, controls=controls)
    def check(args: StackValidationArgs) -> Findings:
        buckets = of_type(args.resources, *aws_s3.BUCKET)
        log_targets = _log_targets(args.resources, buckets)
        for bucket in buckets:
            is_log_target = bucket.urn in log_targets
            if skip_log_targets and is_log_target:
                continue
            companions = _companions(args.resources, bucket, types)
            if not any(satisfied(c, is_log_target) for c in companions):
                yield f"bucket {bucket.name} has no {requirement}", bucket.urn

    return check


bucket_public_access_block = _bucket_rule(
    "aws-s3-bucket-enable-public-access-block",
    "Every bucket has a public access block.",
    ("CKV2_AWS_6", "Security Hub S3.8"),
    aws_s3.PUBLIC_ACCESS_BLOCK,
    "aws.s3.BucketPublicAccessBlock",
)


def _kms_or_log_target(companion: PolicyResource, is_log_target: bool) -> bool:
    algorithm = aws_s3.sse_algorithm(companion.props)
    # Server access logs can be delivered only into SSE-S3 buckets: AES256 is right for a log bucket.
    return algorithm in aws_s3.KMS_ALGORITHMS or (is_log_target and algorithm == "AES256")


bucket_sse_kms = _bucket_rule(
    "aws-s3-bucket-enable-sse-kms",
    "Every bucket encrypts with SSE-KMS by default (an access-log bucket with SSE-S3, the only kind S3 logs into).",
    ("CKV_AWS_19", "CKV_AWS_145", "Security Hub S3.17"),
    aws_s3.ENCRYPTION,
    "aws.s3.BucketServerSideEncryptionConfiguration with aws:kms",
    satisfied=_kms_or_log_target,
)
bucket_versioning = _bucket_rule(
    "aws-s3-bucket-enable-versioning",
    "Every bucket has versioning enabled.",
    ("CKV_AWS_21", "Security Hub S3.14"),
    aws_s3.VERSIONING,
    "aws.s3.BucketVersioning with status Enabled",
    satisfied=lambda c, _: get(c.props, "versioningConfiguration.status") == "Enabled",
)
bucket_access_logging = _bucket_rule(
    "aws-s3-bucket-enable-access-logging",
    "Every bucket logs server access to a log bucket (the log bucket itself excepted).",
    ("CKV_AWS_18", "Security Hub S3.9"),
    aws_s3.LOGGING,
    "aws.s3.BucketLogging",
    skip_log_targets=True,
)
bucket_tls_only = _bucket_rule(
    "aws-s3-bucket-enable-tls-only-policy",
    "Every bucket has a policy denying requests without TLS.",
    ("Security Hub S3.5",),
    aws_s3.POLICY,
    "aws.s3.BucketPolicy denying aws:SecureTransport=false",
    satisfied=lambda c, _: aws_s3.denies_insecure_transport(json_document(get(c.props, "policy"))),
)
bucket_owner_enforced = _bucket_rule(
    "aws-s3-bucket-configure-bucket-owner-enforced",
    "Every bucket disables ACLs (ownership controls BucketOwnerEnforced).",
    ("CKV2_AWS_65", "Security Hub S3.12"),
    aws_s3.OWNERSHIP,
    "aws.s3.BucketOwnershipControls with BucketOwnerEnforced",
    satisfied=lambda c, _: get(c.props, "rule.objectOwnership") == "BucketOwnerEnforced",
)
bucket_lifecycle = _bucket_rule(
    "aws-s3-bucket-configure-lifecycle",
    "Every bucket has a lifecycle configuration that aborts incomplete multipart uploads.",
    ("CKV_AWS_300", "Security Hub S3.13"),
    aws_s3.LIFECYCLE,
    "aws.s3.BucketLifecycleConfiguration aborting incomplete multipart uploads",
    satisfied=lambda c, _: aws_s3.aborts_incomplete_uploads(c.props),
)


# ---------------------------------------------------------------------------------- data store ingress


def cluster_sources(resources: Sequence[PolicyResource]) -> set[str]:
    """URNs that stand for the cluster's network identity: the EKS cluster (its cluster security group) and every
    security group the control plane or the node launch template attaches."""
    sources = {c.urn for c in of_type(resources, aws_eks.CLUSTER)}
    for cluster in of_type(resources, aws_eks.CLUSTER):
        sources |= {sg.urn for sg in referenced(cluster, "vpcConfig", aws_ec2.SECURITY_GROUP)}
    for template in of_type(resources, aws_ec2.LAUNCH_TEMPLATE):
        sources |= {sg.urn for sg in referenced(template, "vpcSecurityGroupIds", aws_ec2.SECURITY_GROUP)}
    return sources


def _source_faults(rule: PolicyResource, source_prop: str, allowed: set[str], where: str) -> Iterator[str]:
    if get(rule.props, source_prop) is None:
        return
    sources = referenced(rule, source_prop)
    if not sources:
        yield f"{where} admits {get(rule.props, source_prop)}, not a security group this stack gives the cluster"
    for source in sources:
        if source.urn not in allowed:
            yield f"{where} admits {source.resource_type.rsplit(':', 1)[-1]} {source.name}, not the cluster's"


def _ingress_faults(
    resources: Sequence[PolicyResource], group: PolicyResource, port: float, allowed: set[str]
) -> Iterator[str]:
    """Why the security group `group` of a data store admits more than the cluster on `port`."""
    for i, rule in enumerate(items(get(group.props, "ingress"))):
        where = f"security group {group.name} ingress[{i}]"
        if items(get(rule, "cidrBlocks")) or items(get(rule, "ipv6CidrBlocks")) or items(get(rule, "prefixListIds")):
            yield f"{where} admits CIDR ranges; admit the cluster's security group only"
        if is_true(get(rule, "self")):
            yield f"{where} admits the group itself"
        if items(get(rule, "securityGroups")):
            sources = referenced(group, "ingress")
            if not sources or any(s.urn not in allowed for s in sources):
                yield f"{where} admits security groups other than the cluster's"
    standalone = [
        r
        for r in of_type(resources, aws_ec2.INGRESS_RULE, aws_ec2.SECURITY_GROUP_RULE)
        if references(r, group, "securityGroupId")
        and (r.resource_type == aws_ec2.INGRESS_RULE or get(r.props, "type") == "ingress")
    ]
    for rule in standalone:
        where = f"rule {rule.name}"
        props = rule.props
        cidrs = [get(props, k) for k in ("cidrIpv4", "cidrIpv6", "prefixListId")]
        cidrs += (
            items(get(props, "cidrBlocks")) + items(get(props, "ipv6CidrBlocks")) + items(get(props, "prefixListIds"))
        )
        if any(cidrs):
            yield f"{where} admits CIDR ranges {[c for c in cidrs if c]}; admit the cluster's security group only"
        if is_true(get(props, "self")):
            yield f"{where} admits the group itself"
        yield from _source_faults(rule, "referencedSecurityGroupId", allowed, where)
        yield from _source_faults(rule, "sourceSecurityGroupId", allowed, where)
        low, high = number(get(props, "fromPort")), number(get(props, "toPort"))
        if (low, high) != (port, port):
            yield f"{where} opens ports {low}-{high}; the data store listens on {port:g} only"


def _data_store_rule(name: str, summary: str, controls: Sequence[str], store_type: str, sg_prop: str, port: int) -> Any:
    @stack_rule(name, summary, controls=controls)
    def check(args: StackValidationArgs) -> Findings:
        allowed = cluster_sources(args.resources)
        for store in of_type(args.resources, store_type):
            groups = referenced(store, sg_prop, aws_ec2.SECURITY_GROUP)
            if items(get(store.props, sg_prop)) and not groups:
                yield (
                    f"{store.name}: {sg_prop} are not security groups of this stack; cannot show who they admit",
                    store.urn,
                )
            store_port = number(get(store.props, "port")) or port
            for group in groups:
                for fault in _ingress_faults(args.resources, group, store_port, allowed):
                    yield f"{store.name}: {fault}", store.urn

    return check


redis_cluster_only = _data_store_rule(
    "aws-elasticache-replicationgroup-configure-cluster-only-ingress",
    "Redis's security groups admit 6379 from the cluster's (node or cluster) security group only.",
    ("Platform baseline: 6379 only from the cluster/node security group",),
    aws_elasticache.REPLICATION_GROUP,
    "securityGroupIds",
    6379,
)
rds_cluster_only = _data_store_rule(
    "aws-rds-instance-configure-cluster-only-ingress",
    "The database's security groups admit 5432 from the cluster's (node or cluster) security group only.",
    ("CKV_AWS_17", "Platform baseline: 5432 only from the cluster/node security group"),
    aws_rds.INSTANCE,
    "vpcSecurityGroupIds",
    5432,
)


@stack_rule(
    "aws-rds-instance-enable-force-ssl-parameter-group",
    "Every PostgreSQL instance uses a parameter group of this stack that sets rds.force_ssl = 1.",
    controls=("CKV2_AWS_69",),
)
def rds_force_ssl(args: StackValidationArgs) -> Findings:
    for instance in of_type(args.resources, aws_rds.INSTANCE):
        if not str(get(instance.props, "engine", "")).startswith("postgres"):
            continue
        groups = [
            g
            for g in of_type(args.resources, aws_rds.PARAMETER_GROUP)
            if _linked(instance, "parameterGroupName", g, "name")
        ]
        if not any(aws_rds.forces_ssl(g.props) for g in groups):
            yield f"{instance.name}: parameterGroupName must be a parameter group with rds.force_ssl = 1", instance.urn


# ----------------------------------------------------------------------------------------- VPC, EKS


def _vpc_rule(name: str, summary: str, controls: Sequence[str], companion_type: str, requirement: str) -> Any:
    @stack_rule(name, summary, controls=controls)
    def check(args: StackValidationArgs) -> Findings:
        for vpc in of_type(args.resources, aws_ec2.VPC):
            if not any(references(c, vpc, "vpcId") for c in of_type(args.resources, companion_type)):
                yield f"VPC {vpc.name} has no {requirement}", vpc.urn

    return check


vpc_flow_logs = _vpc_rule(
    "aws-ec2-vpc-enable-flow-logs",
    "Every VPC has flow logs.",
    ("CKV2_AWS_11", "Security Hub EC2.6"),
    aws_ec2.FLOW_LOG,
    "aws.ec2.FlowLog",
)
vpc_default_sg = _vpc_rule(
    "aws-ec2-vpc-configure-closed-default-security-group",
    "Every VPC's default security group is adopted and emptied.",
    ("CKV2_AWS_12", "Security Hub EC2.2"),
    aws_ec2.DEFAULT_SECURITY_GROUP,
    "aws.ec2.DefaultSecurityGroup stripping its rules",
)


@stack_rule(
    "aws-eks-cluster-configure-log-group-retention",
    "The control-plane log group /aws/eks/<cluster>/cluster is created (with retention) before the cluster.",
    controls=("CKV_AWS_37", "CKV_AWS_66", "CIS EKS 2.1.1"),
)
def eks_log_group(args: StackValidationArgs) -> Findings:
    for cluster in of_type(args.resources, aws_eks.CLUSTER):
        expected = f"/aws/eks/{get(cluster.props, 'name')}/cluster"
        groups = [g for g in of_type(args.resources, LOG_GROUP) if get(g.props, "name") == expected]
        if not groups:
            yield (
                f"cluster {cluster.name}: no log group {expected}; EKS would create one that never expires",
                cluster.urn,
            )
            continue
        group = groups[0]
        if not number(get(group.props, "retentionInDays")):
            yield f"log group {expected} must set retentionInDays", group.urn
        if not depends_on(cluster, group):
            yield f"cluster {cluster.name} must depend on log group {expected}, or EKS creates it first", cluster.urn


def _public_subnets(resources: Sequence[PolicyResource]) -> set[str]:
    """Subnets that launch public IPs or route to an internet gateway."""
    public = {s.urn for s in of_type(resources, aws_ec2.SUBNET) if is_true(get(s.props, "mapPublicIpOnLaunch"))}
    internet_tables = set()
    for route in of_type(resources, ROUTE):
        if referenced(route, "gatewayId", INTERNET_GATEWAY) or str(get(route.props, "gatewayId", "")).startswith(
            "igw-"
        ):
            internet_tables |= {t.urn for t in referenced(route, "routeTableId", ROUTE_TABLE)}
    for table in of_type(resources, ROUTE_TABLE):
        if referenced(table, "routes", INTERNET_GATEWAY):
            internet_tables.add(table.urn)
    for association in of_type(resources, ROUTE_TABLE_ASSOCIATION):
        if any(t.urn in internet_tables for t in referenced(association, "routeTableId")):
            public |= {s.urn for s in referenced(association, "subnetId", aws_ec2.SUBNET)}
    return public


@stack_rule(
    "aws-eks-nodegroup-disallow-public-subnets",
    "Node groups run in private subnets only (no public IPs, no route to an internet gateway).",
    controls=("CIS EKS 5.4.3", "Security Hub EC2.15"),
)
def nodes_private(args: StackValidationArgs) -> Findings:
    public = _public_subnets(args.resources)
    for group in of_type(args.resources, aws_eks.NODE_GROUP):
        for subnet in referenced(group, "subnetIds", aws_ec2.SUBNET):
            if subnet.urn in public:
                yield f"node group {group.name} runs in public subnet {subnet.name}", group.urn


@stack_rule(
    "aws-iam-role-configure-node-role-least-privilege",
    "The node role holds only the worker, CNI and ECR read-only managed policies; workloads use IRSA.",
    controls=("CIS EKS 5.1.3", "CIS EKS 5.2.1", "CKV_AWS_274"),
    config_schema=PolicyConfigSchema(
        properties={
            "allowedPolicies": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(NODE_POLICIES),
                "description": "AWS managed policy names the node role may hold.",
            }
        }
    ),
)
def node_role(args: StackValidationArgs) -> Findings:
    allowed = set(config(args, "allowedPolicies", NODE_POLICIES))
    roles = {r.urn: r for g in of_type(args.resources, aws_eks.NODE_GROUP) for r in referenced(g, "nodeRoleArn", ROLE)}
    for role in roles.values():
        arns = items(get(role.props, "managedPolicyArns"))
        arns += [
            get(a.props, "policyArn")
            for a in of_type(args.resources, ROLE_POLICY_ATTACHMENT)
            if references(a, role, "role")
        ]
        for arn in arns:
            if str(arn).rsplit("/", 1)[-1] not in allowed:
                yield f"node role {role.name} holds {arn}; give workloads AWS access through IRSA", role.urn
        inline = [p for p in of_type(args.resources, ROLE_POLICY) if references(p, role, "role")]
        if inline or items(get(role.props, "inlinePolicies")):
            yield f"node role {role.name} has inline policies; it may hold only {sorted(allowed)}", role.urn


@stack_rule(
    "aws-ecr-repository-configure-lifecycle-policy",
    "Every ECR repository has a lifecycle policy (untagged and old images expire).",
    controls=("Security Hub ECR.3",),
)
def ecr_lifecycle(args: StackValidationArgs) -> Findings:
    policies = of_type(args.resources, aws_ecr.LIFECYCLE_POLICY)
    for repository in of_type(args.resources, aws_ecr.REPOSITORY):
        if not any(_linked(p, "repository", repository, "name") for p in policies):
            yield f"repository {repository.name} has no aws.ecr.LifecyclePolicy", repository.urn


# ------------------------------------------------------------------------------------------ Kubernetes


def _provider_props(resource: PolicyResource) -> Any:
    return resource.provider.props if resource.provider is not None else None


def _namespace(resource: PolicyResource) -> str:
    return namespace_of(declared(resource), _provider_props(resource))


def _workloads(
    resources: Iterable[PolicyResource], types: Sequence[str] = LONG_RUNNING
) -> list[tuple[PolicyResource, str, dict[str, Any]]]:
    """(workload, namespace, pod labels) for each workload of `types` (by default the long-running ones)."""
    found = []
    for w in of_type(list(resources), *types):
        labels = dict(get(pod_template(declared(w), w.resource_type), "metadata.labels", {}))
        found.append((w, _namespace(w), labels))
    return found


@stack_rule(
    "kubernetes-apps-deployment-configure-pdb",
    "Every Deployment and StatefulSet is covered by a PodDisruptionBudget in its namespace.",
    controls=("kube-score deployment-has-poddisruptionbudget", "polaris missingPodDisruptionBudget"),
    category=AVAILABILITY,
)
def workload_pdb(args: StackValidationArgs) -> Findings:
    budgets = [(p, _namespace(p)) for p in of_type(args.resources, PDB)]
    # DaemonSet pods are not evicted by node drains, so only replicated workloads need a budget.
    for workload, namespace, labels in _workloads(args.resources, (DEPLOYMENT, STATEFUL_SET)):
        if not any(
            ns == namespace and selector_matches(get(declared(p), "spec.selector"), labels) for p, ns in budgets
        ):
            yield f"{workload.name} ({namespace}) has no PodDisruptionBudget selecting its pods", workload.urn


def _is_default_deny(policy: PolicyResource) -> bool:
    spec = get(declared(policy), "spec")
    selector = get(spec, "podSelector", {})
    selects_all = not get(selector, "matchLabels") and not items(get(selector, "matchExpressions"))
    types = set(items(get(spec, "policyTypes")))
    no_rules = not items(get(spec, "ingress")) and not items(get(spec, "egress"))
    return selects_all and {"Ingress", "Egress"} <= types and no_rules


@stack_rule(
    "kubernetes-networking-namespace-configure-default-deny",
    "Every namespace running workloads has a default-deny NetworkPolicy (all pods, Ingress and Egress, no rules).",
    controls=("CIS EKS 4.3.2", "CKV2_K8S_6", "kube-score pod-networkpolicy"),
)
def default_deny(args: StackValidationArgs) -> Findings:
    denied = {_namespace(p) for p in of_type(args.resources, NETWORK_POLICY) if _is_default_deny(p)}
    reported = set()
    for workload, namespace, _ in _workloads(args.resources):
        if namespace not in denied and namespace not in reported:
            reported.add(namespace)
            yield f"namespace {namespace} has no default-deny NetworkPolicy", workload.urn


@stack_rule(
    "kubernetes-apps-deployment-configure-network-policy",
    "Every long-running workload's pods are selected by a NetworkPolicy that allows their flows.",
    controls=("CKV2_K8S_6", "CIS EKS 4.3.2", "polaris missingNetworkPolicy"),
)
def workload_network_policy(args: StackValidationArgs) -> Findings:
    allows = [
        (p, _namespace(p))
        for p in of_type(args.resources, NETWORK_POLICY)
        if items(get(declared(p), "spec.ingress")) or items(get(declared(p), "spec.egress"))
    ]
    for workload, namespace, labels in _workloads(args.resources):
        selected = any(
            ns == namespace and selector_matches(get(declared(p), "spec.podSelector"), labels) for p, ns in allows
        )
        if not selected:
            yield f"{workload.name} ({namespace}) is selected by no NetworkPolicy allowing its flows", workload.urn


@stack_rule(
    "kubernetes-apps-deployment-disallow-replicas-under-hpa",
    "An autoscaled Deployment sets no replicas (or ignores changes to it), so `pulumi up` never resets the scale; "
    "every HPA targets a workload of the stack.",
    controls=(
        "kube-score deployment-targeted-by-hpa-does-not-have-replicas",
        "kube-score horizontalpodautoscaler-has-target",
    ),
)
def replicas_under_hpa(args: StackValidationArgs) -> Findings:
    workloads = _workloads(args.resources)
    for hpa in of_type(args.resources, *HPA):
        target = get(declared(hpa), "spec.scaleTargetRef", {})
        kind, name, namespace = get(target, "kind"), get(target, "name"), _namespace(hpa)
        matches = [
            w
            for w, ns, _ in workloads
            if ns == namespace and name_of(w) == name and w.resource_type.rsplit(":", 1)[-1] == kind
        ]
        if not matches:
            yield f"HPA {hpa.name} targets {kind} {namespace}/{name}, which this stack does not create", hpa.urn
            continue
        for workload in matches:
            ignored = set(workload.opts.ignore_changes or [])
            if get(declared(workload), "spec.replicas") is not None and not ignored & {"spec.replicas", "spec"}:
                yield (
                    f"{workload.name} sets spec.replicas under HPA {hpa.name}: drop it (or ignore changes)",
                    workload.urn,
                )


@stack_rule(
    "kubernetes-core-namespace-enable-pod-readiness-gate",
    "Namespaces behind an ALB with IP targets inject the LB controller's pod readiness gate.",
    controls=("Platform baseline: LB pod readiness gate label on the namespace",),
    category=AVAILABILITY,
)
def readiness_gate(args: StackValidationArgs) -> Findings:
    namespaces = {name_of(n): n for n in of_type(args.resources, NAMESPACE)}
    for ingress in of_type(args.resources, INGRESS):
        annotations = get(declared(ingress), "metadata.annotations", {})
        if annotations.get("alb.ingress.kubernetes.io/target-type") != "ip":
            continue
        namespace = namespaces.get(_namespace(ingress))
        if namespace is None:
            continue
        if get(declared(namespace), "metadata.labels", {}).get(READINESS_GATE) != "enabled":
            yield f"namespace {name_of(namespace)} must be labelled {READINESS_GATE}=enabled", namespace.urn
