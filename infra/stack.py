"""Wires the components into one stack: `build(cfg)` registers every resource, `exports` says what leaves it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.addons import Addons, AddonsArgs
from infra.cache import Cache, CacheArgs
from infra.cluster import Cluster, ClusterArgs
from infra.config import PlatformConfig
from infra.database import Database, DatabaseArgs
from infra.network import Network, NetworkArgs, NetworkRefs
from infra.registry import Registry, RegistryArgs
from infra.storage import ArtifactStore, ArtifactStoreArgs
from infra.workloads import Workloads, WorkloadsArgs, build_workloads


@dataclass(frozen=True)
class Platform:
    """The built stack: handles to what other stacks and the exports need."""

    config: PlatformConfig
    network: NetworkRefs
    cluster: Cluster
    addons: Addons
    cache: Cache
    artifacts: ArtifactStore
    database: Database
    registry: Registry
    workloads: Workloads

    def exports(self) -> dict[str, pulumi.Input[object]]:
        """Stack outputs. Only the kubeconfig is sensitive, and it is a secret Output; passwords never leave."""
        return {
            "environment": self.config.environment,
            "vpcId": self.network.vpc_id,
            "publicSubnetIds": self.network.public_subnet_ids,
            "privateSubnetIds": self.network.private_subnet_ids,
            "clusterName": self.cluster.cluster_name,
            "kubeconfig": self.cluster.kubeconfig,
            "oidcProviderArn": self.cluster.oidc_provider_arn,
            "oidcIssuerUrl": pulumi.Output.concat("https://", self.cluster.oidc_issuer),
            "redisEndpoint": self.cache.primary_endpoint,
            "redisPort": self.cache.port,
            "rdsEndpoint": self.database.address,
            "rdsPort": self.database.port,
            "artifactBucket": self.artifacts.bucket_name,
            "ecrRepositoryUrls": self.registry.repository_urls,
            # Workload layer. The inference URL is the ALB's DNS name as the LB controller reports it in the
            # Ingress status (or https://<ingress.host> when a hostname is configured).
            "inferenceUrl": self.workloads.inference.url,
            "inferenceAlbHostname": self.workloads.inference.alb_hostname,
            "mlflowUrl": self.workloads.mlflow.url,
            "namespaces": self.workloads.namespaces.names,
        }


def _network(cfg: PlatformConfig) -> NetworkRefs:
    if cfg.network.bring_your_own:
        assert cfg.network.vpc_id is not None
        return NetworkRefs(
            vpc_id=cfg.network.vpc_id,
            public_subnet_ids=list(cfg.network.public_subnet_ids),
            private_subnet_ids=list(cfg.network.private_subnet_ids),
        )
    return Network(cfg.name, NetworkArgs(config=cfg.network, tags=cfg.tags(), cluster_name=cfg.name)).refs()


def build(cfg: PlatformConfig) -> Platform:
    """Register every resource of the stack described by `cfg`.

    Redis, RDS and S3 take from the cluster only its node security group, which is built from the VPC alone:
    they are created in parallel with EKS (10-20 minutes) instead of after it.
    """
    tags = cfg.tags()
    network = _network(cfg)
    cluster = Cluster(
        cfg.name,
        ClusterArgs(
            cluster_name=cfg.name,
            config=cfg.cluster,
            nodes=cfg.nodes,
            region=cfg.region,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            tags=tags,
        ),
    )
    addons = Addons(
        cfg.name,
        AddonsArgs(cluster=cluster, region=cfg.region, vpc_id=network.vpc_id, tags=tags),
        opts=pulumi.ResourceOptions(providers=[cluster.provider]),
    )
    cache = Cache(
        cfg.name,
        CacheArgs(
            config=cfg.redis,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            client_security_group_id=cluster.node_security_group_id,
            tags=tags,
        ),
    )
    database = Database(
        cfg.name,
        DatabaseArgs(
            config=cfg.database,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            client_security_group_id=cluster.node_security_group_id,
            tags=tags,
        ),
    )
    artifacts = ArtifactStore(cfg.name, ArtifactStoreArgs(config=cfg.artifacts, tags=tags))
    registry = Registry(cfg.name, RegistryArgs(config=cfg.registry, repository_prefix=cfg.name, tags=tags))
    workloads = build_workloads(
        cfg.name,
        WorkloadsArgs(
            config=cfg,
            network=network,
            cluster=cluster,
            addons=addons,
            cache=cache,
            database=database,
            artifacts=artifacts,
            registry=registry,
        ),
    )
    return Platform(
        config=cfg,
        network=network,
        cluster=cluster,
        addons=addons,
        cache=cache,
        artifacts=artifacts,
        database=database,
        registry=registry,
        workloads=workloads,
    )
