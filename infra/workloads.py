"""The workload layer wired together: namespaces and flows, MLflow, the inference service, the training Job.

It takes plain inputs (endpoints, secrets, repository URLs, the IRSA role), not the cloud components, so the
same wiring runs against a real cluster from `infra/stack.py` and against fakes in tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from infra import inference, mlflow, training_job
from infra.config import PlatformConfig, image_reference
from infra.inference import Inference, InferenceArgs, RedisEndpoint
from infra.kube import AlbSettings
from infra.mlflow import DatabaseEndpoint, Mlflow, MlflowArgs
from infra.namespaces import Cidrs, Flow, Namespaces, NamespacesArgs, Pods
from infra.training_job import TrainingJob, TrainingJobArgs

INFERENCE_NS = "inference"
MLFLOW_NS = "mlflow"
TRAINING_NS = "training"
INFERENCE_USER = "inference"
TRAINER_USER = "trainer"
REDIS_PORT = 6379
POSTGRES_PORT = 5432
HTTPS_PORT = 443
# Public S3 and STS endpoints: anywhere but private, link-local and carrier-grade NAT space, so the
# 443 egress that reaches them cannot reach the cluster API endpoint or other services inside the VPC.
NON_PUBLIC = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")


@dataclass(frozen=True)
class WorkloadsArgs:
    config: PlatformConfig
    # EKS minor version, e.g. "1.33": pins the Pod Security Admission version.
    kubernetes_version: str
    # ECR repository URL per image: "inference", "mlflow", "training".
    repositories: Mapping[str, pulumi.Input[str]]
    vpc_cidr: pulumi.Input[str]
    # Where Redis and RDS live; the only addresses their ports are opened to.
    private_subnet_cidrs: Sequence[pulumi.Input[str]]
    redis: RedisEndpoint
    database: DatabaseEndpoint
    artifact_bucket: pulumi.Input[str]
    mlflow_role_arn: pulumi.Input[str]
    # E.g. the LB controller: its webhook must be up before pods land in readiness-gated namespaces.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


@dataclass(frozen=True)
class Workloads:
    namespaces: dict[str, pulumi.Output[str]]
    mlflow: Mlflow
    inference: Inference
    training: TrainingJob | None


def flows(cfg: PlatformConfig, vpc_cidr: pulumi.Input[str], private: Sequence[pulumi.Input[str]]) -> list[Flow]:
    """Every connection the workloads may open or accept (besides DNS, which every namespace gets)."""
    inference_pods = Pods(INFERENCE_NS, inference.LABELS)
    mlflow_pods = Pods(MLFLOW_NS, mlflow.LABELS)
    private_subnets = Cidrs("private subnets (Redis, RDS)", private)
    vpc = Cidrs("the VPC (ALB nodes)", [vpc_cidr])
    result = [
        # target-type ip: the ALB connects from its own addresses in the VPC straight to the pods.
        Flow("alb-to-inference", vpc, inference_pods, inference.PORT),
        Flow("inference-to-mlflow", inference_pods, mlflow_pods, mlflow.PORT),
        Flow("inference-to-redis", inference_pods, private_subnets, REDIS_PORT),
        Flow("mlflow-bootstrap-to-mlflow", Pods(MLFLOW_NS, mlflow.BOOTSTRAP_LABELS), mlflow_pods, mlflow.PORT),
        Flow("mlflow-to-postgres", mlflow_pods, private_subnets, POSTGRES_PORT),
        # S3 for artifacts, and STS for the IRSA credential exchange.
        Flow("mlflow-to-aws-apis", mlflow_pods, Cidrs("public AWS endpoints", ["0.0.0.0/0"], NON_PUBLIC), HTTPS_PORT),
    ]
    if cfg.mlflow.ingress_enabled:
        result.append(Flow("alb-to-mlflow", vpc, mlflow_pods, mlflow.PORT))
    if cfg.training_job.enabled:
        result.append(Flow("training-to-mlflow", Pods(TRAINING_NS, training_job.LABELS), mlflow_pods, mlflow.PORT))
    if cfg.monitoring.prometheus_namespace:
        result.append(
            Flow("prometheus-to-inference", Pods(cfg.monitoring.prometheus_namespace), inference_pods, inference.PORT)
        )
    return result


def build_workloads(name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> Workloads:
    """Register the workload layer; `opts` carries the Kubernetes provider."""
    cfg = args.config
    base = opts or pulumi.ResourceOptions()
    gated = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(args.depends_on)))
    names = [INFERENCE_NS, MLFLOW_NS] + ([TRAINING_NS] if cfg.training_job.enabled else [])
    namespaces = Namespaces(
        f"{name}-namespaces",
        NamespacesArgs(
            names=names,
            kubernetes_version=args.kubernetes_version,
            flows=flows(cfg, args.vpc_cidr, args.private_subnet_cidrs),
            labels={"app.kubernetes.io/part-of": "ml-platform", "app.kubernetes.io/managed-by": "pulumi"},
        ),
        opts=gated,
    )
    ns = namespaces.names
    alb_tags = cfg.tags()

    users = [INFERENCE_USER] + ([TRAINER_USER] if cfg.training_job.enabled else [])
    tracking = Mlflow(
        f"{name}-mlflow",
        MlflowArgs(
            config=cfg.mlflow,
            namespace=ns[MLFLOW_NS],
            image=pulumi.Output.from_input(args.repositories["mlflow"]).apply(
                lambda repo: image_reference(repo, cfg.mlflow.image_tag)
            ),
            role_arn=args.mlflow_role_arn,
            region=cfg.region,
            artifact_bucket=args.artifact_bucket,
            database=args.database,
            users=users,
            alb=AlbSettings(
                scheme="internal",
                health_check_path="/health",
                tags=alb_tags,
                certificate_arn=cfg.mlflow.ingress_certificate_arn,
                inbound_cidrs=[args.vpc_cidr],
                access_logs_bucket=cfg.ingress.access_logs_bucket,
                access_logs_prefix="alb/mlflow",
                deletion_protection=cfg.ingress.deletion_protection,
                deregistration_delay_seconds=mlflow.DRAIN_SECONDS,
            )
            if cfg.mlflow.ingress_enabled
            else None,
        ),
        opts=gated,
    )

    ing = cfg.ingress
    service = Inference(
        f"{name}-inference",
        InferenceArgs(
            config=cfg.inference,
            monitoring=cfg.monitoring,
            namespace=ns[INFERENCE_NS],
            image=pulumi.Output.from_input(args.repositories["inference"]).apply(
                lambda repo: image_reference(repo, cfg.inference.image_tag)
            ),
            registry_uri=tracking.url,
            mlflow_username=INFERENCE_USER,
            mlflow_password=tracking.user_passwords[INFERENCE_USER],
            redis=args.redis,
            alb=AlbSettings(
                scheme=ing.scheme,
                health_check_path=inference.READY_PATH,
                tags=alb_tags,
                certificate_arn=ing.certificate_arn,
                # An internal ALB with no CIDRs configured stays reachable from the VPC only.
                inbound_cidrs=list(ing.inbound_cidrs) or ([args.vpc_cidr] if ing.scheme == "internal" else []),
                access_logs_bucket=ing.access_logs_bucket,
                access_logs_prefix=ing.access_logs_prefix,
                deletion_protection=ing.deletion_protection,
                waf_acl_arn=ing.waf_acl_arn,
                deregistration_delay_seconds=cfg.inference.drain_seconds,
            ),
            host=ing.host,
        ),
        opts=gated,
    )

    training = None
    if cfg.training_job.enabled:
        tag = cfg.training_job.image_tag
        assert tag is not None  # config requires it when enabled
        training = TrainingJob(
            f"{name}-training",
            TrainingJobArgs(
                config=cfg.training_job,
                namespace=ns[TRAINING_NS],
                image=pulumi.Output.from_input(args.repositories["training"]).apply(
                    lambda repo: image_reference(repo, tag)
                ),
                tracking_uri=tracking.url,
                mlflow_username=TRAINER_USER,
                mlflow_password=tracking.user_passwords[TRAINER_USER],
            ),
            opts=gated,
        )
    return Workloads(namespaces=ns, mlflow=tracking, inference=service, training=training)
