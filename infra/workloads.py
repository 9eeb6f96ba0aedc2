"""The workload layer wired onto the cloud layer: namespaces and flows, MLflow, the inference service, training.

`flows` is the one list of every connection the workloads may open (`inference_flows` the inference service's
share, which a preview stack uses for its own namespace); `build_workloads` creates the components in order
(namespaces and their policies, then MLflow, then its clients), all after the LB controller.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import inference, mlflow, mlflow_metrics, mlflow_schema, nginx, redis_exporter, training_job
from infra.addons import Addons
from infra.cache import Redis
from infra.cluster import ClusterAccess
from infra.config import IngressConfig, PlatformConfig
from infra.database import Database
from infra.dns import Alias, Certificates, CertificatesArgs, Dns, DnsArgs, ZoneRef, lookup_zone
from infra.inference import Inference, InferenceArgs, RedisEndpoint
from infra.kube import AlbSettings
from infra.mlflow import ArtifactLocation, DatabaseEndpoint, Mlflow, MlflowArgs
from infra.monitoring import Monitoring, MonitoringArgs
from infra.namespaces import Cidrs, Flow, Namespaces, NamespacesArgs, Pods
from infra.network import NetworkRefs, isolated_cidrs, subnet_cidrs
from infra.nginx import NginxController, NginxControllerArgs, NlbSettings
from infra.redis_exporter import RedisExporter, RedisExporterArgs
from infra.storage import ALB_LOG_PREFIX, ArtifactStore
from infra.training_job import TrainingJob, TrainingJobArgs

INFERENCE_NS = "inference"
MLFLOW_NS = "mlflow"
TRAINING_NS = "training"
INFERENCE_USER = "inference"
TRAINER_USER = "trainer"
REDIS_PORT = 6379
POSTGRES_PORT = 5432
HTTPS_PORT = 443
# Public S3 and STS endpoints: anywhere but private, link-local and carrier-grade NAT space, so the 443 egress
# that reaches them cannot reach the cluster's API endpoint or anything else inside the VPC.
NON_PUBLIC = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")
# Every preview namespace (pr-<N>) carries these labels; a stack hosting previews admits their inference pods
# to its MLflow by them, since it cannot name namespaces that come and go with pull requests.
PREVIEW_NAMESPACE_LABELS = {"ml-platform/preview": "true"}
MLFLOW_PODS = Pods(MLFLOW_NS, mlflow.LABELS)
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


def inference_flows(
    namespace: str,
    alb_cidrs: Sequence[pulumi.Input[str]] | pulumi.Output[list[str]],
    data: Sequence[pulumi.Input[str]] | pulumi.Output[list[str]],
    prometheus_namespace: str | None,
    controller: str = "alb",
) -> list[Flow]:
    """The inference service's connections, wherever it runs (a full stack's `inference`, a preview's pr-<N>)."""
    pods = Pods(namespace, inference.LABELS)
    result = [
        # target-type ip: the ALB connects from its own addresses (in the subnets it is placed in) to the pods;
        # behind NGINX, only the controller's pods do.
        Flow("alb-to-inference", Cidrs("the ALB's subnets", alb_cidrs), pods, inference.PORT)
        if controller == "alb"
        else Flow("nginx-to-inference", nginx.CONTROLLER_PODS, pods, inference.PORT),
        Flow("inference-to-mlflow", pods, MLFLOW_PODS, mlflow.PORT),
        Flow("inference-to-redis", pods, Cidrs("data subnets (Redis)", data), REDIS_PORT),
    ]
    if prometheus_namespace:
        result.append(Flow("prometheus-to-inference", Pods(prometheus_namespace), pods, inference.PORT))
    return result


def alb_source_cidrs(
    scheme: str, public: Sequence[pulumi.Input[str]], internal_alb: Sequence[pulumi.Input[str]]
) -> list[pulumi.Input[str]]:
    """Where an ALB of `scheme` connects to pods from: the subnets it is placed in. An internet-facing ALB sits in
    the public subnets, an internal one in the internal-ALB subnets; no pod runs in either (the VPC CNI gives pods
    addresses of the nodes' private subnets), so no pod can pose as the ALB."""
    return list(public) if scheme == "internet-facing" else list(internal_alb)


def flows(
    cfg: PlatformConfig,
    cidrs: NetworkCidrs,
    alb_cidrs: Sequence[pulumi.Input[str]],
) -> list[Flow]:
    """Every connection the workloads may open or accept (besides DNS, which every namespace gets)."""
    data_subnets = Cidrs("data subnets (RDS)", cidrs.data)
    result = [
        *inference_flows(
            INFERENCE_NS, alb_cidrs, cidrs.data, cfg.monitoring.prometheus_namespace, cfg.ingress.controller
        ),
        Flow("mlflow-bootstrap-to-mlflow", Pods(MLFLOW_NS, mlflow.BOOTSTRAP_LABELS), MLFLOW_PODS, mlflow.PORT),
        Flow("mlflow-to-postgres", MLFLOW_PODS, data_subnets, POSTGRES_PORT),
        # The schema migration Job: the database only (its pods are not the server's, so not admitted above).
        Flow("mlflow-migrate-to-postgres", Pods(MLFLOW_NS, mlflow_schema.LABELS), data_subnets, POSTGRES_PORT),
        # S3 for artifacts, and STS for the IRSA credential exchange.
        Flow("mlflow-to-aws-apis", MLFLOW_PODS, Cidrs("public AWS endpoints", ["0.0.0.0/0"], NON_PUBLIC), HTTPS_PORT),
    ]
    # With private DNS, STS (and S3, where a brought VPC has an interface endpoint for it) resolve to endpoint
    # addresses inside the VPC, which the rule above excludes: IRSA and artifact I/O would then time out.
    if cfg.network.vpc_endpoints:
        endpoints = Cidrs("interface VPC endpoints (private subnets)", cidrs.private)
        result.append(Flow("mlflow-to-vpc-endpoints", MLFLOW_PODS, endpoints, HTTPS_PORT))
    if cfg.network.endpoint_cidrs:
        endpoints = Cidrs("the brought VPC's interface endpoints", list(cfg.network.endpoint_cidrs))
        result.append(Flow("mlflow-to-vpc-endpoints", MLFLOW_PODS, endpoints, HTTPS_PORT))
    prometheus = cfg.monitoring.prometheus_namespace
    if prometheus:
        exporter = Pods(INFERENCE_NS, redis_exporter.LABELS)
        result += [
            Flow("redis-exporter-to-redis", exporter, Cidrs("data subnets (Redis)", cidrs.data), REDIS_PORT),
            Flow("prometheus-to-redis-exporter", Pods(prometheus), exporter, redis_exporter.PORT),
            # The metrics listener's port only: MLflow's API port (and its own, admin-only /metrics) stays closed.
            Flow("prometheus-to-mlflow-metrics", Pods(prometheus), MLFLOW_PODS, mlflow_metrics.METRICS_PORT),
        ]
    if cfg.mlflow.ingress_enabled:
        internal_albs = Cidrs("the internal-ALB subnets", cidrs.internal_alb)
        result.append(Flow("alb-to-mlflow", internal_albs, MLFLOW_PODS, mlflow.PORT))
    if cfg.ingress.controller == "nginx":
        result += nginx.controller_flows(cidrs.vpc, alb_cidrs)
    if cfg.training_job.enabled:
        result.append(Flow("training-to-mlflow", Pods(TRAINING_NS, training_job.LABELS), MLFLOW_PODS, mlflow.PORT))
    if cfg.hosts_previews:
        previews = Pods("pr-<N>", inference.LABELS, namespace_labels=PREVIEW_NAMESPACE_LABELS)
        result.append(Flow("previews-to-mlflow", previews, MLFLOW_PODS, mlflow.PORT))
    return result


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


@dataclass(frozen=True)
class NetworkCidrs:
    """The VPC's CIDR and its subnets' CIDRs, by kind."""

    vpc: pulumi.Input[str]
    private: list[pulumi.Input[str]]
    public: list[pulumi.Input[str]]
    # Where Redis and RDS live: the data subnets, or the private ones (network.dataStoreSubnets).
    data: list[pulumi.Input[str]]
    internal_alb: list[pulumi.Input[str]]


def network_cidrs(cfg: PlatformConfig, network: NetworkRefs) -> NetworkCidrs:
    """The VPC's and its subnets' CIDRs: from config when built here, looked up when brought."""
    if not cfg.network.bring_your_own:
        public, private = subnet_cidrs(cfg.network.vpc_cidr, cfg.network.az_count)
        data, internal_alb = isolated_cidrs(cfg.network)
        stores = private if cfg.network.data_store_subnets == "private" else data
        return NetworkCidrs(cfg.network.vpc_cidr, list(private), list(public), list(stores), list(internal_alb))
    vpc = aws.ec2.get_vpc_output(id=network.vpc_id).cidr_block

    def cidrs(subnets: list[pulumi.Input[str]]) -> list[pulumi.Input[str]]:
        return [aws.ec2.get_subnet_output(id=subnet).cidr_block for subnet in subnets]

    return NetworkCidrs(
        vpc,
        cidrs(network.private_subnet_ids),
        cidrs(network.public_subnet_ids),
        cidrs(network.private_subnet_ids if cfg.network.data_store_subnets == "private" else network.data_subnet_ids),
        cidrs(network.internal_alb_subnet_ids),
    )


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
    vpc_cidr = cidrs.vpc
    alb_cidrs = alb_source_cidrs(cfg.ingress.scheme, cidrs.public, cidrs.internal_alb)
    # Every pod lands in a namespace the LB controller's webhook watches (readiness gates), so nothing is
    # created before the controller runs (on a brought cluster it already does).
    controller = [args.addons.load_balancer_controller] if args.addons is not None else []
    on_cluster = pulumi.ResourceOptions(providers=[cluster.provider], depends_on=controller)
    ing = cfg.ingress
    namespaces = Namespaces(
        name,
        NamespacesArgs(
            names=[INFERENCE_NS, MLFLOW_NS]
            + ([TRAINING_NS] if cfg.training_job.enabled else [])
            + ([nginx.NAMESPACE] if ing.controller == "nginx" else []),
            kubernetes_version=cluster.version,
            flows=flows(cfg, cidrs, alb_cidrs),
            labels={"app.kubernetes.io/part-of": "ml-platform", "app.kubernetes.io/managed-by": "pulumi"},
        ),
        opts=on_cluster,
    )
    # Pods start only once their namespace and its NetworkPolicies exist.
    after_namespaces = pulumi.ResourceOptions(providers=[cluster.provider], depends_on=[*controller, namespaces])
    alb_tags = cfg.tags()
    # Every ALB keeps access logs: in the configured bucket, else in the stack's access-log bucket.
    access_logs: pulumi.Input[str] = ing.access_logs_bucket or args.artifacts.access_log_bucket_name

    users = [INFERENCE_USER] + ([TRAINER_USER] if cfg.training_job.enabled else [])
    tracking = Mlflow(
        name,
        MlflowArgs(
            config=cfg.mlflow,
            namespace=MLFLOW_NS,
            image=args.images["mlflow"],
            cluster=cluster,
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
                password=args.database.password,
                instance_identifier=args.database.identifier,
            ),
            tags=cfg.tags(),
            users=users,
            monitoring=cfg.monitoring,
            alb=AlbSettings(
                scheme="internal",
                health_check_path="/health",
                tags=alb_tags,
                certificate_arn=cfg.mlflow.ingress_certificate_arn,
                inbound_cidrs=[vpc_cidr],
                access_logs_bucket=access_logs,
                access_logs_prefix=f"{ALB_LOG_PREFIX}/mlflow",
                deletion_protection=ing.deletion_protection,
                deregistration_delay_seconds=mlflow.DRAIN_SECONDS,
                subnet_ids=alb_subnets(cfg, args.network, "internal"),
            )
            if cfg.mlflow.ingress_enabled
            else None,
        ),
        opts=after_namespaces,
    )

    # The hosted zone is looked up and the certificates issued while the cluster is still being created: ACM's
    # validation (minutes) is off the critical path, and the Ingress waits for its issued certificate only.
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
    inference_alb = AlbSettings(
        scheme=ing.scheme,
        health_check_path=inference.READY_PATH,
        tags=alb_tags,
        certificate_arn=certificate_arn,
        inbound_cidrs=inbound_cidrs(ing, vpc_cidr),
        access_logs_bucket=access_logs,
        access_logs_prefix=ing.access_logs_prefix,
        deletion_protection=ing.deletion_protection,
        waf_acl_arn=ing.waf_acl_arn,
        deregistration_delay_seconds=cfg.inference.drain_seconds,
        subnet_ids=alb_subnets(cfg, args.network, ing.scheme),
    )
    # The Ingress waits for the controller: its admission webhook (failurePolicy Fail) must answer first.
    controller_ready = after_namespaces
    front = build_nginx(
        name, cfg, args.network, namespaces, (certificate_arn, certificates), access_logs, alb_cidrs, after_namespaces
    )
    if front is not None:
        controller_ready = pulumi.ResourceOptions.merge(after_namespaces, pulumi.ResourceOptions(depends_on=[front]))
    redis = RedisEndpoint(host=args.cache.primary_endpoint, port=args.cache.port, auth_token=args.cache.auth_token)
    service = Inference(
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
            alb=inference_alb,
            host=ing.host,
            public_details=ing.public_docs,
            nginx_rate_limit_rps=ing.nginx_rate_limit_rps if front is not None else None,
        ),
        opts=controller_ready,
    )

    # Redis metrics only where a Prometheus scrapes them (its namespace is what the NetworkPolicies admit).
    if cfg.monitoring.prometheus_namespace:
        RedisExporter(
            name, RedisExporterArgs(namespace=namespaces.names[INFERENCE_NS], redis=redis), opts=after_namespaces
        )

    # Its own component, not the service's: the Helm release takes minutes and must not hold the service back.
    if cfg.monitoring.install or cfg.monitoring.operator_objects:
        Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                config=cfg.monitoring,
                kubernetes_version=cluster.version,
                inference_namespace=namespaces.names[INFERENCE_NS],
                mlflow_namespace=namespaces.names[MLFLOW_NS],
                champion_alias=cfg.inference.model_alias,
                drift_threshold=cfg.inference.drift_threshold,
            ),
            opts=after_namespaces,
        )

    dns = None
    if zone is not None and ing.host is not None:
        # Behind NGINX the Ingress status carries the NLB's name (the controller's --publish-service).
        kind = "network" if front is not None else "application"
        aliases = {"inference": Alias(ing.host, service.alb_hostname)}
        dns = Dns(name, DnsArgs(aliases=aliases, zone=zone, load_balancer_type=kind))
    preview_ingress = None
    if cfg.preview_domain is not None:
        assert zone is not None and certificates is not None
        preview_ingress = PreviewIngress(
            domain=cfg.preview_domain,
            certificate_arn=certificates.arns["previews"],
            zone=zone,
            group_name=group_name(f"{name}-previews"),
            controller=ing.controller,
            rate_limit_rps=ing.nginx_rate_limit_rps,
        )

    training = None
    if cfg.training_job.enabled:
        training = TrainingJob(
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
            # A one-off run (dev's seed) starts once the server is rolled out and its `trainer` user exists.
            opts=pulumi.ResourceOptions(
                providers=[cluster.provider], depends_on=[*controller, namespaces, *tracking.ready]
            ),
        )
    return Workloads(
        namespaces=namespaces,
        mlflow=tracking,
        inference=service,
        training=training,
        inference_alb=inference_alb,
        vpc_cidr=vpc_cidr,
        private_subnet_cidrs=cidrs.private,
        data_subnet_cidrs=cidrs.data,
        alb_source_cidrs=alb_cidrs,
        certificates=certificates,
        dns=dns,
        preview_ingress=preview_ingress,
    )
