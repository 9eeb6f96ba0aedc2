"""Config of the cloud layer: network, cluster and nodes, Redis, RDS, artifact bucket, ECR."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import yaml

from infra.config.keys import KUBERNETES_VERSIONS, LOG_RETENTION_DAYS, ConfigError, Keys, is_cidr, stack_name
from infra.config.network import NetworkConfig as NetworkConfig
from infra.config.network import read_network as read_network

# An IAM role ARN, path included (access entries name the role with its path).
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


@dataclass(frozen=True)
class ExistingClusterConfig:
    """A cluster the stack uses instead of creating one (bring your own cluster).

    Either another stack's outputs (`stack_reference`: kubeconfig, nodeSecurityGroupId, oidcProviderArn,
    oidcIssuerUrl, clusterName, as this program exports them) or a kubeconfig plus the three AWS identifiers
    the data stores (node security group) and IRSA (OIDC provider) need.
    """

    stack_reference: str | None
    # Secret; set with `pulumi config set --secret cluster.kubeconfig < kubeconfig`.
    kubeconfig: pulumi.Output[str] | None
    # The kubeconfig's current context's cluster (not a secret: the name is in every ARN of the cluster).
    cluster_name: str | None
    node_security_group_id: str | None
    oidc_provider_arn: str | None
    oidc_issuer_url: str | None


@dataclass(frozen=True)
class ClusterConfig:
    """The EKS control plane: version, who may reach its API and who administers it; or a cluster brought along."""

    version: str
    # Where `pulumi up` (and every workflow job that reaches the Kubernetes API) runs: "vpc" keeps the API
    # endpoint private and needs a runner inside the VPC; "cidrs" opens it to `public_access_cidrs` only.
    deploy_from: Literal["vpc", "cidrs"]
    # Non-empty exactly when deploy_from is "cidrs".
    public_access_cidrs: tuple[str, ...]
    admin_role_arns: tuple[str, ...]
    log_retention_days: int
    existing: ExistingClusterConfig | None = None
    # The role running `pulumi up`, given cluster-admin through its own access entry. None: the role behind the
    # session running the program (aws.iam.get_session_context), see infra/cluster.py.
    deployer_role_arn: str | None = None
    # Roles (the preview workflow's) that may edit only pull-request namespaces (PREVIEW_NAMESPACES).
    preview_role_arns: tuple[str, ...] = ()

    @property
    def public_endpoint(self) -> bool:
        return self.deploy_from == "cidrs"


@dataclass(frozen=True)
class NodeGroupConfig:
    """The managed node groups the workloads run on, one per AZ; the sizes are totals over all of them."""

    instance_types: tuple[str, ...]
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int
    capacity_type: Literal["ON_DEMAND", "SPOT"]

    @property
    def ami_type(self) -> str:
        """EKS-optimised AL2023 for the instances' architecture (all types share one, validated at load)."""
        return "AL2023_ARM_64_STANDARD" if _is_graviton(self.instance_types[0]) else "AL2023_x86_64_STANDARD"

    @property
    def image_platform(self) -> str:
        """The OCI platform of the nodes, which the images the stack builds must match."""
        return "linux/arm64" if _is_graviton(self.instance_types[0]) else "linux/amd64"


@dataclass(frozen=True)
class RedisConfig:
    """ElastiCache (Valkey or Redis OSS), the prediction cache."""

    node_type: str
    node_count: int
    multi_az: bool
    engine_version: str
    snapshot_retention_days: int
    engine: Literal["valkey", "redis"] = "valkey"
    # Bumping it generates a new AUTH token (docs/operations.md, "Rotating secrets").
    auth_token_version: int = 1
    # ROTATE: old and new token both valid; SET (allowed only after ROTATE): only the current one.
    auth_token_update_strategy: Literal["ROTATE", "SET"] = "ROTATE"
    log_retention_days: int = 90

    @property
    def parameter_group_family(self) -> str:
        """valkey8, redis7...: a parameter group belongs to one engine and major version."""
        return f"{self.engine}{self.engine_version.split('.')[0]}"


@dataclass(frozen=True)
class DatabaseConfig:
    """RDS PostgreSQL, MLflow's backend store."""

    instance_class: str
    engine_version: str
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    multi_az: bool
    backup_retention_days: int
    # Effective protection: database.deletionProtection unless teardown.releaseProtection lifts it.
    deletion_protection: bool
    # database.deletionProtection as configured: a protected database leaves a final snapshot when deleted, also
    # after teardown.releaseProtection lifted the protection for a destroy.
    final_snapshot: bool = True
    # Modifications now (true) or in the maintenance window (false); database.applyImmediately.
    apply_immediately: bool = False
    log_retention_days: int = 90
    # The instance's identifier when it is not <stack>-mlflow (a database created when it was autonamed).
    identifier: str | None = None

    @property
    def major_version(self) -> str:
        return self.engine_version.split(".")[0]

    @property
    def parameter_group_family(self) -> str:
        return f"postgres{self.major_version}"

    @property
    def minor_pinned(self) -> bool:
        """A major.minor version pins the minor: RDS must not move it (auto minor upgrade off), or the next
        `pulumi up` would try to downgrade what RDS upgraded."""
        return "." in self.engine_version


@dataclass(frozen=True)
class TeardownConfig:
    """What `pulumi destroy` may do (docs/operations.md, "Teardown")."""

    # Empty and delete the artifact buckets and ECR repositories with their content (S3 force_destroy, ECR
    # force_delete); otherwise a destroy stops at the first non-empty one.
    allow_data_loss: bool
    # Lift deletion protection (the ALBs' attribute, RDS) so that a following destroy completes.
    release_protection: bool


@dataclass(frozen=True)
class ArtifactsConfig:
    """The MLflow artifact bucket's retention."""

    noncurrent_version_days: int
    access_log_retention_days: int


@dataclass(frozen=True)
class RegistryConfig:
    """The ECR repositories' retention."""

    # Days before an untagged image (an interrupted push's leftover) expires; tagged images never do.
    untagged_expiry_days: int


def _is_graviton(instance_type: str) -> bool:
    """Graviton (arm64) families carry a "g" right after the generation digit: t4g, m7g, c7gn, r8gd."""
    return bool(re.match(r"[a-z]+\d+g[a-z]*\.", instance_type))


def read_cluster(keys: Keys) -> ClusterConfig:
    version = keys.choice("cluster.version", KUBERNETES_VERSIONS)
    deploy_from = keys.choice("cluster.deployFrom", ("vpc", "cidrs"))
    expected_cidrs = "a list of IPv4 CIDRs, none of them 0.0.0.0/0 (the API endpoint is never open to everyone)"
    cidrs = keys.string_list("cluster.publicAccessCidrs", item=is_cidr, expected=expected_cidrs)
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        if network.version != 4 or network.prefixlen == 0:
            raise keys.fail("cluster.publicAccessCidrs", expected_cidrs, cidr)
    # One model of where `pulumi up` runs, shared by the stack files and the workflows (docs/first-deploy.md).
    if deploy_from == "cidrs" and not cidrs:
        raise keys.fail(
            "cluster.publicAccessCidrs",
            "the CIDRs `pulumi up` runs from (at least one) when cluster.deployFrom is cidrs: the Kubernetes "
            "provider reaches the API through the public endpoint",
            list(cidrs),
        )
    if deploy_from == "vpc" and cidrs:
        raise keys.fail(
            "cluster.publicAccessCidrs",
            "empty when cluster.deployFrom is vpc (the endpoint is private; set cluster.deployFrom to cidrs to open "
            "it to these CIDRs)",
            list(cidrs),
        )
    admins = keys.string_list(
        "cluster.adminRoleArns",
        item=lambda v: bool(ROLE_ARN.fullmatch(v)),
        expected="a list of IAM role ARNs (arn:aws:iam::<account>:role/<name>)",
    )
    deployer = keys.optional_string(
        "cluster.deployerRoleArn",
        pattern=ROLE_ARN.pattern,
        expected="the IAM role ARN `pulumi up` runs as (arn:aws:iam::<account>:role/<path/><name>), or empty to use "
        "the role behind the running session",
    )
    if deployer is not None and deployer in admins:
        raise keys.fail(
            "cluster.adminRoleArns",
            f"free of cluster.deployerRoleArn ({deployer}): the deployer has its own access entry, and EKS refuses a "
            "second one for the same principal (ResourceInUseException)",
            list(admins),
        )
    previews = keys.string_list(
        "cluster.previewRoleArns",
        item=lambda v: bool(ROLE_ARN.fullmatch(v)),
        expected="a list of IAM role ARNs (arn:aws:iam::<account>:role/<name>)",
    )
    if overlap := sorted(set(previews) & ({*admins, deployer} - {None})):
        raise keys.fail(
            "cluster.previewRoleArns",
            f"free of the deployer and cluster.adminRoleArns ({', '.join(str(a) for a in overlap)}): EKS allows one "
            "access entry per principal, and a cluster admin needs no preview access",
            list(previews),
        )
    retention = keys.integer("cluster.logRetentionDays", minimum=1)
    if retention not in LOG_RETENTION_DAYS:
        raise keys.fail(
            "cluster.logRetentionDays", "a CloudWatch retention period " + str(sorted(LOG_RETENTION_DAYS)), retention
        )
    return ClusterConfig(
        version=version,
        deploy_from="cidrs" if deploy_from == "cidrs" else "vpc",
        public_access_cidrs=cidrs,
        admin_role_arns=admins,
        log_retention_days=retention,
        existing=read_existing_cluster(keys),
        deployer_role_arn=deployer,
        preview_role_arns=previews,
    )


_BYO_ONLY = ("cluster.nodeSecurityGroupId", "cluster.oidcProviderArn", "cluster.oidcIssuerUrl")


def read_existing_cluster(keys: Keys) -> ExistingClusterConfig | None:
    reference = stack_name(keys, "cluster.stackReference")
    raw_kubeconfig = keys.optional_string("cluster.kubeconfig")
    node_sg = keys.optional_string(
        "cluster.nodeSecurityGroupId", pattern=r"sg-[0-9a-f]{8,17}", expected="a security group id (sg-...)"
    )
    oidc_arn = keys.optional_string(
        "cluster.oidcProviderArn",
        pattern=r"arn:aws[a-z-]*:iam::\d{12}:oidc-provider/oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/[0-9A-Fa-f]+",
        expected="the ARN of the cluster's IAM OIDC provider (arn:aws:iam::<account>:oidc-provider/oidc.eks...)",
    )
    issuer = keys.optional_string(
        "cluster.oidcIssuerUrl",
        pattern=r"https://oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/[0-9A-Fa-f]+",
        expected="the cluster's OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/...)",
    )
    if reference is not None and raw_kubeconfig is not None:
        raise keys.fail("cluster.kubeconfig", "empty when cluster.stackReference is set (one source of the cluster)")
    if raw_kubeconfig is None:
        for key, value in zip(_BYO_ONLY, (node_sg, oidc_arn, issuer), strict=True):
            if value is not None:
                # With a stack reference these come from its outputs; without either, the cluster is created here.
                raise keys.fail(key, "set only with cluster.kubeconfig", value)
        if reference is None:
            return None
        return ExistingClusterConfig(reference, None, None, None, None, None)
    if not pulumi.runtime.is_config_secret(keys.full("cluster.kubeconfig")):
        raise ConfigError(
            f"{keys.full('cluster.kubeconfig')} must be a secret: set it with "
            "`pulumi config set --secret cluster.kubeconfig < kubeconfig` (it may hold credentials)"
        )
    cluster_name = _kubeconfig_cluster(keys, raw_kubeconfig)
    for key, value in zip(_BYO_ONLY, (node_sg, oidc_arn, issuer), strict=True):
        if value is None:
            raise keys.fail(
                key, "set when cluster.kubeconfig is set (Redis and RDS admit the nodes' group; IRSA trusts the OIDC)"
            )
    assert oidc_arn is not None and issuer is not None
    if not oidc_arn.endswith(issuer.removeprefix("https://")):
        raise keys.fail("cluster.oidcProviderArn", f"the provider of cluster.oidcIssuerUrl ({issuer})", oidc_arn)
    return ExistingClusterConfig(
        stack_reference=None,
        kubeconfig=pulumi.Output.secret(raw_kubeconfig),
        cluster_name=cluster_name,
        node_security_group_id=node_sg,
        oidc_provider_arn=oidc_arn,
        oidc_issuer_url=issuer,
    )


def _kubeconfig_cluster(keys: Keys, raw: str) -> str:
    """The cluster of the kubeconfig's current context. Errors never quote the value: it is a secret."""
    expected = "a kubeconfig (YAML or JSON) whose current-context names one of its contexts and clusters"
    try:
        doc: Any = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise keys.fail("cluster.kubeconfig", expected) from e
    if not isinstance(doc, dict):
        raise keys.fail("cluster.kubeconfig", expected)
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)}
    clusters = {c.get("name") for c in doc.get("clusters") or [] if isinstance(c, dict)}
    context = contexts.get(doc.get("current-context"))
    if context is None or context.get("cluster") not in clusters:
        raise keys.fail("cluster.kubeconfig", expected)
    return str(context["cluster"])


def read_nodes(keys: Keys, environment: str) -> NodeGroupConfig:
    expected_types = 'a non-empty list of EC2 instance types of one architecture (e.g. ["m6i.large"])'
    types = keys.string_list(
        "nodes.instanceTypes",
        item=lambda v: bool(re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", v)),
        expected=expected_types,
    )
    if not types or len({_is_graviton(t) for t in types}) != 1:
        raise keys.fail("nodes.instanceTypes", expected_types, list(types))
    # Outside dev a node failure must not take the only node: availability is what dev alone may relax.
    floor = 1 if environment == "dev" else 2
    min_size = keys.integer("nodes.minSize", minimum=1)
    if min_size < floor:
        raise keys.fail("nodes.minSize", f">= {floor} outside dev (environment is {environment})", min_size)
    max_size = keys.integer("nodes.maxSize", minimum=min_size, maximum=100)
    desired = keys.integer("nodes.desiredSize", minimum=min_size, maximum=max_size)
    capacity = keys.choice("nodes.capacityType", ("ON_DEMAND", "SPOT"))
    return NodeGroupConfig(
        instance_types=types,
        min_size=min_size,
        desired_size=desired,
        max_size=max_size,
        disk_size_gib=keys.integer("nodes.diskSizeGiB", minimum=20, maximum=1000),
        capacity_type="SPOT" if capacity == "SPOT" else "ON_DEMAND",
    )


def _log_retention(keys: Keys, key: str) -> int:
    retention = keys.integer(key, minimum=1)
    if retention not in LOG_RETENTION_DAYS:
        raise keys.fail(key, "a CloudWatch retention period " + str(sorted(LOG_RETENTION_DAYS)), retention)
    return retention


# ElastiCache engine versions a replication group may run (ElastiCache User Guide, "Supported engines and
# versions"): Redis OSS 7.0/7.1, Valkey 7.2 and 8.x.
_CACHE_VERSIONS = {"redis": (r"7\.[01]", "7.0 or 7.1"), "valkey": (r"7\.2|8\.\d", "7.2 or 8.x (e.g. 8.1)")}


def read_redis(keys: Keys, environment: str) -> RedisConfig:
    node_type = keys.string(
        "redis.nodeType", pattern=r"cache\.[a-z0-9]+\.[a-z0-9]+", expected="an ElastiCache node type (cache.*)"
    )
    node_count = keys.integer("redis.nodeCount", minimum=1, maximum=6)
    multi_az = keys.boolean("redis.multiAz")
    if environment != "dev" and not multi_az:
        raise keys.fail("redis.multiAz", f"true outside dev (environment is {environment})", False)
    if multi_az and node_count < 2:
        raise keys.fail("redis.nodeCount", ">= 2 when redis.multiAz is true", node_count)
    engine = keys.choice("redis.engine", ("valkey", "redis"))
    pattern, versions = _CACHE_VERSIONS[engine]
    return RedisConfig(
        node_type=node_type,
        node_count=node_count,
        multi_az=multi_az,
        engine="valkey" if engine == "valkey" else "redis",
        engine_version=keys.string(
            "redis.engineVersion", pattern=pattern, expected=f"a {engine} engine version: {versions}"
        ),
        snapshot_retention_days=keys.integer("redis.snapshotRetentionDays", minimum=1, maximum=35),
        auth_token_version=keys.integer("redis.authTokenVersion", minimum=1),
        auth_token_update_strategy=(
            "SET" if keys.choice("redis.authTokenUpdateStrategy", ("ROTATE", "SET")) == "SET" else "ROTATE"
        ),
        log_retention_days=_log_retention(keys, "redis.logRetentionDays"),
    )


def read_teardown(keys: Keys) -> TeardownConfig:
    return TeardownConfig(
        allow_data_loss=keys.boolean("teardown.allowDataLoss"),
        release_protection=keys.boolean("teardown.releaseProtection"),
    )


def read_database(keys: Keys, environment: str, teardown: TeardownConfig) -> DatabaseConfig:
    instance_class = keys.string(
        "database.instanceClass", pattern=r"db\.[a-z0-9]+\.[a-z0-9]+", expected="an RDS instance class (db.*)"
    )
    engine_version = keys.string(
        "database.engineVersion",
        pattern=r"1[4-7](\.\d+)?",
        expected="a PostgreSQL version 14 to 17, major or major.minor (e.g. 17 or 17.5)",
    )
    allocated = keys.integer("database.allocatedStorageGiB", minimum=20, maximum=65536)
    max_allocated = keys.integer("database.maxAllocatedStorageGiB", minimum=allocated, maximum=65536)
    multi_az = keys.boolean("database.multiAz")
    if environment == "prod" and not multi_az:
        raise keys.fail("database.multiAz", "true in prod", False)
    keys.removed(
        "database.passwordVersion",
        'RDS manages and rotates the master password in Secrets Manager (docs/operations.md, "Rotating secrets")',
    )
    protection = keys.boolean("database.deletionProtection")
    if environment != "dev" and not protection:
        raise keys.fail("database.deletionProtection", f"true outside dev (environment is {environment})", False)
    return DatabaseConfig(
        instance_class=instance_class,
        engine_version=engine_version,
        allocated_storage_gib=allocated,
        max_allocated_storage_gib=max_allocated,
        multi_az=multi_az,
        backup_retention_days=keys.integer("database.backupRetentionDays", minimum=7, maximum=35),
        deletion_protection=protection and not teardown.release_protection,
        final_snapshot=protection,
        apply_immediately=keys.boolean("database.applyImmediately"),
        log_retention_days=_log_retention(keys, "database.logRetentionDays"),
        identifier=keys.optional_string(
            "database.identifier",
            # RDS API CreateDBInstance DBInstanceIdentifier: a letter, then letters, digits, single hyphens; 63.
            pattern=r"(?=.{1,63}$)[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*",
            expected="an RDS instance identifier (lowercase letters, digits and single inner hyphens, at most 63)",
        ),
    )


def read_artifacts(keys: Keys) -> ArtifactsConfig:
    return ArtifactsConfig(
        noncurrent_version_days=keys.integer("artifacts.noncurrentVersionDays", minimum=1, maximum=3650),
        access_log_retention_days=keys.integer("artifacts.accessLogRetentionDays", minimum=1, maximum=3650),
    )


def read_registry(keys: Keys) -> RegistryConfig:
    return RegistryConfig(untagged_expiry_days=keys.integer("registry.untaggedExpiryDays", minimum=1, maximum=365))
