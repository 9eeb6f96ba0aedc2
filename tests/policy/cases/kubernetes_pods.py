"""The rules of `policy/rules/kubernetes_pods.py` on the compliant Deployment (its container setting its own security
context, or inheriting the pod's) and CronJob: each row one change and the messages it must produce."""

from __future__ import annotations

from tests.policy.cases.common import fails, passes, table
from tests.policy.cases.kubernetes_resources import (
    CONTAINER,
    CRON_JOB,
    CRON_JOB_T,
    DEPLOYMENT,
    DEPLOYMENT_T,
    IMAGE,
    JOB_C,
    POD,
    POD_SPEC,
    C,
)
from tests.policy.support import DELETE, changed

# The same pod with the container inheriting the pod's securityContext (runAsNonRoot, runAsUser, seccompProfile).
INHERITING = (
    DEPLOYMENT_T,
    changed(
        DEPLOYMENT,
        {
            C + "securityContext.runAsNonRoot": DELETE,
            C + "securityContext.runAsUser": DELETE,
            C + "securityContext.seccompProfile": DELETE,
        },
    ),
)
CRON = (CRON_JOB_T, CRON_JOB)
SC = C + "securityContext."

CASES = table(
    DEPLOYMENT_T,
    DEPLOYMENT,
    {
        "kubernetes-core-podspec-enable-run-as-non-root": [
            fails(SC + "runAsNonRoot", False, "container inference: securityContext.runAsNonRoot must be true"),
            fails(POD + "securityContext.runAsNonRoot", False, "runAsNonRoot must be true", id="pod", on=INHERITING),
            fails(SC + "runAsUser", 1000, "container inference: securityContext.runAsUser must be >= 10000 (got 1000)"),
            fails(POD + "securityContext.runAsUser", DELETE, "runAsUser must be >= 10000 (got unset)", on=INHERITING),
            fails(JOB_C + "securityContext.runAsUser", 0, "container train: securityContext.runAsUser", on=CRON),
            fails(None, None, "runAsUser must be >= 20000 (got 10001)", id="configured", config={"minimumUid": 20000}),
        ],
        "kubernetes-core-podspec-enable-read-only-root-filesystem": [
            fails(
                SC + "readOnlyRootFilesystem",
                False,
                "container inference: securityContext.readOnlyRootFilesystem must be true",
            ),
            fails(
                POD + "initContainers",
                [
                    {
                        **CONTAINER,
                        "name": "migrate",
                        "securityContext": {**CONTAINER["securityContext"], "readOnlyRootFilesystem": False},
                    }
                ],
                "init container migrate: securityContext.readOnlyRootFilesystem must be true",
                id="init-container",
            ),
        ],
        "kubernetes-core-podspec-disallow-privilege-escalation": [
            fails(SC + "allowPrivilegeEscalation", DELETE, "allowPrivilegeEscalation must be false"),
            fails(SC + "allowPrivilegeEscalation", True, "allowPrivilegeEscalation must be false", id="true"),
            fails(SC + "privileged", True, "privileged must not be true", id="privileged"),
        ],
        "kubernetes-core-podspec-configure-drop-all-capabilities": [
            fails(
                SC + "capabilities.drop",
                ["NET_RAW"],
                "container inference: securityContext.capabilities.drop must include ALL",
            ),
            fails(SC + "capabilities", DELETE, "capabilities.drop must include ALL", id="unset"),
            passes({SC + "capabilities.drop": ["all"]}, id="lower-case"),
            fails(SC + "capabilities.add", ["SYS_ADMIN"], "capabilities.add must be empty (got ['SYS_ADMIN'])"),
            passes({SC + "capabilities.add": ["NET_BIND_SERVICE"]}, id="bind-low-ports"),
        ],
        "kubernetes-core-podspec-configure-seccomp-runtime-default": [
            fails(
                SC + "seccompProfile.type",
                "Unconfined",
                "container inference: securityContext.seccompProfile.type must be RuntimeDefault (got 'Unconfined')",
            ),
            fails(POD + "securityContext.seccompProfile", DELETE, "(got None)", id="pod", on=INHERITING),
            passes(
                {SC + "seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/inference.json"}},
                id="localhost",
            ),
        ],
        "kubernetes-core-podspec-disallow-host-access": [
            fails(POD + "hostNetwork", True, "hostNetwork must not be true"),
            fails(POD + "hostPID", True, "hostPID must not be true"),
            fails(POD + "hostIPC", True, "hostIPC must not be true"),
            fails(
                POD + "volumes.1",
                {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}},
                "volume docker mounts a hostPath",
                id="host-path",
            ),
            fails(C + "ports.0.hostPort", 8000, "binds hostPort 8000"),
        ],
        "kubernetes-core-podspec-configure-resources": [
            fails(C + "resources.limits", {"memory": "1Gi"}, "resources.limits must set cpu, ephemeral-storage"),
            fails(C + "resources.requests", DELETE, "resources.requests must set cpu, memory, ephemeral-storage"),
        ],
        "kubernetes-core-podspec-configure-probes": [
            fails(C + "startupProbe", DELETE, "container inference: startupProbe must be set"),
            fails(C + "readinessProbe", DELETE, "container inference: readinessProbe must be set"),
            fails(
                C + "livenessProbe",
                CONTAINER["readinessProbe"],
                "container inference: livenessProbe must differ from readinessProbe",
                id="identical",
            ),
        ],
        "kubernetes-core-podspec-disallow-latest-image": [
            passes({C + "image": f"{IMAGE.split(':')[0]}@sha256:{'a' * 64}"}, id="digest"),
            fails(C + "image", "localhost:5000/mlp/inference", "has no tag (means latest)", id="registry-port-no-tag"),
            fails(C + "image", IMAGE.rsplit(":", 1)[0], "has no tag (means latest)", id="no-tag"),
            fails(C + "image", DELETE, "container inference: has no image", id="no-image"),
            fails(JOB_C + "image", "ghcr.io/mlp/training:latest", "uses the latest tag", on=CRON),
        ],
        "kubernetes-core-podspec-disallow-secrets-in-env": [
            fails(
                C + "env.0.valueFrom",
                {"secretKeyRef": {"name": "redis", "key": "token"}},
                "env INFERENCE_MODEL_NAME comes from a Secret",
            ),
            fails(
                C + "envFrom", [{"secretRef": {"name": "mlflow-db"}}], "envFrom loads Secret mlflow-db", id="env-from"
            ),
            passes({C + "envFrom": [{"configMapRef": {"name": "inference"}}]}, id="config-map-env-from"),
        ],
        "kubernetes-core-podspec-configure-dedicated-service-account": [
            fails(POD + "serviceAccountName", DELETE, "dedicated ServiceAccount (not default)"),
            fails(POD + "serviceAccountName", "default", "dedicated ServiceAccount (not default)", id="default"),
            passes({POD + "serviceAccountName": DELETE, POD + "serviceAccount": "inference"}, id="legacy-field"),
        ],
        "kubernetes-core-podspec-disallow-token-automount": [
            fails(POD + "automountServiceAccountToken", DELETE, "automountServiceAccountToken must be false"),
            fails(POD + "automountServiceAccountToken", True, "automountServiceAccountToken must be false", id="true"),
        ],
        "kubernetes-core-podspec-configure-topology-spread": [
            fails(
                POD + "topologySpreadConstraints",
                [POD_SPEC["topologySpreadConstraints"][1]],
                "must spread over topology.kubernetes.io/zone",
            ),
            fails(
                POD + "topologySpreadConstraints",
                DELETE,
                "must spread over topology.kubernetes.io/zone, kubernetes.io/hostname",
                id="none",
            ),
        ],
        "kubernetes-core-podspec-configure-graceful-shutdown": [
            passes(
                {
                    C + "lifecycle": {"preStop": {"sleep": {"seconds": 15}}},
                    POD + "terminationGracePeriodSeconds": DELETE,
                },
                id="native-sleep-default-grace",
            ),
            passes({C + "ports": DELETE, C + "lifecycle": DELETE}, id="no-ports"),
            fails(C + "lifecycle", DELETE, "container inference: lifecycle.preStop must sleep"),
            fails(
                C + "lifecycle.preStop.exec.command",
                ["/bin/sh", "-c", "echo bye"],
                "lifecycle.preStop must sleep",
                id="no-sleep",
            ),
            fails(
                C + "lifecycle.preStop.exec.command",
                ["/bin/sh", "-c", "sleep 60"],
                "terminationGracePeriodSeconds (45) must exceed the preStop sleep (60s)",
                id="grace-too-short",
            ),
            fails(
                POD + "terminationGracePeriodSeconds",
                10,
                "terminationGracePeriodSeconds (10) must exceed the preStop sleep (10s)",
                id="grace-equal",
            ),
        ],
        "kubernetes-apps-deployment-configure-rolling-update": [
            fails("spec.strategy", DELETE, "maxUnavailable must be 0 (the default is 25%)"),
            fails("spec.strategy.rollingUpdate.maxUnavailable", "25%", "maxUnavailable must be 0", id="quarter"),
            passes({"spec.strategy.rollingUpdate.maxUnavailable": "0%"}, id="zero-percent"),
            fails("spec.strategy.type", "Recreate", "got 'Recreate'", id="recreate"),
        ],
    },
)
