"""The typed, validated view of stack config: the only module that reads `pulumi.Config`.

Every project key is declared with its type, description and default in `Pulumi.yaml`; the CLI fills in
those defaults, so this module `require`s each key and owns only its validation. A missing or invalid key
raises `ConfigError` naming the key and what was expected, before any resource is registered.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pulumi

PROJECT = "platform"
ENVIRONMENTS = ("dev", "staging", "prod")
# Kubernetes versions the cluster component has pinned EKS add-on and autoscaler versions for (infra/cluster.py,
# infra/addons.py); supporting a new one means adding its pins there.
KUBERNETES_VERSIONS = ("1.33",)
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

T = TypeVar("T")


class ConfigError(ValueError):
    """A stack config key is missing or holds a value the program cannot use."""


class _Keys:
    """Typed getters over one config namespace; every failure names the full key."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._config = pulumi.Config(namespace)

    def full(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def fail(self, key: str, expected: str, got: object = None) -> ConfigError:
        suffix = "" if got is None else f" (got {got!r})"
        return ConfigError(f"{self.full(key)} must be {expected}{suffix}")

    def _raw(self, key: str, expected: str) -> str:
        value = self._config.get(key)
        if value is None:
            raise ConfigError(
                f"{self.full(key)} is missing: expected {expected}; set it with `pulumi config set {key} ...` "
                "or declare its default in Pulumi.yaml"
            )
        return value

    def string(self, key: str, *, pattern: str | None = None, expected: str = "a string") -> str:
        value = self._raw(key, expected)
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.fail(key, expected, value)
        return value

    def optional_string(self, key: str, *, pattern: str | None = None, expected: str = "a string") -> str | None:
        """An optional key is declared with default "" in Pulumi.yaml; "" reads as None."""
        value = self._raw(key, expected)
        if value == "":
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.fail(key, expected, value)
        return value

    def choice(self, key: str, choices: Sequence[str]) -> str:
        expected = "one of " + ", ".join(repr(c) for c in choices)
        value = self._raw(key, expected)
        if value not in choices:
            raise self.fail(key, expected, value)
        return value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        expected = "an integer" + _bounds(minimum, maximum)
        raw = self._raw(key, expected)
        try:
            value = int(raw)
        except ValueError as e:
            raise self.fail(key, expected, raw) from e
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.fail(key, expected, value)
        return value

    def boolean(self, key: str) -> bool:
        raw = self._raw(key, "true or false")
        if raw.lower() not in ("true", "false"):
            raise self.fail(key, "true or false", raw)
        return raw.lower() == "true"

    def string_list(
        self, key: str, *, item: Callable[[str], bool] | None = None, expected: str = "a list of strings"
    ) -> tuple[str, ...]:
        raw = self._raw(key, expected)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError as e:
            raise self.fail(key, expected, raw) from e
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, expected, value)
        for v in value:
            if item is not None and not item(v):
                raise self.fail(key, expected, v)
        return tuple(value)


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" between {minimum} and {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class NetworkConfig:
    """The VPC: either built here over `az_count` zones, or brought by the stack (`vpc_id`)."""

    vpc_cidr: str
    az_count: int
    nat_gateways: Literal["single", "perAz"]
    flow_log_retention_days: int
    vpc_id: str | None
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]

    @property
    def bring_your_own(self) -> bool:
        return self.vpc_id is not None


@dataclass(frozen=True)
class ClusterConfig:
    """The EKS control plane: version, who may reach its API and who administers it."""

    version: str
    # Empty: the API endpoint is private only (reachable from inside the VPC).
    public_access_cidrs: tuple[str, ...]
    admin_role_arns: tuple[str, ...]
    log_retention_days: int


@dataclass(frozen=True)
class NodeGroupConfig:
    """The managed node group the workloads run on."""

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


@dataclass(frozen=True)
class CacheConfig:
    """ElastiCache Redis, the prediction cache."""

    node_type: str
    node_count: int
    multi_az: bool
    engine_version: str
    snapshot_retention_days: int


@dataclass(frozen=True)
class DatabaseConfig:
    """RDS PostgreSQL, MLflow's backend store."""

    instance_class: str
    engine_version: str
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    multi_az: bool
    backup_retention_days: int
    # Also decides the final snapshot: a protected database is snapshotted when it is deleted.
    deletion_protection: bool

    @property
    def parameter_group_family(self) -> str:
        return f"postgres{self.engine_version.split('.')[0]}"


@dataclass(frozen=True)
class ArtifactsConfig:
    """The MLflow artifact bucket's retention."""

    noncurrent_version_days: int
    access_log_retention_days: int


@dataclass(frozen=True)
class RegistryConfig:
    """The ECR repositories' retention."""

    keep_images: int


@dataclass(frozen=True)
class PlatformConfig:
    """Everything the program needs from a stack, typed and validated."""

    stack: str
    environment: Literal["dev", "staging", "prod"]
    name_prefix: str
    region: str
    network: NetworkConfig
    cluster: ClusterConfig
    nodes: NodeGroupConfig
    redis: CacheConfig
    database: DatabaseConfig
    artifacts: ArtifactsConfig
    registry: RegistryConfig
    # Workload layer (issue 4)
    inference: InferenceConfig
    ingress: IngressConfig
    mlflow: MlflowConfig
    training_job: TrainingJobConfig
    monitoring: MonitoringConfig

    @property
    def name(self) -> str:
        """The prefix of every physical name this stack creates."""
        return f"{self.name_prefix}-{self.stack}"

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    def tags(self, **extra: str) -> dict[str, str]:
        """The tags every taggable AWS resource carries."""
        return {"Project": self.name_prefix, "Environment": self.environment, "ManagedBy": "pulumi", **extra}


def _network(keys: _Keys) -> NetworkConfig:
    expected_cidr = "an IPv4 CIDR between /16 and /24"
    vpc_cidr = keys.string("network.vpcCidr", expected=expected_cidr)
    if not _is_cidr(vpc_cidr):
        raise keys.fail("network.vpcCidr", expected_cidr, vpc_cidr)
    network = ipaddress.ip_network(vpc_cidr)
    if network.version != 4 or not 16 <= network.prefixlen <= 24:
        raise keys.fail("network.vpcCidr", expected_cidr, vpc_cidr)
    az_count = keys.integer("network.azCount", minimum=2, maximum=6)
    nat = keys.choice("network.natGateways", ("single", "perAz"))
    retention = keys.integer("network.flowLogRetentionDays", minimum=1)
    if retention not in LOG_RETENTION_DAYS:
        raise keys.fail(
            "network.flowLogRetentionDays",
            "a CloudWatch retention period " + str(sorted(LOG_RETENTION_DAYS)),
            retention,
        )
    subnet_id = re.compile(r"subnet-[0-9a-f]{8,17}")
    vpc_id = keys.optional_string("network.vpcId", pattern=r"vpc-[0-9a-f]{8,17}", expected="a VPC id (vpc-...)")
    public = keys.string_list(
        "network.publicSubnetIds", item=lambda v: bool(subnet_id.fullmatch(v)), expected="a list of subnet ids"
    )
    private = keys.string_list(
        "network.privateSubnetIds", item=lambda v: bool(subnet_id.fullmatch(v)), expected="a list of subnet ids"
    )
    if vpc_id is None and (public or private):
        raise keys.fail("network.vpcId", "set when network.publicSubnetIds or network.privateSubnetIds is set")
    if vpc_id is not None and len(private) < 2:
        raise keys.fail(
            "network.privateSubnetIds", "at least 2 subnet ids in different AZs when network.vpcId is set", private
        )
    return NetworkConfig(
        vpc_cidr=str(network),
        az_count=az_count,
        nat_gateways="single" if nat == "single" else "perAz",
        flow_log_retention_days=retention,
        vpc_id=vpc_id,
        public_subnet_ids=public,
        private_subnet_ids=private,
    )


def _is_graviton(instance_type: str) -> bool:
    """Graviton (arm64) families carry a "g" right after the generation digit: t4g, m7g, c7gn, r8gd."""
    return bool(re.match(r"[a-z]+\d+g[a-z]*\.", instance_type))


def _cluster(keys: _Keys) -> ClusterConfig:
    version = keys.choice("cluster.version", KUBERNETES_VERSIONS)
    expected_cidrs = "a list of IPv4 CIDRs, none of them 0.0.0.0/0 (the API endpoint is never open to everyone)"
    cidrs = keys.string_list("cluster.publicAccessCidrs", item=_is_cidr, expected=expected_cidrs)
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        if network.version != 4 or network.prefixlen == 0:
            raise keys.fail("cluster.publicAccessCidrs", expected_cidrs, cidr)
    admins = keys.string_list(
        "cluster.adminRoleArns",
        item=lambda v: bool(re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", v)),
        expected="a list of IAM role ARNs (arn:aws:iam::<account>:role/<name>)",
    )
    retention = keys.integer("cluster.logRetentionDays", minimum=1)
    if retention not in LOG_RETENTION_DAYS:
        raise keys.fail(
            "cluster.logRetentionDays", "a CloudWatch retention period " + str(sorted(LOG_RETENTION_DAYS)), retention
        )
    return ClusterConfig(
        version=version, public_access_cidrs=cidrs, admin_role_arns=admins, log_retention_days=retention
    )


def _nodes(keys: _Keys, environment: str) -> NodeGroupConfig:
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


def _redis(keys: _Keys, environment: str) -> CacheConfig:
    node_type = keys.string(
        "redis.nodeType", pattern=r"cache\.[a-z0-9]+\.[a-z0-9]+", expected="an ElastiCache node type (cache.*)"
    )
    node_count = keys.integer("redis.nodeCount", minimum=1, maximum=6)
    multi_az = keys.boolean("redis.multiAz")
    if environment != "dev" and not multi_az:
        raise keys.fail("redis.multiAz", f"true outside dev (environment is {environment})", False)
    if multi_az and node_count < 2:
        raise keys.fail("redis.nodeCount", ">= 2 when redis.multiAz is true", node_count)
    return CacheConfig(
        node_type=node_type,
        node_count=node_count,
        multi_az=multi_az,
        engine_version=keys.string(
            "redis.engineVersion", pattern=r"7\.\d+", expected="a Redis 7.x engine version (e.g. 7.1)"
        ),
        snapshot_retention_days=keys.integer("redis.snapshotRetentionDays", minimum=1, maximum=35),
    )


def _database(keys: _Keys, environment: str) -> DatabaseConfig:
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
        deletion_protection=protection,
    )


def _artifacts(keys: _Keys) -> ArtifactsConfig:
    return ArtifactsConfig(
        noncurrent_version_days=keys.integer("artifacts.noncurrentVersionDays", minimum=1, maximum=3650),
        access_log_retention_days=keys.integer("artifacts.accessLogRetentionDays", minimum=1, maximum=3650),
    )


def _registry(keys: _Keys) -> RegistryConfig:
    return RegistryConfig(keep_images=keys.integer("registry.keepImages", minimum=1, maximum=1000))


def load_config() -> PlatformConfig:
    """Read and validate the current stack's config; raises `ConfigError` on the first bad key."""
    keys = _Keys(PROJECT)
    environment = keys.choice("environment", ENVIRONMENTS)
    region = _Keys("aws").string("region", pattern=r"[a-z]{2}(-[a-z]+)+-\d", expected="an AWS region")
    return PlatformConfig(
        stack=pulumi.get_stack(),
        environment="dev" if environment == "dev" else "staging" if environment == "staging" else "prod",
        name_prefix=keys.string(
            "namePrefix", pattern=r"[a-z][a-z0-9-]{1,14}", expected="2-15 lowercase letters, digits or -"
        ),
        region=region,
        network=_network(keys),
        cluster=_cluster(keys),
        nodes=_nodes(keys, environment),
        redis=_redis(keys, environment),
        database=_database(keys, environment),
        artifacts=_artifacts(keys),
        registry=_registry(keys),
        # Workload layer (issue 4)
        inference=_inference(keys, environment),
        ingress=_ingress(keys, environment),
        mlflow=_mlflow(keys, environment),
        training_job=_training_job(keys),
        monitoring=_monitoring(keys),
    )


# ------------------------------------------------------------------------------------------------------------
# Workload layer (issue 4): what runs on the cluster - the inference service, its ALB ingress, the MLflow
# tracking server, the optional training Job and the observability hooks.

# Immutable image references only: an ECR tag (the repositories reject tag overwrites) or a digest.
_IMAGE_TAG = r"(sha256:[0-9a-f]{64}|[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
# A full reference, as a delivery pipeline sets it: registry/repository then a tag or a digest.
_IMAGE_REF = r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})"
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?")
_QUANTITY_FACTORS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}
_ACM_ARN = r"arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate/[0-9a-f-]{36}"
_WAF_ARN = r"arn:aws[a-z-]*:wafv2:[a-z]{2}(-[a-z]+)+-\d:\d{12}:regional/webacl/[A-Za-z0-9_-]+/[0-9a-f-]{36}"
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_HOSTNAME = r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
# A standard five-field cron schedule (minute hour day-of-month month day-of-week), as CronJob takes it.
_CRON = r"(\S+\s+){4}\S+|@(yearly|annually|monthly|weekly|daily|midnight|hourly)"


def quantity(value: str) -> float:
    """A Kubernetes resource quantity as a number (cores or bytes), for comparing requests with limits."""
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"not a resource quantity: {value!r}")
    return float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


def image_reference(repository: str, tag: str) -> str:
    """`repository:tag`, or `repository@sha256:...` when `tag` is a digest."""
    return f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container; every one is set (CKV_K8S_10-13)."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    ephemeral_storage_request: str
    ephemeral_storage_limit: str


@dataclass(frozen=True)
class InferenceConfig:
    """The inference service: image, autoscaling, model settings and shutdown timing."""

    image_tag: str
    # A full image reference that replaces <the stack's ECR repository>:<image_tag>.
    image: str | None
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    scale_down_stabilization_seconds: int
    workers: int
    model_name: str
    model_alias: str
    reload_interval_seconds: int
    cache_enabled: bool
    cache_ttl_seconds: int
    startup_timeout_seconds: int
    pre_stop_sleep_seconds: int
    drain_seconds: int
    resources: Resources


@dataclass(frozen=True)
class IngressConfig:
    """The inference service's ALB, made by the AWS Load Balancer Controller from Ingress annotations."""

    scheme: Literal["internet-facing", "internal"]
    certificate_arn: str | None
    host: str | None
    access_logs_bucket: str | None
    access_logs_prefix: str
    waf_acl_arn: str | None
    inbound_cidrs: tuple[str, ...]
    deletion_protection: bool


@dataclass(frozen=True)
class MlflowConfig:
    """The MLflow tracking server and model registry."""

    image_tag: str
    image: str | None
    replicas: int
    workers: int
    artifact_prefix: str
    admin_username: str
    resources: Resources
    ingress_enabled: bool
    ingress_host: str | None
    ingress_certificate_arn: str | None


@dataclass(frozen=True)
class TrainingJobConfig:
    """The optional in-cluster training run: a Job, or a CronJob when a schedule is set."""

    enabled: bool
    image_tag: str | None
    image: str | None
    schedule: str | None
    args: tuple[str, ...]
    active_deadline_seconds: int
    resources: Resources


@dataclass(frozen=True)
class MonitoringConfig:
    """Observability hooks: Prometheus scrape annotations, a ServiceMonitor, and who may scrape."""

    scrape_annotations: bool
    service_monitor: bool
    prometheus_namespace: str | None


def _image_tag(keys: _Keys, key: str) -> str:
    expected = "an image tag or sha256 digest other than 'latest' (tags are immutable in ECR)"
    tag = keys.string(key, pattern=_IMAGE_TAG, expected=expected)
    if tag.lower() == "latest":
        raise keys.fail(key, expected, tag)
    return tag


def _image(keys: _Keys, key: str) -> str | None:
    expected = "an image reference registry/repository:tag or registry/repository@sha256:<digest>, tag not 'latest'"
    image = keys.optional_string(key, pattern=_IMAGE_REF, expected=expected)
    if image is not None and image.rsplit("/", 1)[-1].lower().endswith(":latest"):
        raise keys.fail(key, expected, image)
    return image


def _resources(keys: _Keys, prefix: str) -> Resources:
    values: dict[str, str] = {}
    for kind in ("cpu", "memory", "ephemeralStorage"):
        for bound in ("Request", "Limit"):
            key = f"{prefix}.{kind}{bound}"
            value = keys.string(key, expected="a Kubernetes quantity such as 500m, 1, 512Mi or 2Gi")
            try:
                amount = quantity(value)
            except ValueError as e:
                raise keys.fail(key, "a Kubernetes quantity such as 500m, 1, 512Mi or 2Gi", value) from e
            if amount <= 0:
                raise keys.fail(key, "a positive quantity", value)
            values[f"{kind}{bound}"] = value
        request, limit = values[f"{kind}Request"], values[f"{kind}Limit"]
        if quantity(request) > quantity(limit):
            raise keys.fail(f"{prefix}.{kind}Request", f"<= {prefix}.{kind}Limit ({limit})", request)
    return Resources(
        cpu_request=values["cpuRequest"],
        cpu_limit=values["cpuLimit"],
        memory_request=values["memoryRequest"],
        memory_limit=values["memoryLimit"],
        ephemeral_storage_request=values["ephemeralStorageRequest"],
        ephemeral_storage_limit=values["ephemeralStorageLimit"],
    )


def _inference(keys: _Keys, environment: str) -> InferenceConfig:
    min_replicas = keys.integer("inference.minReplicas", minimum=1)
    if environment == "prod" and min_replicas < 2:
        raise keys.fail("inference.minReplicas", ">= 2 in prod (one replica cannot survive a node drain)", min_replicas)
    max_replicas = keys.integer("inference.maxReplicas", minimum=1, maximum=1000)
    if max_replicas <= min_replicas:
        raise keys.fail("inference.maxReplicas", f"> inference.minReplicas ({min_replicas})", max_replicas)
    pre_stop = keys.integer("inference.preStopSleepSeconds", minimum=1, maximum=120)
    drain = keys.integer("inference.drainSeconds", minimum=1, maximum=600)
    return InferenceConfig(
        image_tag=_image_tag(keys, "inference.imageTag"),
        image=_image(keys, "inference.image"),
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_utilization=keys.integer("inference.targetCpuUtilization", minimum=10, maximum=95),
        scale_down_stabilization_seconds=keys.integer(
            "inference.scaleDownStabilizationSeconds", minimum=0, maximum=3600
        ),
        workers=keys.integer("inference.workers", minimum=1, maximum=64),
        model_name=keys.string(
            "inference.modelName", pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,255}", expected="a registered model name"
        ),
        model_alias=keys.string(
            "inference.modelAlias", pattern=r"[A-Za-z0-9_-]{1,255}", expected="a model alias (letters, digits, _ -)"
        ),
        reload_interval_seconds=keys.integer("inference.reloadIntervalSeconds", minimum=1, maximum=86400),
        cache_enabled=keys.boolean("inference.cacheEnabled"),
        cache_ttl_seconds=keys.integer("inference.cacheTtlSeconds", minimum=1, maximum=30 * 86400),
        startup_timeout_seconds=keys.integer("inference.startupTimeoutSeconds", minimum=10, maximum=3600),
        pre_stop_sleep_seconds=pre_stop,
        drain_seconds=drain,
        resources=_resources(keys, "inference"),
    )


def _ingress(keys: _Keys, environment: str) -> IngressConfig:
    scheme = keys.choice("ingress.scheme", ("internet-facing", "internal"))
    cidrs = keys.string_list("ingress.inboundCidrs", item=_is_cidr, expected="a list of IPv4/IPv6 CIDRs")
    return IngressConfig(
        scheme="internal" if scheme == "internal" else "internet-facing",
        certificate_arn=keys.optional_string(
            "ingress.certificateArn", pattern=_ACM_ARN, expected="an ACM certificate ARN"
        ),
        host=keys.optional_string("ingress.host", pattern=_HOSTNAME, expected="a DNS hostname"),
        access_logs_bucket=keys.optional_string(
            "ingress.accessLogsBucket", pattern=_BUCKET, expected="an S3 bucket name"
        ),
        access_logs_prefix=keys.string(
            "ingress.accessLogsPrefix", pattern=r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*", expected="an S3 prefix"
        ),
        waf_acl_arn=keys.optional_string(
            "ingress.wafAclArn", pattern=_WAF_ARN, expected="a regional WAFv2 web ACL ARN"
        ),
        inbound_cidrs=cidrs,
        deletion_protection=environment != "dev",
    )


def _mlflow(keys: _Keys, environment: str) -> MlflowConfig:
    replicas = keys.integer("mlflow.replicas", minimum=1, maximum=20)
    if environment == "prod" and replicas < 2:
        raise keys.fail("mlflow.replicas", ">= 2 in prod", replicas)
    ingress_enabled = keys.boolean("mlflow.ingressEnabled")
    host = keys.optional_string("mlflow.ingressHost", pattern=_HOSTNAME, expected="a DNS hostname")
    if ingress_enabled and host is None:
        # MLflow checks the Host header (--allowed-hosts); an ALB hostname is not known before it exists.
        raise keys.fail("mlflow.ingressHost", "set when mlflow.ingressEnabled is true")
    return MlflowConfig(
        image_tag=_image_tag(keys, "mlflow.imageTag"),
        image=_image(keys, "mlflow.image"),
        replicas=replicas,
        workers=keys.integer("mlflow.workers", minimum=1, maximum=32),
        artifact_prefix=keys.string(
            "mlflow.artifactPrefix", pattern=r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*", expected="an S3 prefix"
        ),
        admin_username=keys.string(
            "mlflow.adminUsername", pattern=r"[a-z][a-z0-9_-]{2,31}", expected="3-32 lowercase letters, digits, _ -"
        ),
        resources=_resources(keys, "mlflow"),
        ingress_enabled=ingress_enabled,
        ingress_host=host,
        ingress_certificate_arn=keys.optional_string(
            "mlflow.ingressCertificateArn", pattern=_ACM_ARN, expected="an ACM certificate ARN"
        ),
    )


def _training_job(keys: _Keys) -> TrainingJobConfig:
    enabled = keys.boolean("trainingJob.enabled")
    tag = keys.optional_string("trainingJob.imageTag", pattern=_IMAGE_TAG, expected="an image tag or sha256 digest")
    if tag is not None:
        tag = _image_tag(keys, "trainingJob.imageTag")
    image = _image(keys, "trainingJob.image")
    if enabled and tag is None and image is None:
        raise keys.fail("trainingJob.imageTag", "set (or trainingJob.image) when trainingJob.enabled is true")
    args = keys.string_list("trainingJob.args")
    if enabled and not args:
        raise keys.fail("trainingJob.args", "a non-empty list when trainingJob.enabled is true")
    return TrainingJobConfig(
        enabled=enabled,
        image_tag=tag,
        image=image,
        schedule=keys.optional_string("trainingJob.schedule", pattern=_CRON, expected="a five-field cron schedule"),
        args=args,
        active_deadline_seconds=keys.integer("trainingJob.activeDeadlineSeconds", minimum=60, maximum=86400),
        resources=_resources(keys, "trainingJob"),
    )


def _monitoring(keys: _Keys) -> MonitoringConfig:
    service_monitor = keys.boolean("monitoring.serviceMonitor")
    namespace = keys.optional_string("monitoring.prometheusNamespace", pattern=_DNS_LABEL, expected="a namespace")
    if service_monitor and namespace is None:
        # The NetworkPolicies admit the scrape only from a named namespace.
        raise keys.fail("monitoring.prometheusNamespace", "set when monitoring.serviceMonitor is true")
    return MonitoringConfig(
        scrape_annotations=keys.boolean("monitoring.scrapeAnnotations"),
        service_monitor=service_monitor,
        prometheus_namespace=namespace,
    )
