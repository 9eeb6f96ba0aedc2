"""The inference workload on every stack: scaling, settings, credentials, its ALB ingress and exports."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

import pytest

from infra.config import ConfigError
from tests.infra.harness import FORK_ZONE, Recording, run_stack
from tests.infra.k8s import one
from tests.infra.workload_support import (
    NAMESPACES,
    bootstrap_users_secret,
    ingress_annotations,
    manifests,
    password,
    secret_data,
)

# ------------------------------------------------------------------------------------------- inference


def test_inference_scale_belongs_to_the_hpa(recording: Recording) -> None:
    ms, cfg = manifests(recording), recording.config
    deployment = one(ms, "Deployment", "inference", "inference")
    assert "replicas" not in deployment["spec"]
    hpa = one(ms, "HorizontalPodAutoscaler", "inference", "inference")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "inference"}
    assert spec["minReplicas"] == int(cfg["platform:inference.minReplicas"])
    assert spec["maxReplicas"] == int(cfg["platform:inference.maxReplicas"]) > spec["minReplicas"]
    if recording.stack == "prod":
        assert spec["minReplicas"] >= 2
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": int(cfg["platform:inference.targetCpuUtilization"]),
    }
    down = spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    assert down == int(cfg["platform:inference.scaleDownStabilizationSeconds"]) > 0


def test_inference_settings_reach_the_service_as_serving_variables(recording: Recording) -> None:
    ms, cfg = manifests(recording), recording.config
    spec = one(ms, "Deployment", "inference", "inference")["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    (source,) = c["envFrom"]
    settings = one(ms, "ConfigMap", source["configMapRef"]["name"], "inference")["data"]
    assert settings == {
        "SERVING_REGISTRY_URI": "http://mlflow.mlflow.svc.cluster.local:5000",
        "SERVING_MODEL_NAME": cfg["platform:inference.modelName"],
        "SERVING_MODEL_ALIAS": cfg["platform:inference.modelAlias"],
        "SERVING_RELOAD_INTERVAL_S": cfg["platform:inference.reloadIntervalSeconds"],
        "SERVING_CACHE_TTL_S": cfg["platform:inference.cacheTtlSeconds"],
        "SERVING_CACHE_ENABLED": cfg["platform:inference.cacheEnabled"],
        # Full stacks own their Redis: no prefix (previews use pr-<N>:, tests/infra/test_preview.py).
        "SERVING_CACHE_KEY_PREFIX": "",
        "SERVING_CHALLENGER_ALIAS": cfg["platform:challenger.alias"],
        "SERVING_SHADOW_FRACTION": str(float(cfg["platform:shadow.fraction"])),
        "SERVING_AB_WEIGHTS": cfg["platform:ab.weights"],
        "SERVING_DRIFT_THRESHOLD": str(float(cfg["platform:drift.threshold"])),
        "WEB_CONCURRENCY": cfg["platform:inference.workers"],
    }


def test_inference_credentials_are_files_named_by_its_file_variables(recording: Recording) -> None:
    ms = manifests(recording)
    spec = one(ms, "Deployment", "inference", "inference")["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/var/run/secrets/serving"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    data = secret_data(recording, "inference", volume["secret"]["secretName"])
    for variable, key in (
        ("SERVING_CACHE_URL_FILE", "redis-url"),
        ("SERVING_CACHE_SIGNING_KEY_FILE", "cache-signing-key"),
        ("SERVING_MLFLOW_USERNAME_FILE", "mlflow-username"),
        ("SERVING_MLFLOW_PASSWORD_FILE", "mlflow-password"),
    ):
        assert env[variable] == f"/var/run/secrets/serving/{key}"
        assert key in data
    redis = urlparse(data["redis-url"])
    assert redis.scheme == "rediss" and redis.port == 6379 and redis.path == "/0"
    assert unquote(redis.password or "") == password(recording, "redis-auth")
    assert redis.hostname and redis.hostname.endswith(".cache.amazonaws.com")
    # The service logs in to MLflow as the non-admin user the bootstrap Job creates.
    assert data["mlflow-username"] == "inference"
    users = bootstrap_users_secret(recording)
    assert users["inference"] == data["mlflow-password"] == password(recording, "user-inference-password")
    # The cache signing key is the service's alone: generated for it, never Redis's or MLflow's secret.
    assert data["cache-signing-key"] == password(recording, "inference-cache-signing-key")
    assert len(data["cache-signing-key"]) >= 32


def test_scrape_annotations_only_for_a_configured_annotation_based_scraper(recording: Recording) -> None:
    """No NetworkPolicy admits a scraper by default, so no pod invites one (prometheus.io/* annotations)."""
    template = one(manifests(recording), "Deployment", "inference", "inference")["spec"]["template"]
    assert not template["metadata"].get("annotations")
    rec = run_stack(
        "dev", {"platform:monitoring.scrapeAnnotations": "true", "platform:monitoring.prometheusNamespace": "prom"}
    )
    template = one(manifests(rec), "Deployment", "inference", "inference")["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": "/metrics",
    }


def test_inference_alb_is_hardened(recording: Recording) -> None:
    a = ingress_annotations(recording)
    assert a["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert a["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert a["alb.ingress.kubernetes.io/healthcheck-path"] == "/health/ready"
    attributes = dict(kv.split("=", 1) for kv in a["alb.ingress.kubernetes.io/load-balancer-attributes"].split(","))
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["routing.http.desync_mitigation_mode"] == "defensive"
    assert attributes["deletion_protection.enabled"] == ("false" if recording.stack == "dev" else "true")
    tags = dict(kv.split("=", 1) for kv in a["alb.ingress.kubernetes.io/tags"].split(","))
    assert tags == {"Project": "mlp", "Environment": recording.stack, "ManagedBy": "pulumi"}


def test_every_stack_serves_https_with_http_redirected(recording: Recording) -> None:
    """dev relaxes availability, never exposure: every stack issues its certificate and opts out of nothing."""
    a = ingress_annotations(recording)
    assert recording.config["platform:ingress.allowPlainHttp"] == "false"
    assert a["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    validation = recording.one(
        "aws:acm/certificateValidation:CertificateValidation", f"mlp-{recording.stack}-inference-validation"
    )
    assert a["alb.ingress.kubernetes.io/certificate-arn"] == validation.outputs["certificateArn"]
    assert a["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert not any(w.startswith("ingress.") for w in recording.warnings)
    assert recording.exports["inferenceUrl"].startswith("https://")


# Without the project's zone (and so without a host), and hosting no previews (which need the zone).
NO_ZONE = {"platform:dns.zone": "", "platform:ingress.subdomain": "", "platform:preview.hosting": "false"}


def test_the_visible_opt_out_serves_plain_http_and_warns() -> None:
    rec = run_stack("dev", {**NO_ZONE, "platform:ingress.allowPlainHttp": "true"})
    ingress = rec.one("kubernetes:networking.k8s.io/v1:Ingress", "mlp-dev-inference-ingress")
    a = ingress.inputs["metadata"]["annotations"]
    assert a["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}]'
    assert "alb.ingress.kubernetes.io/certificate-arn" not in a
    assert not rec.find("aws:acm/certificate:Certificate") and not rec.find("aws:route53/record:Record")
    assert any(w.startswith("ingress.allowPlainHttp is true and the stack has no certificate") for w in rec.warnings)
    assert rec.exports["inferenceUrl"].startswith("http://")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_stack_without_a_certificate_must_opt_out_of_https_visibly(stack: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack(stack, NO_ZONE)
    message = str(err.value)
    assert message.startswith("platform:dns.zone must be set to the domain of the Route 53 public hosted zone")
    for key in ("ingress.subdomain", "ingress.host", "ingress.hostedZone", "ingress.certificateArn"):
        assert f"platform:{key}" in message, key
    assert message.endswith(f"or platform:ingress.allowPlainHttp true (environment is {stack})")


def test_inference_ingress_routes_only_public_paths_to_the_service(recording: Recording) -> None:
    spec = one(manifests(recording), "Ingress", "inference", "inference")["spec"]
    assert spec["ingressClassName"] == "alb"
    (rule,) = spec["rules"]
    paths = {p["path"]: p for p in rule["http"]["paths"]}
    assert {"/predict", "/invocations", "/health/ready"} <= set(paths)
    assert not any(path.startswith("/metrics") for path in paths)
    for p in paths.values():
        assert p["backend"] == {"service": {"name": "inference", "port": {"name": "http"}}}


def test_exports_give_the_host_url_the_alb_the_mlflow_url_and_the_namespaces(recording: Recording) -> None:
    ingress = recording.one("kubernetes:networking.k8s.io/v1:Ingress", f"mlp-{recording.stack}-inference-ingress")
    hostname = ingress.outputs["status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert hostname.endswith(".elb.amazonaws.com")
    assert recording.exports["inferenceAlbHostname"] == hostname
    subdomain = recording.config["platform:ingress.subdomain"]
    assert recording.exports["inferenceUrl"] == f"https://{subdomain}.{FORK_ZONE}"
    assert recording.exports["mlflowUrl"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert set(recording.exports["namespaces"]) == NAMESPACES.get(recording.stack, {"inference", "mlflow"})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_an_ingress_that_never_gets_an_alb_fails_the_run_naming_it(stack: str) -> None:
    """pulumi-kubernetes waits for an Ingress until ".status.loadBalancer.ingress" has an entry (Pulumi Registry,
    kubernetes networking.k8s.io/v1 Ingress, "waits until its status is ready"; `pulumi.com/skipAwait` skips
    that), which the AWS Load Balancer Controller writes once the ALB exists. When none comes, the program fails
    saying where to look, rather than aliasing the host to an empty name and exporting no ALB hostname."""
    with pytest.raises(RuntimeError, match=r"the Ingress inference/inference has no load balancer address"):
        run_stack(stack, ingress_addresses=False)
