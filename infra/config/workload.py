"""Config of the workload layer: the inference service, its ALB ingress, MLflow, the training Job, monitoring."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from infra.config.dns import (
    HOSTNAME,
    MAX_CERTIFICATE_DOMAIN,
    HostedZone,
    read_host,
    read_hosted_zone,
    read_project_zone,
)
from infra.config.keys import Keys, is_cidr

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
_ACM_ARN = r"arn:aws[a-z-]*:acm:(?P<region>[a-z]{2}(-[a-z]+)+-\d):\d{12}:certificate/[0-9a-f-]{36}"
_WAF_ARN = r"arn:aws[a-z-]*:wafv2:[a-z]{2}(-[a-z]+)+-\d:\d{12}:regional/webacl/[A-Za-z0-9_-]+/[0-9a-f-]{36}"
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
# The service's SERVING_AB_WEIGHTS grammar (service/core/variants.py): each variant at most once, weights >= 0.
_WEIGHT = r"(champion|challenger)=\d+(\.\d+)?"
_AB_WEIGHTS = rf"{_WEIGHT}(,{_WEIGHT})?"
# A standard five-field cron schedule (minute hour day-of-month month day-of-week), as CronJob takes it.
_CRON = r"(\S+\s+){4}\S+|@(yearly|annually|monthly|weekly|daily|midnight|hourly)"


def quantity(value: str) -> float:
    """A Kubernetes resource quantity as a number (cores or bytes), for comparing requests with limits."""
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"not a resource quantity: {value!r}")
    return float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


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
    """The inference service: autoscaling, model settings and shutdown timing (its image: ImagesConfig)."""

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
    # Champion and challenger (docs/operations.md): the alias served next to the champion, the share of
    # requests it also predicts in shadow, the A/B weights, and the PSI above which inputs count as drifted.
    challenger_alias: str | None
    shadow_fraction: float
    ab_weights: str | None
    drift_threshold: float


@dataclass(frozen=True)
class IngressConfig:
    """The inference service's ALB, made by the AWS Load Balancer Controller from Ingress annotations, and its name.

    HTTPS comes from `certificate_arn` when the stack is given one, else from a certificate the stack issues for
    `host` and validates in `hosted_zone` (`issues_certificate`); only without either may a stack opt out.
    """

    scheme: Literal["internet-facing", "internal"]
    # A certificate the stack is given (ingress.certificateArn); None when it issues its own or serves plain HTTP.
    certificate_arn: str | None
    # The visible opt-out of HTTPS, effective only when the stack can neither issue nor name a certificate.
    allow_plain_http: bool
    host: str | None
    # Where `host`'s records go: the certificate's validation record and the alias to the ALB.
    hosted_zone: HostedZone | None
    access_logs_bucket: str | None
    access_logs_prefix: str
    waf_acl_arn: str | None
    inbound_cidrs: tuple[str, ...]
    deletion_protection: bool
    # Visible opt-in: the ALB also routes /health (details), /version, /docs and /openapi.json.
    public_docs: bool
    # Who serves the inference Ingress: an ALB of its own ("alb"), or the shared ingress-nginx controller behind one
    # NLB ("nginx", infra/nginx.py). Every other key here applies to both; the NLB then carries scheme, certificate,
    # access logs, deletion protection and inbound CIDRs.
    controller: Literal["alb", "nginx"] = "alb"
    # ingress-nginx `limit-rps`: requests per second one client address may send (nginx only).
    nginx_rate_limit_rps: int = 50

    @property
    def issues_certificate(self) -> bool:
        """The stack requests an ACM certificate for `host` and validates it through `hosted_zone`."""
        return self.certificate_arn is None and self.host is not None and self.hosted_zone is not None


@dataclass(frozen=True)
class MlflowConfig:
    """The MLflow tracking server and model registry."""

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
    schedule: str | None
    args: tuple[str, ...]
    active_deadline_seconds: int
    resources: Resources


@dataclass(frozen=True)
class MonitoringConfig:
    """Observability: kube-prometheus-stack installed here (`install`) or brought (`operator_present`), the
    ServiceMonitor / PrometheusRule / dashboards for it, scrape annotations, and who may scrape."""

    scrape_annotations: bool
    service_monitor: bool
    prometheus_namespace: str | None
    install: bool = False
    operator_present: bool = False
    storage_size: str = "20Gi"
    retention: str = "7d"
    grafana_storage_size: str = "5Gi"
    # Put on our ServiceMonitor and PrometheusRule; the installed Prometheus selects by exactly these.
    selector_labels: tuple[tuple[str, str], ...] = (("release", "kube-prometheus-stack"),)

    @property
    def operator_objects(self) -> bool:
        """Whether to create the ServiceMonitor, PrometheusRule and dashboard ConfigMaps."""
        return self.service_monitor and (self.install or self.operator_present)


def _resources(keys: Keys, prefix: str) -> Resources:
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


def read_inference(keys: Keys, environment: str) -> InferenceConfig:
    min_replicas = keys.integer("inference.minReplicas", minimum=1)
    if environment == "prod" and min_replicas < 2:
        raise keys.fail("inference.minReplicas", ">= 2 in prod (one replica cannot survive a node drain)", min_replicas)
    max_replicas = keys.integer("inference.maxReplicas", minimum=1, maximum=1000)
    if max_replicas <= min_replicas:
        raise keys.fail("inference.maxReplicas", f"> inference.minReplicas ({min_replicas})", max_replicas)
    pre_stop = keys.integer("inference.preStopSleepSeconds", minimum=1, maximum=120)
    drain = keys.integer("inference.drainSeconds", minimum=1, maximum=600)
    model_alias = keys.alias("inference.modelAlias")
    challenger, shadow, weights = _read_challenger(keys, model_alias)
    drift_threshold = keys.number("drift.threshold", minimum=0, maximum=10)
    if drift_threshold <= 0:
        raise keys.fail("drift.threshold", "a PSI above 0", drift_threshold)
    return InferenceConfig(
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
        model_alias=model_alias,
        reload_interval_seconds=keys.integer("inference.reloadIntervalSeconds", minimum=1, maximum=86400),
        cache_enabled=keys.boolean("inference.cacheEnabled"),
        cache_ttl_seconds=keys.integer("inference.cacheTtlSeconds", minimum=1, maximum=30 * 86400),
        startup_timeout_seconds=keys.integer("inference.startupTimeoutSeconds", minimum=10, maximum=3600),
        pre_stop_sleep_seconds=pre_stop,
        drain_seconds=drain,
        resources=_resources(keys, "inference"),
        challenger_alias=challenger,
        shadow_fraction=shadow,
        ab_weights=weights,
        drift_threshold=drift_threshold,
    )


def _read_challenger(keys: Keys, model_alias: str) -> tuple[str | None, float, str | None]:
    challenger = keys.optional_alias("challenger.alias")
    if challenger == model_alias:
        raise keys.fail("challenger.alias", f"different from inference.modelAlias ({model_alias})", challenger)
    shadow = keys.number("shadow.fraction", minimum=0, maximum=1)
    expected = "champion=<weight>,challenger=<weight> (each at most once, weights >= 0, not all 0)"
    weights = keys.optional_string("ab.weights", pattern=_AB_WEIGHTS, expected=expected)
    share = 0.0
    if weights is not None:
        parsed = [(name, float(value)) for name, _, value in (part.partition("=") for part in weights.split(","))]
        names = [name for name, _ in parsed]
        if len(set(names)) != len(names) or sum(w for _, w in parsed) <= 0:
            raise keys.fail("ab.weights", expected, weights)
        share = dict(parsed).get("challenger", 0.0)
    if challenger is None and shadow > 0:
        raise keys.fail("challenger.alias", "set when shadow.fraction is above 0")
    if challenger is None and share > 0:
        raise keys.fail("challenger.alias", "set when ab.weights gives the challenger a share")
    return challenger, shadow, weights


def certificate_arn(keys: Keys, key: str, region: str) -> str | None:
    """An ACM certificate ARN of the stack's region: an ALB listener takes certificates of its own region only."""
    arn = keys.optional_string(key, pattern=_ACM_ARN, expected=f"an ACM certificate ARN in {region}")
    match = re.fullmatch(_ACM_ARN, arn) if arn is not None else None
    if match is not None and match["region"] != region:
        raise keys.fail(key, f"an ACM certificate of the stack's region {region} (an ALB uses only those)", arn)
    return arn


def read_ingress(keys: Keys, environment: str, region: str) -> IngressConfig:
    scheme = keys.choice("ingress.scheme", ("internet-facing", "internal"))
    controller = keys.choice("ingress.controller", ("alb", "nginx"))
    # Above 0: ingress-nginx treats limit-rps 0 as "no limit"; the cap keeps a typo from disabling it in effect.
    rate_limit = keys.integer("ingress.nginx.rateLimitRps", minimum=1, maximum=100_000)
    cidrs = keys.string_list("ingress.inboundCidrs", item=is_cidr, expected="a list of IPv4/IPv6 CIDRs")
    zone = read_hosted_zone(keys, read_project_zone(keys))
    host = read_host(keys, zone)
    certificate = certificate_arn(keys, "ingress.certificateArn", region)
    allow_plain_http = keys.boolean("ingress.allowPlainHttp")
    if certificate is not None and host is None:
        # No certificate can name the ALB's generated DNS name, so https://<ALB> never passes verification.
        raise keys.fail(
            "ingress.host",
            "set (or ingress.subdomain with dns.zone) when ingress.certificateArn is set: clients verify the "
            "certificate against the host they call",
        )
    if certificate is None and host is not None and zone is not None and len(host) > MAX_CERTIFICATE_DOMAIN:
        raise keys.fail(
            "ingress.host",
            f"at most {MAX_CERTIFICATE_DOMAIN} characters for the stack to issue its certificate (ACM's limit on a "
            "certificate's domain name), or covered by a certificate named in ingress.certificateArn",
            host,
        )
    if certificate is None and (host is None or zone is None) and not allow_plain_http:
        # TLS by default: serving the inference API over plain HTTP must be a visible choice of the stack.
        opt_out = f"or platform:ingress.allowPlainHttp true (environment is {environment})"
        if host is None:
            raise keys.fail(
                "dns.zone",
                "set to the domain of the Route 53 public hosted zone this project's hosts live under (once for the "
                "project, docs/forking.md) with platform:ingress.subdomain naming the host under it (or "
                "platform:ingress.host with platform:ingress.hostedZone), for the stack to issue its HTTPS "
                f"certificate; or platform:ingress.certificateArn with platform:ingress.host; {opt_out}",
            )
        raise keys.fail(
            "ingress.hostedZone",
            f"set (or platform:dns.zone) for the stack to issue and DNS-validate a certificate for {host}; or "
            f"platform:ingress.certificateArn naming a certificate for it; {opt_out}",
        )
    return IngressConfig(
        scheme="internal" if scheme == "internal" else "internet-facing",
        certificate_arn=certificate,
        allow_plain_http=allow_plain_http,
        host=host,
        hosted_zone=zone,
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
        public_docs=keys.boolean("ingress.publicDocs"),
        controller="nginx" if controller == "nginx" else "alb",
        nginx_rate_limit_rps=rate_limit,
    )


def read_mlflow(keys: Keys, environment: str, region: str) -> MlflowConfig:
    replicas = keys.integer("mlflow.replicas", minimum=1, maximum=20)
    if environment == "prod" and replicas < 2:
        raise keys.fail("mlflow.replicas", ">= 2 in prod", replicas)
    ingress_enabled = keys.boolean("mlflow.ingressEnabled")
    host = keys.optional_string("mlflow.ingressHost", pattern=HOSTNAME, expected="a DNS hostname")
    if ingress_enabled and host is None:
        # MLflow checks the Host header (--allowed-hosts); an ALB hostname is not known before it exists.
        raise keys.fail("mlflow.ingressHost", "set when mlflow.ingressEnabled is true")
    return MlflowConfig(
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
        ingress_certificate_arn=certificate_arn(keys, "mlflow.ingressCertificateArn", region),
    )


def read_training_job(keys: Keys) -> TrainingJobConfig:
    enabled = keys.boolean("trainingJob.enabled")
    args = keys.string_list("trainingJob.args")
    if enabled and not args:
        raise keys.fail("trainingJob.args", "a non-empty list when trainingJob.enabled is true")
    return TrainingJobConfig(
        enabled=enabled,
        schedule=keys.optional_string("trainingJob.schedule", pattern=_CRON, expected="a five-field cron schedule"),
        args=args,
        active_deadline_seconds=keys.integer("trainingJob.activeDeadlineSeconds", minimum=60, maximum=86400),
        resources=_resources(keys, "trainingJob"),
    )


MONITORING_NAMESPACE = "monitoring"
_RETENTION = r"[1-9][0-9]*(h|d|w|y)"
_SIZE = r"[1-9][0-9]*(Mi|Gi|Ti)"
_LABEL = r"([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"


# How long the installed Prometheus keeps samples unless monitoring.retention says: prod keeps a month of history
# to compare a release with, dev only what a working session needs.
RETENTION_BY_ENVIRONMENT = {"dev": "3d", "staging": "15d", "prod": "30d"}


def read_monitoring(keys: Keys, environment: str) -> MonitoringConfig:
    service_monitor = keys.boolean("monitoring.serviceMonitor")
    install = keys.boolean("monitoring.install")
    operator_present = keys.boolean("monitoring.operatorPresent")
    namespace = keys.optional_string("monitoring.prometheusNamespace", pattern=_DNS_LABEL, expected="a namespace")
    if install:
        if namespace not in (None, MONITORING_NAMESPACE):
            raise keys.fail("monitoring.prometheusNamespace", f"empty or {MONITORING_NAMESPACE!r} when "
                            "monitoring.install is true (the stack installs Prometheus there)", namespace)  # fmt: skip
        namespace = MONITORING_NAMESPACE
    if service_monitor and not (install or operator_present):
        # Without the operator's CRDs, `pulumi up` fails late with "no matches for kind ServiceMonitor".
        raise keys.fail(
            "monitoring.serviceMonitor",
            "false unless the Prometheus Operator's CRDs exist: set monitoring.install (this stack installs "
            "kube-prometheus-stack) or monitoring.operatorPresent (the cluster already runs the operator) to true",
            True,
        )
    if service_monitor and namespace is None:
        # The NetworkPolicies admit the scrape only from a named namespace.
        raise keys.fail("monitoring.prometheusNamespace", "set when monitoring.serviceMonitor is true")
    scrape_annotations = keys.boolean("monitoring.scrapeAnnotations")
    if scrape_annotations and namespace is None:
        # An annotation-based scraper no NetworkPolicy admits would only see timeouts.
        raise keys.fail("monitoring.prometheusNamespace", "set when monitoring.scrapeAnnotations is true")
    selector = keys.string("monitoring.selectorLabel", pattern=f"{_LABEL}={_LABEL}", expected="a label key=value")
    key, value = selector.split("=", 1)
    return MonitoringConfig(
        scrape_annotations=scrape_annotations,
        service_monitor=service_monitor,
        prometheus_namespace=namespace,
        install=install,
        operator_present=operator_present,
        storage_size=keys.string("monitoring.storageSize", pattern=_SIZE, expected="a size like 50Gi"),
        retention=keys.optional_string("monitoring.retention", pattern=_RETENTION, expected="a duration like 15d")
        or RETENTION_BY_ENVIRONMENT[environment],
        grafana_storage_size=keys.string("monitoring.grafanaStorageSize", pattern=_SIZE, expected="a size like 5Gi"),
        selector_labels=((key, value),),
    )
