"""Passing and failing cases for the rules of `policy/rules/kubernetes_pods.py`."""

from __future__ import annotations

from tests.policy.cases.common import Case
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

CASES = [
    Case("kubernetes-core-podspec-enable-run-as-non-root", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {
                C + "securityContext.runAsUser": 0,
                POD + "securityContext.runAsNonRoot": False,
                C + "securityContext.runAsNonRoot": DELETE,
            },
        ),
        "runAsNonRoot must be true",
    ),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.runAsUser": 1000}),
        "runAsUser must be >= 10000 (got 1000)",
        id="low-uid",
    ),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.runAsUser": DELETE}),
        id="uid-from-pod",
    ),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        CRON_JOB_T,
        changed(
            CRON_JOB,
            {
                "spec.jobTemplate.spec.template.spec.securityContext.runAsUser": DELETE,
                JOB_C + "securityContext.runAsUser": DELETE,
            },
        ),
        "container train: securityContext.runAsUser must be >= 10000 (got unset)",
        id="cronjob",
    ),
    Case("kubernetes-core-podspec-enable-read-only-root-filesystem", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-enable-read-only-root-filesystem",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.readOnlyRootFilesystem": False}),
        "container inference: securityContext.readOnlyRootFilesystem must be true",
    ),
    Case("kubernetes-core-podspec-disallow-privilege-escalation", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-privilege-escalation",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.allowPrivilegeEscalation": DELETE}),
        "allowPrivilegeEscalation must be false",
    ),
    Case(
        "kubernetes-core-podspec-disallow-privilege-escalation",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.privileged": True}),
        "privileged must not be true",
        id="privileged",
    ),
    Case("kubernetes-core-podspec-configure-drop-all-capabilities", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-drop-all-capabilities",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.capabilities": {"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]}}),
        "capabilities.add must be empty (got ['SYS_ADMIN'])",
    ),
    Case("kubernetes-core-podspec-configure-seccomp-runtime-default", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-seccomp-runtime-default",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {
                C + "securityContext.seccompProfile": DELETE,
                POD + "securityContext.seccompProfile": {"type": "Unconfined"},
            },
        ),
        "(got 'Unconfined')",
    ),
    Case("kubernetes-core-podspec-disallow-host-access", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-host-access",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "hostNetwork": True}),
        "hostNetwork must not be true",
    ),
    Case(
        "kubernetes-core-podspec-disallow-host-access",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]}),
        "volume docker mounts a hostPath",
        id="host-path",
    ),
    Case("kubernetes-core-podspec-configure-resources", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-resources",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "resources.limits": {"memory": "1Gi"}}),
        "resources.limits must set cpu, ephemeral-storage",
    ),
    Case("kubernetes-core-podspec-configure-probes", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-probes",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "startupProbe": DELETE}),
        "startupProbe must be set",
    ),
    Case(
        "kubernetes-core-podspec-configure-probes",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "livenessProbe": CONTAINER["readinessProbe"]}),
        "livenessProbe must differ from readinessProbe",
        id="identical",
    ),
    Case("kubernetes-core-podspec-disallow-latest-image", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-latest-image",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "image": f"{IMAGE.split(':')[0]}@sha256:{'a' * 64}"}),
        id="digest",
    ),
    Case(
        "kubernetes-core-podspec-disallow-latest-image",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "image": "localhost:5000/mlp/inference"}),
        "has no tag (means latest)",
        id="registry-port-no-tag",
    ),
    Case(
        "kubernetes-core-podspec-disallow-latest-image",
        CRON_JOB_T,
        changed(CRON_JOB, {JOB_C + "image": "ghcr.io/mlp/training:latest"}),
        "uses the latest tag",
    ),
    Case("kubernetes-core-podspec-disallow-secrets-in-env", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-secrets-in-env",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {C + "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis", "key": "token"}}}]},
        ),
        "env REDIS_PASSWORD comes from a Secret",
    ),
    Case(
        "kubernetes-core-podspec-disallow-secrets-in-env",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "envFrom": [{"secretRef": {"name": "mlflow-db"}}]}),
        "envFrom loads Secret mlflow-db",
        id="env-from",
    ),
    Case("kubernetes-core-podspec-configure-dedicated-service-account", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-dedicated-service-account",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "serviceAccountName": DELETE}),
        "dedicated ServiceAccount (not default)",
    ),
    Case("kubernetes-core-podspec-disallow-token-automount", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-token-automount",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "automountServiceAccountToken": DELETE}),
        "automountServiceAccountToken must be false",
    ),
    Case("kubernetes-core-podspec-configure-topology-spread", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-topology-spread",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "topologySpreadConstraints": [POD_SPEC["topologySpreadConstraints"][1]]}),
        "must spread over topology.kubernetes.io/zone",
    ),
    Case("kubernetes-core-podspec-configure-graceful-shutdown", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-graceful-shutdown",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {C + "lifecycle": {"preStop": {"sleep": {"seconds": 15}}}, POD + "terminationGracePeriodSeconds": DELETE},
        ),
        id="native-sleep-default-grace",
    ),
    Case(
        "kubernetes-core-podspec-configure-graceful-shutdown",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "lifecycle": DELETE}),
        "lifecycle.preStop must sleep",
    ),
    Case(
        "kubernetes-core-podspec-configure-graceful-shutdown",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "lifecycle.preStop.exec.command": ["/bin/sh", "-c", "sleep 60"]}),
        "terminationGracePeriodSeconds (45) must exceed the preStop sleep (60s)",
        id="grace-too-short",
    ),
    Case("kubernetes-apps-deployment-configure-rolling-update", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-apps-deployment-configure-rolling-update",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {"spec.strategy": DELETE}),
        "maxUnavailable must be 0 (the default is 25%)",
    ),
    Case(
        "kubernetes-apps-deployment-configure-rolling-update",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {"spec.strategy": {"type": "Recreate"}}),
        "got 'Recreate'",
        id="recreate",
    ),
]
