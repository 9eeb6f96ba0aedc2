"""The workload layer wired onto the cloud layer: namespaces and flows, MLflow, the inference service, training.

`build_workloads` creates the components in order (namespaces and their policies, from the flows of
infra/flows.py, then MLflow, then its clients), all after the LB controller.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from infra import inference, kube, mlflow, nginx
from infra.addons import Addons
from infra.cache import Redis
from infra.cluster import ClusterAccess
from infra.config import IngressConfig, PlatformConfig
from infra.database import Database
from infra.db_passfile import DatabaseEndpoint, DatabaseSecret
from infra.dns import Alias, Certificates, CertificatesArgs, Dns, DnsArgs, ZoneRef, lookup_zone
from infra.flows import INFERENCE_NS, MLFLOW_NS, TRAINING_NS, alb_source_cidrs, flows, network_cidrs
from infra.inference import Inference, InferenceArgs, RedisEndpoint
from infra.kube import AlbSettings
from infra.mlflow import ArtifactLocation, Mlflow, MlflowArgs
from infra.monitoring import Monitoring, MonitoringArgs
from infra.namespaces import Flow, Namespaces, NamespacesArgs
from infra.network import NetworkRefs
from infra.nginx import NginxController, NginxControllerArgs, NlbSettings
from infra.redis_exporter import RedisExporter, RedisExporterArgs
from infra.storage import ALB_LOG_PREFIX, ArtifactStore
from infra.training_job import TrainingJob, TrainingJobArgs

INFERENCE_USER = "inference"
TRAINER_USER = "trainer"
# LB controller v2.14.1 docs/guide/ingress/annotations.md, group.name: lowercase alphanumerics, '-' or '.',
# starting and ending with an alphanumeric, at most 63 characters.
MAX_GROUP_NAME = 63


@dataclass(frozen=True)
class WorkloadsArgs:
    config: PlatformConfig
    network: NetworkRefs
    cluster: ClusterAccess
    # None on a brought cluster, which must already run the AWS Load Balancer Controller.
    addons: Addons | None
    cache: Redis
    database: Database
    artifacts: ArtifactStore
    # What each workload runs, by digest (infra/images.py): inference, mlflow and, when enabled, training.
    images: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class PreviewIngress:
    """What a hosting stack gives its previews' Ingresses: one ALB for all of them (an IngressGroup), hosts
    pr-<N>.<domain> under one wildcard certificate it issues, and the zone their alias records go in."""

    domain: str
    certificate_arn: pulumi.Output[str]
    zone: ZoneRef
    group_name: str
    # ingress.controller: behind "nginx" previews are host rules on the shared controller, not IngressGroup members.
    controller: str = "alb"
    rate_limit_rps: int = 50

    def shared(self) -> dict[str, pulumi.Input[Any]]:
        """As a stack output, for the previews' StackReference (no secrets)."""
        return {
            "controller": self.controller,
            "rateLimitRps": self.rate_limit_rps,
            "domain": self.domain,
            "certificateArn": self.certificate_arn,
            "hostedZoneId": self.zone.zone_id,
            "hostedZoneName": self.zone.name,
            "groupName": self.group_name,
        }


@dataclass(frozen=True)
class Workloads:
    namespaces: Namespaces
    mlflow: Mlflow
    inference: Inference
    training: TrainingJob | None
    # What previews need to build the same ALB and NetworkPolicies (see Platform.exports).
    inference_alb: AlbSettings
    vpc_cidr: pulumi.Input[str]
    private_subnet_cidrs: list[pulumi.Input[str]]
    # Redis and RDS live there alone: the previews' Redis egress names them.
    data_subnet_cidrs: list[pulumi.Input[str]]
    # Where the inference ALB (and the previews' ALB, of the same scheme) connects to pods from.
    alb_source_cidrs: list[pulumi.Input[str]]
    # The certificates the stack issued: ingress.host's (unless given one), the previews' wildcard.
    certificates: Certificates | None = None
    # ingress.host's alias to the inference ALB (None without a hosted zone).
    dns: Dns | None = None
    # None unless the stack hosts previews.
    preview_ingress: PreviewIngress | None = None


def group_name(name: str) -> str:
    """A valid IngressGroup name for `name` (a stack's name may hold capitals and '_', and be long)."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    if len(cleaned) <= MAX_GROUP_NAME:
        return cleaned
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{cleaned[: MAX_GROUP_NAME - 9].rstrip('-.')}-{digest}"


def inbound_cidrs(ingress: IngressConfig, vpc_cidr: pulumi.Input[str]) -> list[pulumi.Input[str]]:
    """Who may reach the inference ALB: the configured CIDRs, else anyone (internet-facing) or the VPC (internal)."""
    return list(ingress.inbound_cidrs) or ([vpc_cidr] if ingress.scheme == "internal" else [])


def alb_subnets(cfg: PlatformConfig, network: NetworkRefs, scheme: str) -> list[pulumi.Input[str]]:
    """The subnets an ALB of `scheme` is placed in: a brought VPC's, named; none (tag discovery) in a VPC built
    here, whose public and internal-ALB subnets carry the kubernetes.io/role/elb and kubernetes.io/role/internal-elb
    tags (infra/network.py)."""
    if not cfg.network.bring_your_own:
        return []
    return list(network.internal_alb_subnet_ids if scheme == "internal" else network.public_subnet_ids)


def build_nginx(
    name: str,
    cfg: PlatformConfig,
    network: NetworkRefs,
    namespaces: Namespaces,
    certificates: tuple[pulumi.Input[str] | None, Certificates | None],
    access_logs: pulumi.Input[str],
    nlb_cidrs: Sequence[pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> NginxController | None:
    """The shared ingress-nginx controller behind one NLB (ingress.controller nginx), else None."""
    ing = cfg.ingress
    if ing.controller != "nginx":
        return None
    inference_arn, issued = certificates
    # The NLB serves the inference host's certificate, and by SNI the previews' wildcard when the stack hosts them.
    arns = [arn for arn in (inference_arn,) if arn is not None]
    if issued is not None and "previews" in issued.arns:
        arns.append(issued.arns["previews"])
    nlb = NlbSettings(
        scheme=ing.scheme,
        tags=cfg.tags(),
        certificate_arns=arns,
        access_logs_bucket=access_logs,
        deletion_protection=ing.deletion_protection,
        # Always explicit, so the Service states who may connect: anyone only when nothing narrower is configured.
        inbound_cidrs=list(ing.inbound_cidrs) or (["0.0.0.0/0"] if ing.scheme == "internet-facing" else nlb_cidrs),
        subnet_ids=alb_subnets(cfg, network, ing.scheme),
    )
    return NginxController(
        name,
        NginxControllerArgs(
            nlb=nlb,
            source_cidrs=nlb_cidrs,
            # Two replicas (spread over zones, a PDB) outside dev, as the services behind it have.
            replicas=1 if cfg.environment == "dev" else 2,
            namespace=namespaces.names[nginx.NAMESPACE],
        ),
        opts=opts,
    )


def build_workloads(name: str, args: WorkloadsArgs) -> Workloads:
    """Register the workload layer on the cluster of `args`."""
    cfg, cluster = args.config, args.cluster
    cidrs = network_cidrs(cfg, args.network)
    alb_cidrs = alb_source_cidrs(cfg.ingress.scheme, cidrs.public, cidrs.internal_alb)
    # Every pod lands in a namespace the LB controller's webhook watches (readiness gates), so nothing is
    # created before the controller runs (on a brought cluster it already does).
    controller = [args.addons.load_balancer_controller] if args.addons is not None else []
    on_cluster = pulumi.ResourceOptions(providers=[cluster.provider], depends_on=controller)
    namespaces = _namespaces(name, cfg, cluster.version, flows(cfg, cidrs, alb_cidrs), on_cluster)
    # Pods start only once their namespace and its NetworkPolicies exist.
    after_namespaces = pulumi.ResourceOptions(providers=[cluster.provider], depends_on=[*controller, namespaces])
    # Every ALB keeps access logs: in the configured bucket, else in the stack's access-log bucket.
    access_logs: pulumi.Input[str] = cfg.ingress.access_logs_bucket or args.artifacts.access_log_bucket_name
    tracking = _mlflow(name, args, cidrs.vpc, access_logs, after_namespaces)

    zone, certificates, certificate_arn = _certificates(name, cfg)
    inference_alb = _inference_alb(cfg, args.network, cidrs.vpc, certificate_arn, access_logs)
    # The Ingress waits for the controller: its admission webhook (failurePolicy Fail) must answer first.
    controller_ready = after_namespaces
    front = build_nginx(
        name, cfg, args.network, namespaces, (certificate_arn, certificates), access_logs, alb_cidrs, after_namespaces
    )
    if front is not None:
        controller_ready = pulumi.ResourceOptions.merge(after_namespaces, pulumi.ResourceOptions(depends_on=[front]))
    redis = RedisEndpoint(host=args.cache.primary_endpoint, port=args.cache.port, auth_token=args.cache.auth_token)
    service = _inference(name, args, tracking, redis, inference_alb, front is not None, controller_ready)
    _observability(name, cfg, cluster.version, namespaces, redis, after_namespaces)

    dns = None
    if zone is not None and cfg.ingress.host is not None:
        # Behind NGINX the Ingress status carries the NLB's name (the controller's --publish-service).
        kind = "network" if front is not None else "application"
        aliases = {"inference": Alias(cfg.ingress.host, service.alb_hostname)}
        dns = Dns(name, DnsArgs(aliases=aliases, zone=zone, load_balancer_type=kind))
    training = None
    if cfg.training_job.enabled:
        # A one-off run (dev's seed) starts once the server is rolled out and its `trainer` user exists.
        after_tracking = pulumi.ResourceOptions(
            providers=[cluster.provider], depends_on=[*controller, namespaces, *tracking.ready]
        )
        training = _training(name, args, tracking, after_tracking)
    return Workloads(
        namespaces=namespaces,
        mlflow=tracking,
        inference=service,
        training=training,
        inference_alb=inference_alb,
        vpc_cidr=cidrs.vpc,
        private_subnet_cidrs=cidrs.private,
        data_subnet_cidrs=cidrs.data,
        alb_source_cidrs=alb_cidrs,
        certificates=certificates,
        dns=dns,
        preview_ingress=_preview_ingress(name, cfg, zone, certificates),
    )


def _namespaces(
    name: str,
    cfg: PlatformConfig,
    kubernetes_version: pulumi.Input[str],
    allowed: list[Flow],
    opts: pulumi.ResourceOptions,
) -> Namespaces:
    """The workloads' namespaces, each default-deny but for the `allowed` flows."""
    return Namespaces(
        name,
        NamespacesArgs(
            names=[INFERENCE_NS, MLFLOW_NS]
            + ([TRAINING_NS] if cfg.training_job.enabled else [])
            + ([nginx.NAMESPACE] if cfg.ingress.controller == "nginx" else []),
            kubernetes_version=kubernetes_version,
            flows=allowed,
            labels=dict(kube.OWNER_LABELS),
        ),
        opts=opts,
    )


def _mlflow(
    name: str,
    args: WorkloadsArgs,
    vpc_cidr: pulumi.Input[str],
    access_logs: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> Mlflow:
    """The tracking server on the stack's database and artifact bucket, with a user per client (and, with
    mlflow.ingressEnabled, an internal ALB reachable from the VPC only)."""
    cfg = args.config
    alb = AlbSettings(
        scheme="internal",
        health_check_path="/health",
        tags=cfg.tags(),
        certificate_arn=cfg.mlflow.ingress_certificate_arn,
        inbound_cidrs=[vpc_cidr],
        access_logs_bucket=access_logs,
        access_logs_prefix=f"{ALB_LOG_PREFIX}/mlflow",
        deletion_protection=cfg.ingress.deletion_protection,
        deregistration_delay_seconds=mlflow.DRAIN_SECONDS,
        subnet_ids=alb_subnets(cfg, args.network, "internal"),
    )
    return Mlflow(
        name,
        MlflowArgs(
            config=cfg.mlflow,
            namespace=MLFLOW_NS,
            image=args.images["mlflow"],
            cluster=args.cluster,
            region=cfg.region,
            artifacts=ArtifactLocation(
                bucket_name=args.artifacts.bucket_name,
                bucket_arn=args.artifacts.bucket_arn,
                kms_key_arn=args.artifacts.kms_key_arn,
            ),
            database=DatabaseEndpoint(
                host=args.database.address,
                port=args.database.port,
                name=args.database.db_name,
                username=args.database.username,
                secret=DatabaseSecret(arn=args.database.secret_arn, kms_key_arn=args.database.secret_kms_key_arn),
                instance_identifier=args.database.identifier,
            ),
            tags=cfg.tags(),
            users=[INFERENCE_USER] + ([TRAINER_USER] if cfg.training_job.enabled else []),
            monitoring=cfg.monitoring,
            alb=alb if cfg.mlflow.ingress_enabled else None,
        ),
        opts=opts,
    )


def _certificates(
    name: str, cfg: PlatformConfig
) -> tuple[ZoneRef | None, Certificates | None, pulumi.Input[str] | None]:
    """The hosted zone, the certificates the stack issues (ingress.host's, the previews' wildcard), and the
    inference host's certificate ARN: issued here, or ingress.certificateArn, or None.

    The zone is looked up and the certificates issued while the cluster is still being created: ACM's validation
    (minutes) is off the critical path, and the Ingress waits for its issued certificate only.
    """
    ing = cfg.ingress
    zone = lookup_zone(ing.hosted_zone) if ing.hosted_zone is not None else None
    domains = {"inference": ing.host} if ing.issues_certificate and ing.host is not None else {}
    if cfg.preview_domain is not None:
        domains["previews"] = f"*.{cfg.preview_domain}"
    certificates = None
    if domains:
        assert zone is not None  # config requires a zone to issue a certificate or host previews
        certificates = Certificates(name, CertificatesArgs(domains=domains, zone=zone, tags=cfg.tags()))
    certificate_arn: pulumi.Input[str] | None = ing.certificate_arn
    if certificates is not None and "inference" in certificates.arns:
        certificate_arn = certificates.arns["inference"]
    return zone, certificates, certificate_arn


def _inference_alb(
    cfg: PlatformConfig,
    network: NetworkRefs,
    vpc_cidr: pulumi.Input[str],
    certificate_arn: pulumi.Input[str] | None,
    access_logs: pulumi.Input[str],
) -> AlbSettings:
    """The inference ALB, as ingress.* configures it (the previews of a hosting stack get the same)."""
    ing = cfg.ingress
    return AlbSettings(
        scheme=ing.scheme,
        health_check_path=inference.READY_PATH,
        tags=cfg.tags(),
        certificate_arn=certificate_arn,
        inbound_cidrs=inbound_cidrs(ing, vpc_cidr),
        access_logs_bucket=access_logs,
        access_logs_prefix=ing.access_logs_prefix,
        deletion_protection=ing.deletion_protection,
        waf_acl_arn=ing.waf_acl_arn,
        deregistration_delay_seconds=cfg.inference.drain_seconds,
        subnet_ids=alb_subnets(cfg, network, ing.scheme),
    )


def _inference(
    name: str,
    args: WorkloadsArgs,
    tracking: Mlflow,
    redis: RedisEndpoint,
    alb: AlbSettings,
    behind_nginx: bool,
    opts: pulumi.ResourceOptions,
) -> Inference:
    """The inference service, following inference.modelAlias in MLflow's registry as its `inference` user."""
    cfg = args.config
    return Inference(
        name,
        InferenceArgs(
            config=cfg.inference,
            monitoring=cfg.monitoring,
            namespace=INFERENCE_NS,
            image=args.images["inference"],
            registry_uri=tracking.url,
            mlflow_username=INFERENCE_USER,
            mlflow_password=tracking.user_passwords[INFERENCE_USER],
            redis=redis,
            alb=alb,
            host=cfg.ingress.host,
            public_details=cfg.ingress.public_docs,
            nginx_rate_limit_rps=cfg.ingress.nginx_rate_limit_rps if behind_nginx else None,
        ),
        opts=opts,
    )


def _observability(
    name: str,
    cfg: PlatformConfig,
    kubernetes_version: pulumi.Input[str],
    namespaces: Namespaces,
    redis: RedisEndpoint,
    opts: pulumi.ResourceOptions,
) -> None:
    """Redis metrics and the Prometheus stack's objects, where monitoring.* asks for them."""
    # Redis metrics only where a Prometheus scrapes them (its namespace is what the NetworkPolicies admit).
    if cfg.monitoring.prometheus_namespace:
        RedisExporter(name, RedisExporterArgs(namespace=namespaces.names[INFERENCE_NS], redis=redis), opts=opts)
    # Its own component, not the service's: the Helm release takes minutes and must not hold the service back.
    if cfg.monitoring.install or cfg.monitoring.operator_objects:
        Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                config=cfg.monitoring,
                kubernetes_version=kubernetes_version,
                inference_namespace=namespaces.names[INFERENCE_NS],
                mlflow_namespace=namespaces.names[MLFLOW_NS],
                champion_alias=cfg.inference.model_alias,
                drift_threshold=cfg.inference.drift_threshold,
            ),
            opts=opts,
        )


def _preview_ingress(
    name: str, cfg: PlatformConfig, zone: ZoneRef | None, certificates: Certificates | None
) -> PreviewIngress | None:
    """What the stack's previews share (None unless it hosts them)."""
    if cfg.preview_domain is None:
        return None
    assert zone is not None and certificates is not None
    return PreviewIngress(
        domain=cfg.preview_domain,
        certificate_arn=certificates.arns["previews"],
        zone=zone,
        group_name=group_name(f"{name}-previews"),
        controller=cfg.ingress.controller,
        rate_limit_rps=cfg.ingress.nginx_rate_limit_rps,
    )


def _training(name: str, args: WorkloadsArgs, tracking: Mlflow, opts: pulumi.ResourceOptions) -> TrainingJob:
    """The training Job, logging to MLflow as its `trainer` user."""
    cfg = args.config
    return TrainingJob(
        name,
        TrainingJobArgs(
            config=cfg.training_job,
            namespace=TRAINING_NS,
            image=args.images["training"],
            tracking_uri=tracking.url,
            mlflow_username=TRAINER_USER,
            mlflow_password=tracking.user_passwords[TRAINER_USER],
            model_name=cfg.inference.model_name,
            model_alias=cfg.inference.model_alias,
        ),
        opts=opts,
    )
