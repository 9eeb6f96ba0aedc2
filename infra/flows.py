"""Every connection the workloads may open, the one list their NetworkPolicies are made from (infra/namespaces.py),
and the addresses those flows name: the VPC's and its subnets' CIDRs, where an ALB connects to pods from.

`flows` is the full stack's list, `inference_flows` the inference service's share, which a preview stack uses for
its own namespace (infra/preview.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import inference, mlflow, mlflow_metrics, mlflow_schema, nginx, redis_exporter, training_job
from infra.cache import PORT as REDIS_PORT
from infra.config import PlatformConfig
from infra.database import PORT as POSTGRES_PORT
from infra.namespaces import Cidrs, Flow, Pods
from infra.network import NetworkRefs, isolated_cidrs, subnet_cidrs
from infra.security import HTTPS_PORT

INFERENCE_NS = "inference"
MLFLOW_NS = "mlflow"
TRAINING_NS = "training"
# Public S3 and STS endpoints: anywhere but private, link-local and carrier-grade NAT space, so the 443 egress
# that reaches them cannot reach the cluster's API endpoint or anything else inside the VPC.
NON_PUBLIC = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")
# Every preview namespace (pr-<N>) carries these labels; a stack hosting previews admits their inference pods
# to its MLflow by them, since it cannot name namespaces that come and go with pull requests.
PREVIEW_NAMESPACE_LABELS = {"ml-platform/preview": "true"}
MLFLOW_PODS = Pods(MLFLOW_NS, mlflow.LABELS)


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
    ]
    # S3 for artifacts, STS for the IRSA credential exchange, Secrets Manager for the database password (the
    # server's pgpass sidecar, the migration Job's pgpass init container; infra/db_passfile.py).
    aws_apis = Cidrs("public AWS endpoints", ["0.0.0.0/0"], NON_PUBLIC)
    migrate = Pods(MLFLOW_NS, mlflow_schema.LABELS)
    result += [
        Flow("mlflow-to-aws-apis", MLFLOW_PODS, aws_apis, HTTPS_PORT),
        Flow("mlflow-migrate-to-aws-apis", migrate, aws_apis, HTTPS_PORT),
    ]
    # With private DNS, STS and Secrets Manager (and S3, where a brought VPC has an interface endpoint for it)
    # resolve to endpoint addresses inside the VPC, which the rule above excludes: IRSA, the database password and
    # artifact I/O would then time out.
    endpoint_sets = []
    if cfg.network.vpc_endpoints:
        endpoint_sets.append(Cidrs("interface VPC endpoints (private subnets)", cidrs.private))
    if cfg.network.endpoint_cidrs:
        endpoint_sets.append(Cidrs("the brought VPC's interface endpoints", list(cfg.network.endpoint_cidrs)))
    for endpoints in endpoint_sets:
        result += [
            Flow("mlflow-to-vpc-endpoints", MLFLOW_PODS, endpoints, HTTPS_PORT),
            Flow("mlflow-migrate-to-vpc-endpoints", migrate, endpoints, HTTPS_PORT),
        ]
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
