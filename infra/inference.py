"""The inference service on the cluster: Deployment scaled by an HPA, behind an ALB, reading MLflow and Redis.

The pods need no AWS access (artifacts come through MLflow's proxied artifact serving) and no Kubernetes API
access. Settings reach the service as `SERVING_*` variables from a ConfigMap; credentials as files.

A new stack's registry is empty, and only readiness depends on a model (docs/first-deploy.d/bootstrap.md):
startup and liveness probe the process (`/health/live`), readiness and the ALB the model (`/health/ready`), so
the pods run, unready, until a version carries the alias, then turn Ready with no restart. Nothing `pulumi up`
waits for needs a model: an image-check Job proves the image and its settings load (Gunicorn `--check-config`
builds the app) before the Deployment rolls, and the Deployment is awaited only until its pods exist
(`pulumi.com/waitFor`), not until they are Ready; the HPA and PDB follow at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import kube, nginx
from infra.config import InferenceConfig, MonitoringConfig

NAME = "inference"
PORT = 8000
LABELS = kube.pod_labels(NAME, "server")
SECRETS_DIR = "/var/run/secrets/serving"
METRICS_PATH = "/metrics"
READY_PATH = "/health/ready"
LIVE_PATH = "/health/live"
# The image's CMD (service/Dockerfile); the image check runs it with --check-config.
SERVER_COMMAND = ("gunicorn", "-c", "service/gunicorn.conf.py", "service.app:create_app()")
IMAGE_CHECK_DEADLINE_SECONDS = 300
# What Pulumi awaits of the Deployment instead of its built-in rollout check (pulumi-kubernetes 4.x
# provider/pkg/await/deployment.go: the Deployment's `Available` condition, i.e. every replica Ready, which here
# means a model is loaded, and through the ALB readiness gate healthy in its target group). A JSONPath
# `pulumi.com/waitFor` replaces that check (provider/pkg/metadata/overrides.go `ReadyCondition`): it is met once the
# controller has observed this generation and created pods of its template, i.e. admission (Pod Security, the LB
# controller's webhook) let them in. That the image starts is the image check's job.
DEPLOYMENT_WAIT_FOR = "jsonpath={.status.updatedReplicas}"
# What the ALB forwards; everything else (e.g. /metrics) gets the ALB's 404 and stays in-cluster. Exact, so
# /health (model, last rejected version and why, cache, drift) is not reached through a /health prefix.
# The Open Inference Protocol (V2) takes the model name (and version) in its inference and model-readiness
# paths, which neither Exact nor Prefix can match without also matching the model's metadata. An
# ImplementationSpecific path is the ALB path pattern itself (aws-load-balancer-controller v2.14.1
# pkg/ingress/model_build_listener_rules.go `buildPathPatternsForImplementationSpecificPathType`), where `*` matches
# any characters (ELBv2 PathPatternConfig): `/v2/models/*/infer` covers `/v2/models/{name}/infer` and
# `/v2/models/{name}/versions/{version}/infer`, and nothing else the service answers.
PUBLIC_PATHS: tuple[tuple[str, str], ...] = (
    ("/predict", "Exact"),
    ("/invocations", "Exact"),
    (READY_PATH, "Exact"),
    ("/v2/health/ready", "Exact"),
    ("/v2/models/*/infer", "ImplementationSpecific"),
    ("/v2/models/*/ready", "ImplementationSpecific"),
)
# Routed too only when the stack opts in (ingress.publicDocs): they describe the service to whoever asks (the V2
# server and model metadata: version, signature, platform).
DETAIL_PATHS: tuple[tuple[str, str], ...] = (
    ("/health", "Exact"),
    ("/version", "Exact"),
    ("/docs", "Prefix"),
    ("/openapi.json", "Exact"),
    ("/v2", "Exact"),
    ("/v2/models", "Prefix"),
)


@dataclass(frozen=True)
class RedisEndpoint:
    """ElastiCache Redis with TLS and AUTH; `auth_token` stays a secret Output."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    auth_token: pulumi.Input[str]


@dataclass(frozen=True)
class InferenceArgs:
    """One code path for every stack: a full stack passes its own services, a preview its base stack's."""

    config: InferenceConfig
    monitoring: MonitoringConfig
    namespace: str
    image: pulumi.Input[str]
    registry_uri: pulumi.Input[str]
    mlflow_username: pulumi.Input[str]
    mlflow_password: pulumi.Input[str]
    redis: RedisEndpoint
    alb: kube.AlbSettings
    # The host the Ingress rule matches and the URL names (covered by alb.certificate_arn); None matches any host.
    host: pulumi.Input[str] | None = None
    # Prepended to every cache key: a preview sharing a Redis never reads or overwrites another's entries.
    cache_key_prefix: str = ""
    # Route DETAIL_PATHS through the ALB as well (ingress.publicDocs); previews never do.
    public_details: bool = False
    # Set when the shared ingress-nginx controller serves the Ingress (ingress.controller nginx): its limit-rps.
    nginx_rate_limit_rps: pulumi.Input[int] | None = None


def redis_url(redis: RedisEndpoint) -> pulumi.Output[str]:
    """`rediss://` (TLS) with the AUTH token, database 0."""
    return pulumi.Output.all(redis.host, redis.port, redis.auth_token).apply(
        lambda v: f"rediss://:{quote(str(v[2]), safe='')}@{v[0]}:{int(v[1])}/0"
    )


def routed_paths(public_details: bool) -> tuple[tuple[str, str], ...]:
    """The Ingress paths (path, pathType) the ALB forwards to the service."""
    return PUBLIC_PATHS + (DETAIL_PATHS if public_details else ())


class Inference(pulumi.ComponentResource):
    """ServiceAccount, ConfigMap, Secret, Deployment, Service, HPA, PDB, ALB Ingress (its ServiceMonitor and
    PrometheusRule: infra/monitoring.py)."""

    alb_hostname: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: InferenceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Inference", name, None, opts)
        cfg = args.config
        child = kube.child_options(self, opts)
        name = f"{name}-{NAME}"
        labels = kube.object_labels(NAME, "server")
        namespace = args.namespace

        sa = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": NAME, "namespace": namespace, "labels": labels},
            automount_service_account_token=False,
            opts=child,
        )
        settings = _settings(f"{name}-settings", args, labels, child)
        secret = _credentials(name, args, labels, child)
        container = _server_container(args, settings.metadata.name)
        volumes = [
            kube.tmp_volume(cfg.resources.ephemeral_storage_limit),
            kube.secret_volume("credentials", secret.metadata.name),
        ]
        check = _image_check(f"{name}-image-check", namespace, container, volumes, sa.metadata.name, child)
        # A broken image or setting fails the check and the `up`, and the running pods are left alone.
        after_check = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[check]))
        deployment = _deployment(f"{name}-deployment", args, labels, container, volumes, sa.metadata.name, after_check)
        service = kube.cluster_ip_service(
            f"{name}-service", name=NAME, namespace=namespace, labels=labels, selector=LABELS, port=PORT, opts=child
        )
        _autoscaler(f"{name}-hpa", args, labels, deployment.metadata.name, child)
        kube.disruption_budget(
            f"{name}-pdb", name=NAME, namespace=namespace, labels=LABELS, metadata_labels=labels, opts=child
        )
        ingress = self._ingress(f"{name}-ingress", args, labels, service.metadata.name, child)
        # The LB controller writes the ALB's DNS name into the Ingress status; Pulumi waits for it.
        self.alb_hostname = ingress.status.apply(lambda status: _alb_hostname(status, namespace))
        # Clients call the host the certificate names; the ALB's own DNS name only when there is no host.
        self.url = pulumi.Output.all(args.alb.certificate_arn, args.host, self.alb_hostname).apply(
            lambda v: f"{kube.url_scheme(v[0])}://{v[1] or v[2]}" if v[1] or v[2] else ""
        )
        self.register_outputs({"albHostname": self.alb_hostname, "url": self.url})

    def _ingress(
        self,
        resource_name: str,
        args: InferenceArgs,
        labels: dict[str, str],
        service_name: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> k8s.networking.v1.Ingress:
        """The Ingress routing `routed_paths` to the Service: an ALB of its own, or a host rule on the shared
        ingress-nginx controller."""
        # A preview's settings are its base stack's Outputs; the base stack already made its choice visible.
        if args.alb.certificate_arn is None:
            pulumi.log.warn(
                "ingress.allowPlainHttp is true and the stack has no certificate (neither ingress.certificateArn nor "
                "a host with a hosted zone to issue one for): the inference ALB serves plain HTTP on port 80 only.",
                resource=self,
            )
        if args.alb.access_logs_bucket is None:
            pulumi.log.warn(
                "ingress.accessLogsBucket is not set: the inference ALB keeps no access logs", resource=self
            )
        rule: k8s.networking.v1.IngressRuleArgsDict = {
            "http": {
                "paths": [
                    {
                        "path": path,
                        "path_type": path_type,
                        "backend": {"service": {"name": service_name, "port": {"name": "http"}}},
                    }
                    for path, path_type in routed_paths(args.public_details)
                ]
            }
        }
        if args.host is not None:
            rule["host"] = args.host
        return k8s.networking.v1.Ingress(
            resource_name,
            metadata={
                "name": NAME,
                "namespace": args.namespace,
                "labels": labels,
                "annotations": kube.alb_annotations(args.alb)
                if args.nginx_rate_limit_rps is None
                else nginx.ingress_annotations(args.nginx_rate_limit_rps),
            },
            spec={
                "ingress_class_name": "alb" if args.nginx_rate_limit_rps is None else nginx.INGRESS_CLASS,
                "rules": [rule],
            },
            opts=opts,
        )


def _settings(
    resource_name: str, args: InferenceArgs, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.ConfigMap:
    """The service's settings, as the `SERVING_*` variables service/settings.py reads."""
    cfg = args.config
    return k8s.core.v1.ConfigMap(
        resource_name,
        metadata={"namespace": args.namespace, "labels": labels},
        data={
            "SERVING_REGISTRY_URI": args.registry_uri,
            "SERVING_MODEL_NAME": cfg.model_name,
            "SERVING_MODEL_ALIAS": cfg.model_alias,
            "SERVING_RELOAD_INTERVAL_S": str(cfg.reload_interval_seconds),
            "SERVING_CACHE_ENABLED": str(cfg.cache_enabled).lower(),
            "SERVING_CACHE_TTL_S": str(cfg.cache_ttl_seconds),
            "SERVING_CACHE_KEY_PREFIX": args.cache_key_prefix,
            "SERVING_CHALLENGER_ALIAS": cfg.challenger_alias or "",
            "SERVING_SHADOW_FRACTION": str(cfg.shadow_fraction),
            "SERVING_AB_WEIGHTS": cfg.ab_weights or "",
            "SERVING_DRIFT_THRESHOLD": str(cfg.drift_threshold),
            "WEB_CONCURRENCY": str(cfg.workers),
        },
        opts=opts,
    )


def _credentials(
    name: str, args: InferenceArgs, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """What the pods read as files under SECRETS_DIR: the Redis URL, the cache signing key, MLflow's login."""
    # Signs every cached prediction (service/core/cache.py): only these pods hold it, so whoever else can
    # write to Redis (every preview shares dev's) cannot choose an answer. Each stack and preview has its own.
    signing_key = random.RandomPassword(f"{name}-cache-signing-key", length=64, special=False, opts=opts)
    return k8s.core.v1.Secret(
        f"{name}-credentials",
        metadata={"namespace": args.namespace, "labels": labels},
        type="Opaque",
        string_data={
            "redis-url": redis_url(args.redis),
            "cache-signing-key": signing_key.result,
            "mlflow-username": args.mlflow_username,
            "mlflow-password": args.mlflow_password,
        },
        opts=opts,
    )


def _server_container(args: InferenceArgs, settings_name: pulumi.Input[str]) -> k8s.core.v1.ContainerArgsDict:
    """The server's container: settings from the ConfigMap, credentials as files, probes, preStop, limits."""
    cfg = args.config
    return {
        "name": NAME,
        "image": args.image,
        "image_pull_policy": "IfNotPresent",
        "ports": [{"name": "http", "container_port": PORT, "protocol": "TCP"}],
        "env_from": [{"config_map_ref": {"name": settings_name}}],
        "env": [
            {"name": "SERVING_CACHE_URL_FILE", "value": f"{SECRETS_DIR}/redis-url"},
            {"name": "SERVING_CACHE_SIGNING_KEY_FILE", "value": f"{SECRETS_DIR}/cache-signing-key"},
            {"name": "SERVING_MLFLOW_USERNAME_FILE", "value": f"{SECRETS_DIR}/mlflow-username"},
            {"name": "SERVING_MLFLOW_PASSWORD_FILE", "value": f"{SECRETS_DIR}/mlflow-password"},
            # Gunicorn's graceful timeout: how long in-flight requests get after SIGTERM.
            {"name": "SERVING_GRACEFUL_TIMEOUT", "value": str(cfg.drain_seconds)},
            *kube.tmp_env(),
        ],
        # Startup and liveness: "the process answers", so an empty registry, an MLflow or a Redis outage never
        # restarts the pods (startup still allows for the first model load, which holds the listening socket
        # for up to SERVING_STARTUP_LOAD_TIMEOUT_S). Readiness: "a model is loaded".
        "startup_probe": kube.http_probe(
            LIVE_PATH, "http", period=5, failures=math.ceil(cfg.startup_timeout_seconds / 5)
        ),
        "readiness_probe": kube.http_probe(READY_PATH, "http", period=5, failures=2),
        "liveness_probe": kube.http_probe(LIVE_PATH, "http", period=10, failures=3, timeout=3),
        # Keep serving while the ALB deregisters the pod; then SIGTERM lets Gunicorn drain.
        "lifecycle": {"pre_stop": {"sleep": {"seconds": cfg.pre_stop_sleep_seconds}}},
        "resources": kube.resources(cfg.resources),
        "security_context": kube.container_security_context(),
        "volume_mounts": [
            kube.tmp_mount(),
            {"name": "credentials", "mount_path": SECRETS_DIR, "read_only": True},
        ],
    }


def _deployment(
    resource_name: str,
    args: InferenceArgs,
    labels: dict[str, str],
    container: k8s.core.v1.ContainerArgsDict,
    volumes: list[k8s.core.v1.VolumeArgsDict],
    service_account: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.Deployment:
    """The server's Deployment, awaited only until its pods exist (DEPLOYMENT_WAIT_FOR)."""
    cfg = args.config
    annotations = (
        {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT), "prometheus.io/path": METRICS_PATH}
        if args.monitoring.scrape_annotations
        else {}
    )
    return k8s.apps.v1.Deployment(
        resource_name,
        metadata={
            "name": NAME,
            "namespace": args.namespace,
            "labels": labels,
            "annotations": {"pulumi.com/waitFor": DEPLOYMENT_WAIT_FOR},
        },
        # No `replicas`: the HPA owns the scale, and `pulumi up` must never reset it.
        spec={
            "revision_history_limit": 5,
            "progress_deadline_seconds": cfg.startup_timeout_seconds + 300,
            "selector": {"match_labels": LABELS},
            "strategy": kube.rolling_update(),
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": kube.pod_spec(
                    [container],
                    volumes,
                    service_account=service_account,
                    spread_labels=LABELS,
                    grace_seconds=kube.termination_grace_seconds(cfg.pre_stop_sleep_seconds, cfg.drain_seconds),
                ),
            },
        },
        opts=opts,
    )


def _autoscaler(
    resource_name: str,
    args: InferenceArgs,
    labels: dict[str, str],
    deployment_name: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    """The HPA on CPU: scales up at once (double, or four pods, every 30 s), down slowly (a quarter a minute,
    after inference.scaleDownStabilizationSeconds)."""
    cfg = args.config
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        resource_name,
        metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
        spec={
            "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": deployment_name},
            "min_replicas": cfg.min_replicas,
            "max_replicas": cfg.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "average_utilization": cfg.target_cpu_utilization},
                    },
                }
            ],
            "behavior": {
                "scale_up": {
                    "stabilization_window_seconds": 0,
                    "select_policy": "Max",
                    "policies": [
                        {"type": "Percent", "value": 100, "period_seconds": 30},
                        {"type": "Pods", "value": 4, "period_seconds": 30},
                    ],
                },
                "scale_down": {
                    "stabilization_window_seconds": cfg.scale_down_stabilization_seconds,
                    "select_policy": "Min",
                    "policies": [{"type": "Percent", "value": 25, "period_seconds": 60}],
                },
            },
        },
        opts=opts,
    )


def _image_check(
    resource_name: str,
    namespace: str,
    server: k8s.core.v1.ContainerArgsDict,
    volumes: list[k8s.core.v1.VolumeArgsDict],
    service_account: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.Job:
    """The server's container, settings and mounts, running `gunicorn --check-config`: Gunicorn loads its config and
    calls the app factory (gunicorn/app/base.py `run`), which validates every SERVING_* setting, then exits. No
    model, MLflow or Redis is involved. The Job's template holds the image and the ConfigMap's name, so a new image
    or new settings replace the Job, and Pulumi runs the check again before the Deployment changes."""
    # Gunicorn's on_starting hook makes the metrics directory, and --check-config never calls it.
    command = " ".join(f"'{part}'" for part in (*SERVER_COMMAND[:1], "--check-config", *SERVER_COMMAND[1:]))
    # The server's container without what only a server needs (ports, probes, preStop).
    container: k8s.core.v1.ContainerArgsDict = {
        "name": "image-check",
        "command": ["sh", "-c", f'mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && exec {command}'],
        "image": server["image"],
        "image_pull_policy": server["image_pull_policy"],
        "env_from": server["env_from"],
        "env": server["env"],
        "resources": server["resources"],
        "security_context": server["security_context"],
        "volume_mounts": server["volume_mounts"],
    }
    labels = kube.object_labels(NAME, "image-check")
    return k8s.batch.v1.Job(
        resource_name,
        metadata={"namespace": namespace, "labels": labels, "annotations": kube.RERUN_UNLESS_COMPLETE},
        spec={
            "backoff_limit": 1,
            # An image that cannot be pulled leaves the pod waiting; the deadline turns that into a failed Job.
            "active_deadline_seconds": IMAGE_CHECK_DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": labels},
                "spec": kube.pod_spec([container], volumes, service_account=service_account, restart_policy="Never"),
            },
        },
        opts=opts,
    )


def _alb_hostname(status: k8s.networking.v1.outputs.IngressStatus | None, namespace: str) -> str:
    """The ALB's DNS name from the Ingress status. `up` waits for it (pulumi-kubernetes awaits an Ingress until
    `.status.loadBalancer.ingress` has an entry, unless `pulumi.com/skipAwait`); an Ingress without one (the LB
    controller missing, or refusing the Ingress) fails here, naming where to look, instead of exporting no URL
    and aliasing the host to an empty name."""
    balancers = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    hostname = balancers[0].hostname if balancers else None
    if not hostname:
        raise RuntimeError(
            f"the Ingress {namespace}/{NAME} has no load balancer address: the AWS Load Balancer Controller did not "
            f"create its ALB (kubectl -n {namespace} describe ingress {NAME}; the controller's logs in kube-system)"
        )
    return hostname
