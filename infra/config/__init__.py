"""The typed, validated view of stack config: the only package that reads `pulumi.Config`.

Every project key is declared with its type, description and default in `Pulumi.yaml`; the CLI fills in
those defaults, so this module `require`s each key and owns only its validation. A missing or invalid key
raises `ConfigError` naming the key and what was expected, before any resource is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi

from infra.config.cloud import (
    ArtifactsConfig,
    CacheConfig,
    ClusterConfig,
    DatabaseConfig,
    NetworkConfig,
    NodeGroupConfig,
    RegistryConfig,
    read_artifacts,
    read_cluster,
    read_database,
    read_network,
    read_nodes,
    read_redis,
    read_registry,
)
from infra.config.keys import ENVIRONMENTS, KUBERNETES_VERSIONS, LOG_RETENTION_DAYS, PROJECT, ConfigError, Keys
from infra.config.workload import (
    InferenceConfig,
    IngressConfig,
    MlflowConfig,
    MonitoringConfig,
    Resources,
    TrainingJobConfig,
    image_reference,
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
    "PROJECT",
    "ArtifactsConfig",
    "CacheConfig",
    "ClusterConfig",
    "ConfigError",
    "DatabaseConfig",
    "InferenceConfig",
    "IngressConfig",
    "MlflowConfig",
    "MonitoringConfig",
    "NetworkConfig",
    "NodeGroupConfig",
    "PlatformConfig",
    "RegistryConfig",
    "Resources",
    "TrainingJobConfig",
    "image_reference",
    "load_config",
    "quantity",
]


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


def load_config() -> PlatformConfig:
    """Read and validate the current stack's config; raises `ConfigError` on the first bad key."""
    keys = Keys(PROJECT)
    environment = keys.choice("environment", ENVIRONMENTS)
    region = Keys("aws").string("region", pattern=r"[a-z]{2}(-[a-z]+)+-\d", expected="an AWS region")
    return PlatformConfig(
        stack=pulumi.get_stack(),
        environment="dev" if environment == "dev" else "staging" if environment == "staging" else "prod",
        name_prefix=keys.string(
            "namePrefix", pattern=r"[a-z][a-z0-9-]{1,14}", expected="2-15 lowercase letters, digits or -"
        ),
        region=region,
        network=read_network(keys),
        cluster=read_cluster(keys),
        nodes=read_nodes(keys, environment),
        redis=read_redis(keys, environment),
        database=read_database(keys, environment),
        artifacts=read_artifacts(keys),
        registry=read_registry(keys),
        # Workload layer (issue 4)
        inference=read_inference(keys, environment),
        ingress=read_ingress(keys, environment),
        mlflow=read_mlflow(keys, environment),
        training_job=read_training_job(keys),
        monitoring=read_monitoring(keys),
    )
