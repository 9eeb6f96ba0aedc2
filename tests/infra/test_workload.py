"""The workload layer on every stack: each control of SECURITY-BASELINE "Kubernetes workloads", per object.

Namespaces, pods and deployments of every workload, and their wiring to the cluster; the workloads' own concerns
are in test_workload_inference.py, test_workload_mlflow.py, test_workload_training.py and
test_workload_options.py.
"""

from __future__ import annotations

from typing import Any

from tests.infra.harness import Recording
from tests.infra.k8s import arg_value, containers, of_kind, one, selects, workloads
from tests.infra.workload_support import (
    DIGEST_REF,
    NAMESPACES,
    SECRET,
    manifests,
)

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
            # The only writable path is an emptyDir at /tmp (besides the pgpass writer's in-memory emptyDir).
            (at_tmp,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert at_tmp["name"] in tmp_volumes, where
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


def test_secret_volumes_are_readable_by_the_pods_group_only(recording: Recording) -> None:
    """A Secret volume's files default to mode 0644, world-readable (Kubernetes API reference, SecretVolumeSource
    `defaultMode`: "Defaults to 0644"); the pod's fsGroup owns them, so 0440 is enough and hides them from any
    other user a process might run as (CIS Kubernetes Benchmark 5.4.1, secrets as files with least access)."""
    seen = 0
    for workload, template in workloads(manifests(recording)):
        for volume in template["spec"].get("volumes") or []:
            if "secret" in volume:
                mode = volume["secret"].get("defaultMode")
                assert mode is not None and mode & 0o137 == 0, f"{workload['metadata']['name']}: {volume}"
                seen += 1
    assert seen >= 3


def test_no_pod_gets_service_environment_variables(recording: Recording) -> None:
    """`enableServiceLinks` (default true) injects every Service of the namespace as environment variables
    (Kubernetes docs, "Service" > "Environment variables"): the Service `mlflow` would set MLFLOW_PORT=tcp://...,
    the variable the MLflow CLI reads for `--port`, and every pod would learn every Service's address."""
    pods = [template["spec"] for _, template in workloads(manifests(recording))]
    assert pods
    assert [p.get("enableServiceLinks") for p in pods] == [False] * len(pods)


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


# ---------------------------------------------------------------------------------- wiring to the cloud


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
