"""The workload layer on every stack: each control of SECURITY-BASELINE "Kubernetes workloads", per object."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from infra import alerts
from infra.config import ConfigError
from tests.infra.harness import ACCOUNT_ID, FORK_ZONE, REGION, Recording, run_stack
from tests.infra.k8s import Manifest, arg_value, by_component, containers, of_kind, one, selects, workloads

SECRET = "kubernetes:core/v1:Secret"
RANDOM = "random:index/randomPassword:RandomPassword"
NAMESPACES = {"dev": {"inference", "mlflow", "training"}, "staging": {"inference", "mlflow", "training"}}
DIGEST_REF = re.compile(r".+/[a-z0-9-]+@sha256:[0-9a-f]{64}")


def manifests(rec: Recording) -> list[Manifest]:
    return rec.kubernetes_manifests()


def secret_data(rec: Recording, namespace: str, name: str) -> dict[str, str]:
    secret = one(manifests(rec), "Secret", name, namespace)
    data: dict[str, str] = secret["stringData"]
    return data


def password(rec: Recording, resource_name_suffix: str) -> str:
    (pw,) = [r for r in rec.find(RANDOM) if r.name.endswith(resource_name_suffix)]
    result: str = pw.outputs["result"]
    return result


# ------------------------------------------------------------------------------------------ namespaces


def test_namespaces_enforce_restricted_pod_security_and_the_readiness_gate(recording: Recording) -> None:
    expected = NAMESPACES.get(recording.stack, {"inference", "mlflow"})
    namespaces = {m["metadata"]["name"]: m["metadata"]["labels"] for m in of_kind(manifests(recording), "Namespace")}
    assert set(namespaces) == expected
    for name, labels in namespaces.items():
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", name
            # The cluster's own minor (cluster.version).
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.36", name
        assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled", name
    for m in manifests(recording):
        if m["kind"] != "Namespace":
            assert m["metadata"]["namespace"] in expected, f"{m['kind']} {m['metadata']['name']} outside ours"


# ------------------------------------------------------------------------------------- pods (all of them)


def test_every_pod_runs_restricted_non_root_read_only(recording: Recording) -> None:
    seen = 0
    for workload, template in workloads(manifests(recording)):
        spec, where = template["spec"], f"{workload['kind']} {workload['metadata']['name']}"
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for c in containers(spec):
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] >= 10000, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert not ctx.get("privileged"), where
            # The only writable path is an emptyDir at /tmp.
            assert {"name": next(iter(tmp_volumes)), "mountPath": "/tmp"} in c["volumeMounts"], where
            seen += 1
    assert seen >= 3


def test_every_container_requests_and_limits_cpu_memory_and_ephemeral_storage(recording: Recording) -> None:
    for workload, template in workloads(manifests(recording)):
        for c in containers(template["spec"]):
            for bound in ("requests", "limits"):
                assert set(c["resources"][bound]) == {"cpu", "memory", "ephemeral-storage"}, workload["kind"]


def test_images_are_pinned_by_digest_and_pulled_if_not_present(recording: Recording) -> None:
    for _, template in workloads(manifests(recording)):
        for c in containers(template["spec"]):
            assert DIGEST_REF.fullmatch(c["image"]), c["image"]
            assert c["imagePullPolicy"] == "IfNotPresent"


def test_secrets_reach_pods_only_as_files(recording: Recording) -> None:
    for _, template in workloads(manifests(recording)):
        for c in containers(template["spec"]):
            assert not any("secretRef" in source for source in c.get("envFrom") or []), c["name"]
            for env in c.get("env") or []:
                assert "secretKeyRef" not in (env.get("valueFrom") or {}), env["name"]


def test_every_secret_is_marked_secret_in_pulumi_state(recording: Recording) -> None:
    secrets = recording.find(SECRET)
    assert secrets
    assert all(s.is_secret("stringData") for s in secrets), [s.name for s in secrets if not s.is_secret("stringData")]


def test_service_accounts_are_dedicated_and_mount_no_token(recording: Recording) -> None:
    ms = manifests(recording)
    for sa in of_kind(ms, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False, sa["metadata"]["name"]
    for workload, template in workloads(ms):
        if workload["kind"] == "Deployment":
            assert template["spec"]["serviceAccountName"] == workload["metadata"]["name"]


# ----------------------------------------------------------------------------------------- deployments


def _grace(template: dict[str, Any]) -> tuple[int, int]:
    (c,) = template["spec"]["containers"]
    return c["lifecycle"]["preStop"]["sleep"]["seconds"], template["spec"]["terminationGracePeriodSeconds"]


def test_deployments_roll_without_losing_capacity_and_drain_before_sigkill(recording: Recording) -> None:
    cfg = recording.config
    for d in of_kind(manifests(recording), "Deployment"):
        assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        sleep, grace = _grace(d["spec"]["template"])
        if d["metadata"]["name"] == "inference":
            assert sleep == int(cfg["platform:inference.preStopSleepSeconds"])
            (c,) = d["spec"]["template"]["spec"]["containers"]
            drain = int({e["name"]: e["value"] for e in c["env"]}["SERVING_GRACEFUL_TIMEOUT"])
            assert drain == int(cfg["platform:inference.drainSeconds"])
        else:
            (c,) = d["spec"]["template"]["spec"]["containers"]
            drain = int(arg_value(c["args"], "--uvicorn-opts").removeprefix("--timeout-graceful-shutdown "))
        assert grace > sleep + drain, d["metadata"]["name"]


def test_deployments_have_distinct_startup_readiness_and_liveness_probes(recording: Recording) -> None:
    for d in of_kind(manifests(recording), "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        probes = [c["startupProbe"], c["readinessProbe"], c["livenessProbe"]]
        assert all(p["httpGet"]["port"] == "http" for p in probes)
        assert len({repr(sorted(p.items())) for p in probes}) == 3, d["metadata"]["name"]


def test_inference_probes_use_the_service_health_endpoints(recording: Recording) -> None:
    (c,) = one(manifests(recording), "Deployment", "inference")["spec"]["template"]["spec"]["containers"]
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    startup = c["startupProbe"]
    # The process, not the model: an empty registry must not restart the pods (tests/infra/test_rehearsal_bootstrap.py).
    assert startup["httpGet"]["path"] == "/health/live"
    # The startup probe's window covers the configured model-load time.
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= int(recording.config["platform:inference.startupTimeoutSeconds"])


def test_deployments_spread_over_zones_and_hosts(recording: Recording) -> None:
    for d in of_kind(manifests(recording), "Deployment"):
        spec, selector = d["spec"]["template"]["spec"], d["spec"]["selector"]["matchLabels"]
        keys = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
        assert set(keys) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert all(c["labelSelector"]["matchLabels"] == selector and c["maxSkew"] == 1 for c in keys.values())


def test_each_deployment_has_a_budget_that_allows_one_eviction(recording: Recording) -> None:
    ms = manifests(recording)
    for d in of_kind(ms, "Deployment"):
        ns, labels = d["metadata"]["namespace"], d["spec"]["template"]["metadata"]["labels"]
        budgets = [
            p for p in of_kind(ms, "PodDisruptionBudget", ns) if selects(p["spec"]["selector"]["matchLabels"], labels)
        ]
        assert len(budgets) == 1, d["metadata"]["name"]
        assert budgets[0]["spec"]["maxUnavailable"] == 1
        assert budgets[0]["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


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
    users = _bootstrap_users_secret(recording)
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


def _ingress_annotations(rec: Recording) -> dict[str, str]:
    annotations: dict[str, str] = one(manifests(rec), "Ingress", "inference", "inference")["metadata"]["annotations"]
    return annotations


def test_inference_alb_is_hardened(recording: Recording) -> None:
    a = _ingress_annotations(recording)
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
    a = _ingress_annotations(recording)
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


# ---------------------------------------------------------------------------------------------- MLflow


def _mlflow_container(rec: Recording) -> dict[str, Any]:
    (c,) = one(manifests(rec), "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]["containers"]
    container: dict[str, Any] = c
    return container


def _mlflow_server_secret(rec: Recording) -> dict[str, str]:
    spec = one(manifests(rec), "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    return secret_data(rec, "mlflow", volume["secret"]["secretName"])


def _bootstrap_users_secret(rec: Recording) -> dict[str, str]:
    job = by_component(manifests(rec), "Job", "mlflow", "bootstrap-users")
    (volume,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "users"]
    return secret_data(rec, "mlflow", volume["secret"]["secretName"])


def test_mlflow_serves_proxied_s3_artifacts_with_basic_auth(recording: Recording) -> None:
    c, cfg = _mlflow_container(recording), recording.config
    args = c["args"]
    assert args[0] == "server"
    assert arg_value(args, "--app-name") == "basic-auth"
    assert "--serve-artifacts" in args
    (bucket,) = [b for b in recording.find("aws:s3/bucket:Bucket") if b.name.endswith("-artifacts")]
    assert arg_value(args, "--artifacts-destination") == f"s3://{bucket.outputs['bucket']}/mlflow"
    assert arg_value(args, "--workers") == cfg["platform:mlflow.workers"]
    hosts = arg_value(args, "--allowed-hosts").split(",")
    assert "mlflow.mlflow.svc.cluster.local:5000" in hosts and "*" not in hosts
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "MLFLOW_BACKEND_STORE_URI" not in env and "--backend-store-uri" not in args
    assert env["MLFLOW_BACKEND_STORE_URI_FILE"] == "/var/run/secrets/mlflow/backend-store-uri"
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/var/run/secrets/mlflow/basic-auth.ini"
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY_FILE"] == "/var/run/secrets/mlflow/flask-secret-key"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]


def test_mlflow_backend_store_is_rds_over_tls_from_a_secret_file(recording: Recording) -> None:
    data = _mlflow_server_secret(recording)
    uri = urlparse(data["backend-store-uri"])
    assert uri.scheme == "postgresql+psycopg2" and uri.port == 5432 and uri.path == "/mlflow"
    assert uri.hostname and uri.hostname.endswith(".rds.amazonaws.com")
    # libpq "SSL Support" (PostgreSQL docs, 31.19.1): only verify-full checks both the chain (to sslrootcert) and
    # that the certificate names the host; require would send the password to whoever answers.
    assert parse_qs(uri.query) == {"sslmode": ["verify-full"], "sslrootcert": ["/etc/ssl/certs/rds-global-bundle.pem"]}
    assert unquote(uri.password or "") == password(recording, "db-password")


def test_mlflow_auth_config_parses_to_the_backend_database_and_a_generated_admin(
    recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.server.auth.config import read_auth_config

    data = _mlflow_server_secret(recording)
    ini = tmp_path / "basic-auth.ini"
    ini.write_text(data["basic-auth.ini"])
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    config = read_auth_config()
    assert config.database_uri == data["backend-store-uri"]
    assert config.admin_username == "admin"
    assert config.admin_password == password(recording, "admin-password")
    assert config.default_permission == "READ"
    assert len(data["flask-secret-key"]) == 64


def test_mlflow_role_annotation_and_no_token(recording: Recording) -> None:
    sa = one(manifests(recording), "ServiceAccount", "mlflow", "mlflow")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert sa["automountServiceAccountToken"] is False


def test_bootstrap_job_creates_one_user_per_client_with_the_admin_credentials(recording: Recording) -> None:
    job = by_component(manifests(recording), "Job", "mlflow", "bootstrap-users")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["python", "/opt/mlflow/bootstrap_users.py"]
    assert c["image"] == _mlflow_container(recording)["image"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    training = recording.stack in ("dev", "staging")
    assert set(_bootstrap_users_secret(recording)) == ({"inference", "trainer"} if training else {"inference"})
    (admin,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "admin"]
    assert secret_data(recording, "mlflow", admin["secret"]["secretName"]) == {
        "username": "admin",
        "password": password(recording, "admin-password"),
    }
    # The Job talks to the running server, so Pulumi creates it after the Deployment and Service.
    job_resource = recording.one("kubernetes:batch/v1:Job", f"mlp-{recording.stack}-mlflow-bootstrap-users")
    deployment = recording.one("kubernetes:apps/v1:Deployment", f"mlp-{recording.stack}-mlflow-deployment")
    assert recording.depends_on(job_resource, deployment)


def test_mlflow_has_no_ingress_unless_configured(recording: Recording) -> None:
    assert not of_kind(manifests(recording), "Ingress", "mlflow")


# -------------------------------------------------------------------------------------------- training


def test_training_runs_once_in_dev_weekly_in_staging_and_not_in_prod(recording: Recording) -> None:
    ms = manifests(recording)
    jobs, crons = of_kind(ms, "Job", "training"), of_kind(ms, "CronJob", "training")
    expected = {"dev": (1, 0), "staging": (0, 1), "prod": (0, 0)}[recording.stack]
    assert (len(jobs), len(crons)) == expected
    if crons:
        assert crons[0]["spec"]["schedule"] == recording.config["platform:trainingJob.schedule"]
        assert crons[0]["spec"]["concurrencyPolicy"] == "Forbid"
    for workload in jobs + crons:
        template = workload["spec"]["jobTemplate"]["spec"]["template"] if crons else workload["spec"]["template"]
        (c,) = template["spec"]["containers"]
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
        # dev's one-off run seeds the empty registry; staging trains on a schedule, promotion stays manual.
        assert c["args"] == (["seed"] if recording.stack == "dev" else ["train"])
        # Both work on the model the inference service serves.
        assert (env["TRAINING_MODEL_NAME"], env["TRAINING_MODEL_ALIAS"]) == ("linear_regression", "production")
        # MLflow's client reads ~/.mlflow/credentials; HOME=/tmp and the Secret is mounted at /tmp/.mlflow.
        assert env["HOME"] == "/tmp"
        (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp/.mlflow"]
        (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == mount["name"]]
        credentials = configparser.ConfigParser()
        credentials.read_string(secret_data(recording, "training", volume["secret"]["secretName"])["credentials"])
        assert dict(credentials["mlflow"]) == {
            "mlflow_tracking_username": "trainer",
            "mlflow_tracking_password": _bootstrap_users_secret(recording)["trainer"],
        }


# ----------------------------------------------------------------------------------- optional features

# A certificate of the harness's account, as `aws acm list-certificates` would show one brought by the stack.
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
ALL_OPTIONS = {
    "platform:ingress.certificateArn": CERTIFICATE,
    "platform:ingress.host": f"api.{FORK_ZONE}",
    "platform:ingress.accessLogsBucket": "mlp-staging-alb-logs",
    "platform:ingress.wafAclArn": (
        f"arn:aws:wafv2:{REGION}:{ACCOUNT_ID}:regional/webacl/mlp/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    ),
    "platform:ingress.inboundCidrs": ["203.0.113.0/24", "198.51.100.0/24"],
    "platform:mlflow.ingressEnabled": "true",
    "platform:mlflow.ingressHost": "mlflow.internal.example.com",
    "platform:monitoring.serviceMonitor": "true",
    "platform:monitoring.operatorPresent": "true",
    "platform:monitoring.prometheusNamespace": "monitoring",
    "platform:challenger.alias": "challenger",
    "platform:shadow.fraction": "0.25",
    "platform:ab.weights": "champion=90,challenger=10",
    "platform:drift.threshold": "0.3",
}


@pytest.fixture(scope="module")
def all_options() -> Recording:
    return run_stack("staging", ALL_OPTIONS)


def test_with_a_certificate_the_alb_serves_tls13_and_redirects_http(all_options: Recording) -> None:
    a = _ingress_annotations(all_options)
    assert a["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    assert a["alb.ingress.kubernetes.io/certificate-arn"] == ALL_OPTIONS["platform:ingress.certificateArn"]
    assert a["alb.ingress.kubernetes.io/ssl-policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert a["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert not any(w.startswith("ingress.") for w in all_options.warnings)
    assert all_options.exports["inferenceUrl"] == f"https://api.{FORK_ZONE}"
    (rule,) = one(manifests(all_options), "Ingress", "inference", "inference")["spec"]["rules"]
    assert rule["host"] == f"api.{FORK_ZONE}"
    # Given a certificate, the stack issues none, and still names the host in its zone.
    assert not all_options.find("aws:acm/certificate:Certificate")
    (alias,) = all_options.find("aws:route53/record:Record")
    assert alias.inputs["name"] == f"api.{FORK_ZONE}" and alias.inputs["type"] == "A"


def test_access_logs_waf_and_inbound_cidrs_come_from_config(all_options: Recording) -> None:
    a = _ingress_annotations(all_options)
    attributes = dict(kv.split("=", 1) for kv in a["alb.ingress.kubernetes.io/load-balancer-attributes"].split(","))
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == "mlp-staging-alb-logs"
    assert attributes["access_logs.s3.prefix"] == "alb/inference"
    assert a["alb.ingress.kubernetes.io/wafv2-acl-arn"] == ALL_OPTIONS["platform:ingress.wafAclArn"]
    assert a["alb.ingress.kubernetes.io/inbound-cidrs"] == "203.0.113.0/24,198.51.100.0/24"


def test_mlflow_ui_ingress_is_internal_and_vpc_only(all_options: Recording) -> None:
    ingress = one(manifests(all_options), "Ingress", "mlflow", "mlflow")
    a = ingress["metadata"]["annotations"]
    assert a["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert a["alb.ingress.kubernetes.io/inbound-cidrs"] == "10.20.0.0/16"
    assert a["alb.ingress.kubernetes.io/healthcheck-path"] == "/health"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "mlflow.internal.example.com"
    args = _mlflow_container(all_options)["args"]
    assert "mlflow.internal.example.com" in arg_value(args, "--allowed-hosts").split(",")
    assert arg_value(args, "--cors-allowed-origins") == "http://mlflow.internal.example.com"
    assert any(w.startswith("mlflow.ingressCertificateArn is not set") for w in all_options.warnings)


def test_service_monitor_scrapes_the_service_metrics_port(all_options: Recording) -> None:
    ms = manifests(all_options)
    monitor = one(ms, "ServiceMonitor", "inference", "inference")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = one(ms, "Service", "inference", "inference")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_challenger_shadow_ab_and_drift_settings_reach_the_service(all_options: Recording) -> None:
    ms = manifests(all_options)
    (source,) = one(ms, "Deployment", "inference", "inference")["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    settings = one(ms, "ConfigMap", source["configMapRef"]["name"], "inference")["data"]
    assert (settings["SERVING_CHALLENGER_ALIAS"], settings["SERVING_SHADOW_FRACTION"]) == ("challenger", "0.25")
    assert (settings["SERVING_AB_WEIGHTS"], settings["SERVING_DRIFT_THRESHOLD"]) == ("champion=90,challenger=10", "0.3")


def test_prometheus_rule_carries_the_alert_rules_scoped_to_the_service_namespace(all_options: Recording) -> None:
    """The cluster's rules are infra/alerts.py's, which promtool tests (tests/infra/test_alerts.py)."""
    rule = one(manifests(all_options), "PrometheusRule", "inference", "inference")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alias = all_options.config["platform:inference.modelAlias"]
    scope = alerts.AlertScope('namespace="inference"', champion_alias=alias, drift_threshold=0.3)
    assert rule["spec"]["groups"] == alerts.rule_groups(scope)
    drift = next(r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == "InferenceInputDrift")
    assert drift["expr"] == 'max by (feature) (serving_drift_psi{namespace="inference"}) > 0.3', "drift.threshold"


def test_without_monitoring_there_is_no_prometheus_rule(recording: Recording) -> None:
    assert recording.config.get("platform:monitoring.serviceMonitor") in (False, "false")
    assert not [m for m in manifests(recording) if m["kind"] in ("PrometheusRule", "ServiceMonitor")]


# ---------------------------------------------------------------------------------- wiring to the cloud


def test_mlflow_role_is_trusted_by_its_service_account_and_limited_to_the_artifact_prefix(
    recording: Recording,
) -> None:
    role = recording.one("aws:iam/role:Role", f"mlp-{recording.stack}-mlflow-role")
    assert role.parent == recording.one("platform:index:Mlflow").urn
    issuer = recording.exports["oidcIssuerUrl"].removeprefix("https://")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:mlflow:mlflow",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    (policy,) = [p for p in recording.find("aws:iam/rolePolicy:RolePolicy") if p.parent == role.urn]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    (bucket,) = [b for b in recording.find("aws:s3/bucket:Bucket") if b.name.endswith("-artifacts")]
    key = recording.one("aws:kms/key:Key", f"mlp-{recording.stack}-artifacts-key")
    assert statements["ReadWriteArtifacts"]["Resource"] == f"{bucket.outputs['arn']}/mlflow/*"
    assert statements["ListArtifactPrefix"]["Resource"] == bucket.outputs["arn"]
    assert statements["ListArtifactPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["mlflow", "mlflow/*"]}}
    assert statements["UseArtifactKey"]["Resource"] == key.outputs["arn"]
    assert not any("*" in a for s in statements.values() for a in _actions(s))
    sa = one(manifests(recording), "ServiceAccount", "mlflow", "mlflow")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_workloads_wait_for_the_lb_controller_and_pods_for_their_network_policies(recording: Recording) -> None:
    controller = recording.one("kubernetes:helm.sh/v3:Release", f"mlp-{recording.stack}-aws-load-balancer-controller")
    provider = recording.one("pulumi:providers:kubernetes")
    namespaces = recording.one("platform:index:Namespaces")
    objects = [r for r in recording.resources if r.type.startswith("kubernetes:") and "helm.sh" not in r.type]
    assert objects
    for r in objects:
        assert r.provider_urn == provider.urn, r.name
        assert recording.depends_on(r, controller), f"{r.name} does not wait for the LB controller"
    makes_pods = [r for r in objects if r.type.split(":")[-1] in ("Deployment", "Job", "CronJob")]
    policies = {r.urn for r in recording.descendants(namespaces)}
    assert any(urn.split("::")[-2].endswith("NetworkPolicy") for urn in policies)
    for r in makes_pods:
        # Every namespace and NetworkPolicy exists before any pod is scheduled.
        assert policies <= set(r.dependencies), r.name
