"""The typed, validated view of stack config: the only package that reads `pulumi.Config`.

Every project key is declared with its type, description and default in `Pulumi.yaml`; the CLI fills in
those defaults, so this module `require`s each key and owns only its validation. A missing or invalid key
raises `ConfigError` naming the key and what was expected, before any resource is registered.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal, TypedDict

import pulumi

from infra.config.cloud import (
    ArtifactsConfig,
    ClusterConfig,
    DatabaseConfig,
    ExistingClusterConfig,
    NetworkConfig,
    NodeGroupConfig,
    RedisConfig,
    RegistryConfig,
    TeardownConfig,
    read_artifacts,
    read_cluster,
    read_database,
    read_network,
    read_nodes,
    read_redis,
    read_registry,
    read_teardown,
)
from infra.config.dns import HostedZone
from infra.config.images import IMAGE_KEYS, ImagesConfig, read_images
from infra.config.keys import (
    ENVIRONMENTS,
    KUBERNETES_VERSIONS,
    LOG_RETENTION_DAYS,
    MAX_FULL_STACK_NAME,
    MODES,
    NAME_PREFIX_PATTERN,
    PROJECT,
    RESERVED_NAME_STARTS,
    STACK_NAME_PATTERN,
    ConfigError,
    Keys,
)
from infra.config.preview import (
    PreviewConfig,
    preview_host,
    read_full_mode_preview_keys,
    read_preview,
    read_preview_domain,
)
from infra.config.workload import (
    InferenceConfig,
    IngressConfig,
    MlflowConfig,
    MonitoringConfig,
    Resources,
    TrainingJobConfig,
    quantity,
    read_inference,
    read_ingress,
    read_mlflow,
    read_monitoring,
    read_training_job,
)

__all__ = [
    "ENVIRONMENTS",
    "KUBERNETES_VERSIONS",
    "LOG_RETENTION_DAYS",
    "MODES",
    "PROJECT",
    "ArtifactsConfig",
    "RedisConfig",
    "ClusterConfig",
    "ConfigError",
    "DatabaseConfig",
    "ExistingClusterConfig",
    "IMAGE_KEYS",
    "ImagesConfig",
    "HostedZone",
    "InferenceConfig",
    "IngressConfig",
    "MlflowConfig",
    "MonitoringConfig",
    "NetworkConfig",
    "NodeGroupConfig",
    "PlatformConfig",
    "PreviewConfig",
    "PreviewStackConfig",
    "RegistryConfig",
    "Resources",
    "TeardownConfig",
    "TrainingJobConfig",
    "load_config",
    "preview_host",
    "quantity",
]


@dataclass(frozen=True)
class StackConfig:
    """What every stack has, whatever its mode: its identity, naming and tags."""

    stack: str
    environment: Literal["dev", "staging", "prod"]
    name_prefix: str
    region: str

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


@dataclass(frozen=True)
class PlatformConfig(StackConfig):
    """A `full` stack: the cloud layer and the workloads, typed and validated."""

    network: NetworkConfig
    cluster: ClusterConfig
    nodes: NodeGroupConfig
    redis: RedisConfig
    database: DatabaseConfig
    artifacts: ArtifactsConfig
    registry: RegistryConfig
    # Workload layer: the inference service, its ingress, MLflow, the training Job, monitoring
    inference: InferenceConfig
    ingress: IngressConfig
    mlflow: MlflowConfig
    training_job: TrainingJobConfig
    monitoring: MonitoringConfig
    images: ImagesConfig
    # Pull-request previews run on this stack's cluster.
    hosts_previews: bool = False
    # Their hosts are pr-<N>.<preview_domain>, in ingress.hosted_zone; set exactly when hosts_previews.
    preview_domain: str | None = None
    teardown: TeardownConfig = TeardownConfig(allow_data_loss=False, release_protection=False)


@dataclass(frozen=True)
class PreviewStackConfig(StackConfig):
    """A `preview` stack: one inference service in namespace pr-<N> on a base stack's cluster."""

    preview: PreviewConfig
    # The service as configured, following `preview.model_alias`.
    inference: InferenceConfig
    monitoring: MonitoringConfig
    # Only the inference image: built into the base stack's inference repository, or a prebuilt digest.
    images: ImagesConfig
    # The base stack's ingress.controller (checked against its previewIngress output): behind NGINX a preview is a
    # host rule on the shared controller, behind the ALB an Ingress of the previews' IngressGroup.
    ingress_controller: Literal["alb", "nginx"] = "alb"


def load_config() -> PlatformConfig | PreviewStackConfig:
    """Read and validate the current stack's config; raises `ConfigError` on the first bad key."""
    keys = Keys(PROJECT)
    environment = keys.choice("environment", ENVIRONMENTS)
    region = Keys("aws").string("region", pattern=r"[a-z]{2}(-[a-z]+)+-\d", expected="an AWS region")
    stack = pulumi.get_stack()
    mode = keys.choice("mode", MODES)
    identity = StackConfig(
        stack=stack,
        environment="dev" if environment == "dev" else "staging" if environment == "staging" else "prod",
        name_prefix=_name_prefix(keys, stack, mode),
        region=region,
    )
    if mode == "preview":
        if keys.boolean("preview.hosting"):
            raise keys.fail("preview.hosting", "false when platform:mode is preview (a preview hosts no previews)")
        preview = read_preview(keys, stack)
        if keys.boolean("monitoring.install"):
            # One kube-prometheus-stack per cluster: the base stack's.
            raise keys.fail("monitoring.install", "false when platform:mode is preview")
        return PreviewStackConfig(
            **_identity(identity),
            preview=preview,
            inference=dataclasses.replace(read_inference(keys, environment), model_alias=preview.model_alias),
            monitoring=read_monitoring(keys, environment),
            images=read_images(keys, ("inference",), repository_prefix=None),
            ingress_controller="nginx" if keys.choice("ingress.controller", ("alb", "nginx")) == "nginx" else "alb",
        )
    hosts_previews = read_full_mode_preview_keys(keys)
    network = read_network(keys)
    cluster = read_cluster(keys)
    if cluster.existing is not None and not network.bring_your_own:
        raise keys.fail(
            "network.vpcId",
            "set (with network.privateSubnetIds) when the cluster is brought (cluster.stackReference or "
            "cluster.kubeconfig): Redis and RDS go into the cluster's VPC",
        )
    teardown = read_teardown(keys)
    ingress = read_ingress(keys, environment, region)
    if teardown.release_protection:
        # The ALB refuses deletion while its attribute is on: an `up` with this key lifts it before a destroy.
        ingress = dataclasses.replace(ingress, deletion_protection=False)
    if network.bring_your_own and ingress.scheme == "internet-facing" and len(network.public_subnet_ids) < 2:
        # The ALB is placed in exactly these (alb.ingress.kubernetes.io/subnets); AWS requires two AZs.
        raise keys.fail(
            "network.publicSubnetIds",
            "at least 2 subnet ids in different AZs when network.vpcId is set and ingress.scheme is internet-facing",
            list(network.public_subnet_ids),
        )
    mlflow = read_mlflow(keys, environment, region)
    internal_albs = ingress.scheme == "internal" or mlflow.ingress_enabled
    if network.bring_your_own and internal_albs and len(network.internal_alb_subnet_ids) < 2:
        # Internal ALBs are placed in exactly these, and the pods admit them from these alone: never the pods'
        # own subnets, or any pod could pose as the ALB.
        raise keys.fail(
            "network.internalAlbSubnetIds",
            "at least 2 subnet ids in different AZs when network.vpcId is set and an internal ALB exists "
            "(ingress.scheme internal or mlflow.ingressEnabled)",
            list(network.internal_alb_subnet_ids),
        )
    training_job = read_training_job(keys)
    return PlatformConfig(
        **_identity(identity),
        network=network,
        cluster=cluster,
        nodes=read_nodes(keys, environment),
        redis=read_redis(keys, environment),
        database=read_database(keys, environment, teardown),
        artifacts=read_artifacts(keys),
        registry=read_registry(keys),
        # Workload layer: the inference service, its ingress, MLflow, the training Job, monitoring
        inference=read_inference(keys, environment),
        ingress=ingress,
        mlflow=mlflow,
        training_job=training_job,
        monitoring=read_monitoring(keys, environment),
        images=read_images(
            keys,
            ("inference", "mlflow") + (("training",) if training_job.enabled else ()),
            repository_prefix=identity.name,
        ),
        hosts_previews=hosts_previews,
        preview_domain=read_preview_domain(keys, hosts_previews, ingress.hosted_zone),
        teardown=teardown,
    )


def _name_prefix(keys: Keys, stack: str, mode: str) -> str:
    """namePrefix, checked with the stack name it is joined to: `<namePrefix>-<stack>` starts every physical name."""
    prefix = keys.string(
        "namePrefix",
        pattern=NAME_PREFIX_PATTERN,
        expected="2-15 lowercase letters, digits or single inner hyphens, starting with a letter",
    )
    if not re.fullmatch(STACK_NAME_PATTERN, stack):
        raise ConfigError(
            f"the stack name {stack!r} must be lowercase letters, digits and single inner hyphens: "
            f"{keys.full('namePrefix')}-<stack> starts every physical name (ECR, RDS and ElastiCache refuse others)"
        )
    name = f"{prefix}-{stack}"
    reserved = next((start for start in RESERVED_NAME_STARTS if name.startswith(start)), None)
    if reserved is not None:
        raise keys.fail("namePrefix", f"such that {name!r} does not start with {reserved!r} (reserved by AWS)", prefix)
    if mode == "full" and len(name) > MAX_FULL_STACK_NAME:
        raise keys.fail(
            "namePrefix",
            f"short enough that <namePrefix>-<stack> is at most {MAX_FULL_STACK_NAME} characters "
            f"(ElastiCache replication group ids are at most 40), got {name!r} ({len(name)})",
        )
    return prefix


class _Identity(TypedDict):
    stack: str
    environment: Literal["dev", "staging", "prod"]
    name_prefix: str
    region: str


def _identity(identity: StackConfig) -> _Identity:
    """The identity's fields, to build a mode's config from."""
    return {
        "stack": identity.stack,
        "environment": identity.environment,
        "name_prefix": identity.name_prefix,
        "region": identity.region,
    }
