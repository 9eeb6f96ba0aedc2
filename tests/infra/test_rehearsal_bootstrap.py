"""Deploy rehearsal, bootstrap order: a new stack's `up` completes with an empty registry,
dev seeds its first model after MLflow and its users, and MLflow's schema is migrated once per image, before the
servers start.

The real system cannot run here (no cluster, no Pulumi CLI); each test encodes the documented rule it relies on:

- pulumi-kubernetes 4.x awaits a Deployment until its `Available` condition is true and, after the first
  generation, `Progressing` has reason `NewReplicaSetAvailable` (the installed SDK 4.34.2's
  `pulumi_kubernetes/apps/v1/Deployment.py` docstring; provider/pkg/await/deployment.go of pulumi/pulumi-kubernetes,
  read at the newest stored snapshot, which has no v4.34.2 tag; CHANGELOG 4.18.4: `pulumi.com/waitFor` takes
  precedence over the default await); both need every
  replica Ready (Kubernetes `DeploymentComplete`, maxUnavailable 0). A `pulumi.com/waitFor` annotation replaces
  that check, a `pulumi.com/skipAwait` one drops it (provider/pkg/metadata/overrides.go `ReadyCondition`). A Job
  is awaited until `Complete`, and fails at once on `Failed` (BackoffLimitExceeded, DeadlineExceeded)
  (provider/pkg/await/job.go, checker/job/check.go). Awaits time out after 10 minutes unless `customTimeouts`
  says otherwise (provider/pkg/await/await.go).
- A failing startup or liveness probe restarts the container; a failing readiness probe only takes the pod out of
  Service endpoints (kubernetes.io, "Configure Liveness, Readiness and Startup Probes"). With the ALB readiness
  gate, a pod is Ready only once healthy in its target group, whose health check is the annotated path
  (aws-load-balancer-controller docs, "Pod readiness gate").
- The service answers /health/live whenever its process runs and /health/ready only with a model loaded
  (service/routes/health.py); with no version at the alias it keeps polling (service/core/reload.py).
- mlflow 3.17.2 servers migrate by themselves an empty schema or one missing a table of their image, and upgrade a
  behind auth schema, with no lock between pods (mlflow/store/tracking/sqlalchemy_store.py `__init__`,
  mlflow/store/db/utils.py, mlflow/server/auth/db/utils.py `migrate_if_needed`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra import inference, mlflow_schema
from tests.infra.harness import ROOT, Recording, Resource, run_stack
from tests.infra.k8s import Manifest, by_component, containers, of_kind, one
from tests.infra.test_rehearsal_images import DIGEST, prebuilt

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
# Status fields and conditions that are true only once pods are Ready (k8s.io/api apps/v1 DeploymentStatus).
READINESS_GATED = re.compile(r"readyReplicas|availableReplicas|Available|NewReplicaSetAvailable|condition=")
DURATION = re.compile(r"(\d+)([smh])")


def seconds(duration: str) -> int:
    value, unit = DURATION.fullmatch(duration).groups()  # type: ignore[union-attr]
    return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]


@pytest.fixture(params=["dev", "staging", "prod", "preview"])
def stack(request: pytest.FixtureRequest, recordings: dict[str, Recording], preview: Recording) -> Recording:
    """Every shipped stack, and a pull request's preview."""
    return preview if request.param == "preview" else recordings[request.param]


def inference_namespace(rec: Recording) -> str:
    return "pr-42" if rec.stack == "preview" else "inference"


def resource(rec: Recording, manifest: Manifest) -> Resource:
    """The registration that produced `manifest` (same kind, namespace and name)."""

    def identity(r: Resource) -> tuple[Any, ...]:
        metadata = r.inputs.get("metadata") or {}
        name = metadata.get("name") or (r.outputs.get("metadata") or {}).get("name", r.name)
        return r.inputs.get("kind"), metadata.get("namespace"), name

    wanted = (manifest["kind"], manifest["metadata"].get("namespace"), manifest["metadata"]["name"])
    found = [r for r in rec.resources if r.custom and r.type.startswith("kubernetes:") and identity(r) == wanted]
    assert len(found) == 1, wanted
    return found[0]


def awaits_readiness(manifest: Manifest) -> bool:
    """Whether `pulumi up` waits for this object's pods to be Ready (see the module docstring)."""
    annotations = manifest["metadata"].get("annotations") or {}
    if annotations.get("pulumi.com/skipAwait") == "true":
        return False
    wait_for = annotations.get("pulumi.com/waitFor")
    if manifest["kind"] != "Deployment":
        return False
    if wait_for is None:
        return True  # the built-in Deployment await: Available, every replica Ready
    return bool(READINESS_GATED.search(wait_for))


# --------------------------------------------------------------------------------------- empty registry


def test_inference_startup_and_liveness_probe_the_process_and_readiness_the_model(stack: Recording) -> None:
    """An empty registry makes /health/ready 503 for as long as it lasts: on a startup or liveness probe that is a
    restart loop; on readiness it is the truth (not serving)."""
    d = one(stack.kubernetes_manifests(), "Deployment", "inference", inference_namespace(stack))
    (c,) = d["spec"]["template"]["spec"]["containers"]
    ready = c["readinessProbe"]["httpGet"]["path"]
    assert ready == inference.READY_PATH == "/health/ready"
    for probe in ("startupProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == inference.LIVE_PATH == "/health/live", probe
    # The ALB sends traffic only to pods with a model: its health check is the readiness path.
    ingress = one(stack.kubernetes_manifests(), "Ingress", "inference", inference_namespace(stack))
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] == ready


def test_nothing_up_awaits_is_gated_on_a_model(stack: Recording) -> None:
    """No object `up` waits for needs a Ready inference pod: the Deployment is awaited through a `waitFor` that
    reads no readiness, and it is not skipped either (an admission failure still fails the `up`)."""
    manifests = stack.kubernetes_manifests()
    ns = inference_namespace(stack)
    d = one(manifests, "Deployment", "inference", ns)
    annotations = d["metadata"]["annotations"]
    assert "pulumi.com/skipAwait" not in annotations
    assert annotations["pulumi.com/waitFor"] == inference.DEPLOYMENT_WAIT_FOR
    for expression in json.loads(w) if (w := annotations["pulumi.com/waitFor"]).startswith("[") else [w]:
        assert expression.startswith("jsonpath="), expression
    assert not [m["metadata"]["name"] for m in of_kind(manifests, "Deployment", ns) if awaits_readiness(m)]
    # The HPA and PDB wait on nothing that waits for a model.
    gated = {resource(stack, m).urn for m in of_kind(manifests, "Deployment") if awaits_readiness(m)}
    serving = {resource(stack, m).urn for m in of_kind(manifests, "Deployment", ns)}
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
        waits = stack.transitive_dependencies(resource(stack, one(manifests, kind, "inference", ns)))
        assert not waits & gated & serving, kind


def test_a_broken_inference_image_still_fails_the_up(stack: Recording) -> None:
    """With the Deployment no longer awaited until Ready, an awaited Job runs the image's own command with
    `--check-config` (Gunicorn loads its config and the app factory, which validates the settings) in the pod's
    exact shape, and the Deployment waits for it: a bad image or setting is a failed Job, so a failed `up`."""
    manifests = stack.kubernetes_manifests()
    ns = inference_namespace(stack)
    job = by_component(manifests, "Job", ns, "image-check")
    assert "pulumi.com/skipAwait" not in (job["metadata"].get("annotations") or {})
    assert job["spec"]["backoffLimit"] >= 0 and job["spec"]["activeDeadlineSeconds"] <= 600
    (check,) = job["spec"]["template"]["spec"]["containers"]
    (server,) = one(manifests, "Deployment", "inference", ns)["spec"]["template"]["spec"]["containers"]
    assert check["image"] == server["image"]
    assert (check["env"], check["envFrom"], check["volumeMounts"]) == (
        server["env"],
        server["envFrom"],
        server["volumeMounts"],
    )
    dockerfile = (ROOT / "service" / "Dockerfile").read_text()
    (cmd,) = [json.loads(line.removeprefix("CMD ")) for line in dockerfile.splitlines() if line.startswith("CMD ")]
    assert tuple(cmd) == inference.SERVER_COMMAND
    quoted = " ".join(f"'{part}'" for part in (cmd[0], "--check-config", *cmd[1:]))
    assert check["command"][-1].endswith(f"exec {quoted}")
    deployment = resource(stack, one(manifests, "Deployment", "inference", ns))
    assert stack.depends_on(deployment, resource(stack, job))


def test_dev_seeds_after_mlflow_and_its_users_and_up_shows_its_failure(recordings: dict[str, Recording]) -> None:
    """The seed needs the server rolled out and its `trainer` user created (else connection errors and 401s,
    which `training seed` also waits out); its failure must fail the `up`, not hide behind skipAwait."""
    dev = recordings["dev"]
    manifests = dev.kubernetes_manifests()
    job = by_component(manifests, "Job", "training", "job")
    assert "pulumi.com/skipAwait" not in (job["metadata"].get("annotations") or {})
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["seed"]
    env = {e["name"]: e["value"] for e in c["env"]}
    (settings,) = of_kind(manifests, "ConfigMap", "inference")
    assert env["TRAINING_MODEL_NAME"] == settings["data"]["SERVING_MODEL_NAME"]
    assert env["TRAINING_MODEL_ALIAS"] == "production"
    assert job["spec"]["backoffLimit"] >= 1
    deadline = job["spec"]["activeDeadlineSeconds"]
    seed = resource(dev, job)
    # Pulumi's await outlasts the Job's deadline, so an overrun shows as the Job's DeadlineExceeded.
    assert seconds(seed.custom_timeouts["create"]) > deadline
    mlflow_deployment = resource(dev, one(manifests, "Deployment", "mlflow", "mlflow"))
    users = resource(dev, by_component(manifests, "Job", "mlflow", "bootstrap-users"))
    assert dev.depends_on(seed, mlflow_deployment) and dev.depends_on(seed, users)


def test_prod_trains_nothing_in_cluster_and_its_up_waits_for_no_model(recordings: dict[str, Recording]) -> None:
    """prod's models arrive by promotion: nothing in it may wait for one."""
    manifests = recordings["prod"].kubernetes_manifests()
    assert not of_kind(manifests, "Job", "training") and not of_kind(manifests, "CronJob", "training")
    assert not [m["metadata"]["name"] for m in of_kind(manifests, "Deployment") if awaits_readiness(m)
                and m["metadata"]["namespace"] == "inference"]  # fmt: skip


# ----------------------------------------------------------------------------------------- migrations


def _migration(rec: Recording) -> tuple[Manifest, Resource]:
    job = by_component(rec.kubernetes_manifests(), "Job", "mlflow", "migrate-db")
    return job, resource(rec, job)


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_migrations_run_in_a_job_before_the_mlflow_deployment(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    manifests = rec.kubernetes_manifests()
    job, migration = _migration(rec)
    deployment = one(manifests, "Deployment", "mlflow", "mlflow")
    assert rec.depends_on(resource(rec, deployment), migration)
    # Awaited, bounded, with its own deadline reported before Pulumi's timeout.
    assert "pulumi.com/skipAwait" not in (job["metadata"].get("annotations") or {})
    assert job["spec"]["backoffLimit"] >= 1
    assert seconds(migration.custom_timeouts["create"]) > job["spec"]["activeDeadlineSeconds"]
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["command"][-2:] == [mlflow_schema.SCRIPT, "migrate"]
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    assert c["image"] == server["image"]
    # The same restricted pod shape as MLflow's pods, and no credentials beyond the server's own Secret.
    assert c["securityContext"] == server["securityContext"]
    assert spec["securityContext"] == deployment["spec"]["template"]["spec"]["securityContext"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] != deployment["spec"]["template"]["spec"]["serviceAccountName"]
    secret_volumes = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    server_volumes = {
        v["secret"]["secretName"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v
    }
    assert secret_volumes == server_volumes


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_server_pods_check_the_schema_and_never_migrate(recordings: dict[str, Recording], name: str) -> None:
    """No option makes `mlflow server` skip its own migrations; the init container stops the pod first."""
    d = one(recordings[name].kubernetes_manifests(), "Deployment", "mlflow", "mlflow")
    (init,) = [c for c in d["spec"]["template"]["spec"]["initContainers"] if c["name"] == "schema-check"]
    assert init["command"][-2:] == [mlflow_schema.SCRIPT, "check"]
    (server,) = d["spec"]["template"]["spec"]["containers"]
    assert init["image"] == server["image"]
    assert "db" not in server["args"] and "upgrade" not in server["args"]
    assert all("securityContext" in c for c in containers(d["spec"]["template"]["spec"]))


def test_the_migration_job_changes_with_the_image_and_only_with_it(recordings: dict[str, Recording]) -> None:
    """Pulumi replaces a Job whose name changes, and leaves a completed one alone: a new image is migrated once,
    before its pods start; an `up` without one runs nothing. (Images as CI's digests, images.build false.)"""
    first, _ = _migration(recordings["dev"])
    assert re.fullmatch(r"mlflow-migrate-[0-9a-f]{10}", first["metadata"]["name"])
    digests = prebuilt(recordings["dev"], "dev")
    name = _migration(run_stack("dev", digests))[0]["metadata"]["name"]
    same = _migration(run_stack("dev", digests))[0]["metadata"]["name"]
    other = digests["platform:mlflow.image"].replace(DIGEST, "sha256:" + "fedcba9876543210" * 4)
    bumped = _migration(run_stack("dev", digests | {"platform:mlflow.image": other}))[0]["metadata"]["name"]
    assert same == name and bumped != name


def test_the_migration_job_may_reach_the_database_and_its_password_only(recordings: dict[str, Recording]) -> None:
    """Default deny, then exactly the flows it needs: egress to PostgreSQL in the private subnets, HTTPS to the
    public AWS endpoints for its password (STS for IRSA, Secrets Manager; infra/db_passfile.py), and DNS."""
    policies = of_kind(recordings["prod"].kubernetes_manifests(), "NetworkPolicy", "mlflow")
    labels = mlflow_schema.LABELS
    mine: list[dict[str, Any]] = [p for p in policies if p["spec"]["podSelector"].get("matchLabels") == labels]
    assert mine and all(p["spec"]["policyTypes"] == ["Egress"] for p in mine)
    ports = {(port["port"], port["protocol"]) for p in mine for rule in p["spec"]["egress"] for port in rule["ports"]}
    assert ports == {(5432, "TCP"), (443, "TCP")}


def test_a_job_that_did_not_complete_runs_again_on_the_next_up(stack: Recording) -> None:
    """After a fix outside the stack (a database reachable again, an image pushed), re-running `up` must re-run the
    failed Job rather than keep it: pulumi-kubernetes replaces a Job annotated `pulumi.com/replaceUnready` whose
    checker says it is not complete (provider/pkg/provider/provider.go `Diff`); a completed Job is left alone."""
    for job in of_kind(stack.kubernetes_manifests(), "Job"):
        annotations = job["metadata"].get("annotations") or {}
        assert annotations.get("pulumi.com/replaceUnready") == "true", job["metadata"]["name"]
