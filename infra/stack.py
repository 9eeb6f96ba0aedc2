"""Wires the components into one stack: `build(cfg)` registers every resource, `exports` says what leaves it.

A `full` stack builds the cloud layer (network, cluster, data stores, registry) and the workloads on it; with
`cluster.stackReference` or `cluster.kubeconfig` it brings its cluster instead of creating one. A `preview`
stack builds one inference service on a base stack's cluster (infra/preview.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import pulumi

from infra.addons import Addons, AddonsArgs
from infra.cache import Redis, RedisArgs
from infra.cluster import Cluster, ClusterArgs
from infra.config import PlatformConfig, PreviewStackConfig
from infra.data_store import DataStorePlacement
from infra.database import Database, DatabaseArgs
from infra.existing_cluster import ExistingCluster, ExistingClusterArgs
from infra.images import Images, ImagesArgs
from infra.network import Network, NetworkArgs, NetworkRefs
from infra.preview import (
    INFERENCE_MLFLOW_CREDENTIALS,
    REDIS_AUTH_TOKEN,
    SECRET_OUTPUTS,
    Preview,
    build_preview,
    credentials_document,
)
from infra.preview_access import PreviewAccess
from infra.registry import ImageRegistry, ImageRegistryArgs
from infra.shared_secrets import SharedSecrets, SharedSecretsArgs
from infra.storage import ArtifactStore, ArtifactStoreArgs
from infra.workloads import INFERENCE_USER, Workloads, WorkloadsArgs, build_workloads


@dataclass(frozen=True)
class Platform:
    """The built full stack: handles to what other stacks and the exports need."""

    config: PlatformConfig
    network: NetworkRefs
    cluster: Cluster | ExistingCluster
    # None on a brought cluster: it already runs its add-ons.
    addons: Addons | None
    cache: Redis
    artifacts: ArtifactStore
    database: Database
    registry: ImageRegistry
    images: Images
    workloads: Workloads
    # The Secrets Manager copies previews read; None unless the stack hosts previews.
    shared_secrets: SharedSecrets | None = None

    def exports(self) -> dict[str, pulumi.Input[object]]:
        """Stack outputs, also what previews and brought-cluster stacks read through a StackReference.

        Only the kubeconfig is sensitive, and it is a secret Output; secrets a preview needs leave as the ARNs of
        their Secrets Manager copies, never as values.
        """
        workloads = self.workloads
        exports: dict[str, pulumi.Input[object]] = {
            "environment": self.config.environment,
            "vpcId": self.network.vpc_id,
            "vpcCidr": workloads.vpc_cidr,
            "publicSubnetIds": self.network.public_subnet_ids,
            "privateSubnetIds": self.network.private_subnet_ids,
            "privateSubnetCidrs": workloads.private_subnet_cidrs,
            "dataSubnetIds": self.network.data_subnet_ids,
            "dataSubnetCidrs": workloads.data_subnet_cidrs,
            "internalAlbSubnetIds": self.network.internal_alb_subnet_ids,
            "albSourceCidrs": workloads.alb_source_cidrs,
            "clusterName": self.cluster.cluster_name,
            "kubernetesVersion": self.cluster.version,
            "kubeconfig": self.cluster.kubeconfig,
            "nodeSecurityGroupId": self.cluster.node_security_group_id,
            "oidcProviderArn": self.cluster.oidc_provider_arn,
            "oidcIssuerUrl": pulumi.Output.concat("https://", self.cluster.oidc_issuer),
            "redisEndpoint": self.cache.primary_endpoint,
            "redisPort": self.cache.port,
            "rdsEndpoint": self.database.address,
            "rdsPort": self.database.port,
            "artifactBucket": self.artifacts.bucket_name,
            "accessLogBucket": self.artifacts.access_log_bucket_name,
            "ecrRepositoryUrls": self.registry.repository_urls,
            # What the workloads run, by digest; previews build theirs for the same platform.
            "images": self.images.refs,
            "imagePlatform": self.config.nodes.image_platform,
            # Workload layer. The inference URL is https://<ingress.host> (the name the certificate covers); the ALB's
            # DNS name, as the LB controller reports it in the Ingress status, only for a stack without a host.
            "inferenceUrl": workloads.inference.url,
            "inferenceAlbHostname": workloads.inference.alb_hostname,
            "inferenceAlb": workloads.inference_alb.shared(),
            "mlflowUrl": workloads.mlflow.url,
            "namespaces": workloads.namespaces.names,
        }
        if workloads.preview_ingress is not None:
            exports["previewIngress"] = workloads.preview_ingress.shared()
        if isinstance(self.cluster, Cluster):
            # The security group a deploy runner in the VPC is launched with (docs/first-deploy.md).
            exports["deployRunnerSecurityGroupId"] = self.cluster.deploy_runner_security_group_id
        if self.shared_secrets is not None:
            for slug, output in SECRET_OUTPUTS.items():
                exports[output] = self.shared_secrets.arns[slug]
        return exports


def _network(cfg: PlatformConfig) -> NetworkRefs:
    if cfg.network.bring_your_own:
        assert cfg.network.vpc_id is not None
        return NetworkRefs(
            vpc_id=cfg.network.vpc_id,
            public_subnet_ids=list(cfg.network.public_subnet_ids),
            private_subnet_ids=list(cfg.network.private_subnet_ids),
            data_subnet_ids=list(cfg.network.data_subnet_ids),
            internal_alb_subnet_ids=list(cfg.network.internal_alb_subnet_ids),
        )
    return Network(cfg.name, NetworkArgs(config=cfg.network, tags=cfg.tags(), cluster_name=cfg.name)).refs()


def _cluster(cfg: PlatformConfig, network: NetworkRefs) -> Cluster | ExistingCluster:
    existing = cfg.cluster.existing
    if existing is None:
        return Cluster(
            cfg.name,
            ClusterArgs(
                cluster_name=cfg.name,
                config=cfg.cluster,
                nodes=cfg.nodes,
                region=cfg.region,
                vpc_id=network.vpc_id,
                private_subnet_ids=network.private_subnet_ids,
                tags=cfg.tags(),
            ),
        )
    if existing.stack_reference is not None:
        source = pulumi.StackReference(f"{cfg.name}-cluster", stack_name=existing.stack_reference)
        return ExistingCluster(cfg.name, ExistingClusterArgs.from_stack(source))
    return ExistingCluster(cfg.name, ExistingClusterArgs.from_config(existing, cfg.cluster.version))


@overload
def build(cfg: PlatformConfig) -> Platform: ...
@overload
def build(cfg: PreviewStackConfig) -> Preview: ...
def build(cfg: PlatformConfig | PreviewStackConfig) -> Platform | Preview:
    """Register every resource of the stack described by `cfg`."""
    if isinstance(cfg, PreviewStackConfig):
        return build_preview(cfg)
    return build_platform(cfg)


def build_platform(cfg: PlatformConfig) -> Platform:
    """Register every resource of the full stack described by `cfg`.

    Redis, RDS and S3 take from the cluster only its node security group, which is built from the VPC alone:
    they are created in parallel with EKS (10-20 minutes) instead of after it.
    """
    tags = cfg.tags()
    network = _network(cfg)
    cluster = _cluster(cfg, network)
    addons = None
    if isinstance(cluster, Cluster):
        addons = Addons(
            cfg.name,
            AddonsArgs(cluster=cluster, region=cfg.region, vpc_id=network.vpc_id, tags=tags),
            opts=pulumi.ResourceOptions(providers=[cluster.provider]),
        )
        if cfg.cluster.preview_role_arns:
            PreviewAccess(cfg.name, opts=pulumi.ResourceOptions(providers=[cluster.provider]))
    # Their own data subnets, or the pods' for a stack deployed before those existed (network.dataStoreSubnets).
    in_private = cfg.network.data_store_subnets == "private"
    placement = DataStorePlacement(
        vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids if in_private else network.data_subnet_ids,
        client_security_group_id=cluster.node_security_group_id,
        tags=tags,
    )
    cache = Redis(cfg.name, RedisArgs(config=cfg.redis, placement=placement))
    database = Database(cfg.name, DatabaseArgs(config=cfg.database, placement=placement))
    # Emptied by a destroy only where teardown.allowDataLoss says so (dev).
    data_loss = cfg.teardown.allow_data_loss
    artifacts = ArtifactStore(
        cfg.name, ArtifactStoreArgs(config=cfg.artifacts, region=cfg.region, tags=tags, force_destroy=data_loss)
    )
    registry = ImageRegistry(
        cfg.name, ImageRegistryArgs(config=cfg.registry, repository_prefix=cfg.name, tags=tags, force_delete=data_loss)
    )
    # Each image into the stack's own repository, before (and for) the pods that run it.
    running = ("inference", "mlflow") + (("training",) if cfg.training_job.enabled else ())
    images = Images(
        cfg.name,
        ImagesArgs(
            config=cfg.images,
            repository_urls={image: registry.repository_urls[image] for image in running},
            platform=cfg.nodes.image_platform,
        ),
    )
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
            images=images.refs,
        ),
    )
    shared_secrets = None
    if cfg.hosts_previews:
        password = workloads.mlflow.user_passwords[INFERENCE_USER]
        shared_secrets = SharedSecrets(
            cfg.name,
            SharedSecretsArgs(
                secrets={
                    REDIS_AUTH_TOKEN: cache.auth_token,
                    INFERENCE_MLFLOW_CREDENTIALS: password.apply(lambda pw: credentials_document(INFERENCE_USER, pw)),
                },
                tags=tags,
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
        images=images,
        workloads=workloads,
        shared_secrets=shared_secrets,
    )
