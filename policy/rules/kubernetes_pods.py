"""Kubernetes pod templates: the restricted security context, resources, probes, images, secrets, service accounts,
spreading and graceful rollouts. Each rule applies to every workload kind's pod template."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import (
    AVAILABILITY,
    Props,
    config,
    get,
    integer_setting,
    is_true,
    is_zero,
    items,
    number,
    plain,
    resource_rule,
)
from .k8s import (
    DEPLOYMENT,
    HOST_KEY,
    LONG_RUNNING,
    STATEFUL_SET,
    WORKLOADS,
    ZONE_KEY,
    containers,
    effective,
    pod_spec,
)

MIN_UID = 10000
RESOURCE_KINDS = ("cpu", "memory", "ephemeral-storage")
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
DEFAULT_GRACE_SECONDS = 30


@resource_rule(
    "kubernetes-core-podspec-enable-run-as-non-root",
    "Containers run as a non-root user with a UID of at least 10000 (runAsNonRoot, runAsUser).",
    controls=("CKV_K8S_23", "CKV_K8S_40", "CIS EKS 4.2.6", "polaris runAsRootAllowed"),
    types=WORKLOADS,
    config_schema=integer_setting("minimumUid", MIN_UID, "Lowest UID allowed."),
)
def run_as_non_root(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(props, args.resource_type)
    minimum = int(config(args, "minimumUid", MIN_UID))
    for label, c in containers(spec):
        if not is_true(effective(spec, c, "runAsNonRoot")):
            yield f"{label}: securityContext.runAsNonRoot must be true (pod or container)"
        uid = number(effective(spec, c, "runAsUser"))
        if uid is None or uid < minimum:
            got = "unset" if uid is None else f"{uid:g}"
            yield f"{label}: securityContext.runAsUser must be >= {minimum} (got {got})"


@resource_rule(
    "kubernetes-core-podspec-enable-read-only-root-filesystem",
    "Containers have a read-only root filesystem (writable paths are emptyDir volumes, e.g. /tmp).",
    controls=("CKV_K8S_22", "polaris readOnlyRootFilesystem", "kube-linter no-read-only-root-fs"),
    types=WORKLOADS,
)
def read_only_root(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for label, c in containers(pod_spec(props, args.resource_type)):
        if not is_true(get(c, "securityContext.readOnlyRootFilesystem")):
            yield f"{label}: securityContext.readOnlyRootFilesystem must be true"


@resource_rule(
    "kubernetes-core-podspec-disallow-privilege-escalation",
    "Containers are not privileged and cannot gain privileges (allowPrivilegeEscalation: false).",
    controls=("CKV_K8S_16", "CKV_K8S_20", "CIS EKS 4.2.1", "CIS EKS 4.2.5"),
    types=WORKLOADS,
)
def privilege_escalation(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for label, c in containers(pod_spec(props, args.resource_type)):
        if get(c, "securityContext.allowPrivilegeEscalation") is not False:
            yield f"{label}: securityContext.allowPrivilegeEscalation must be false"
        if is_true(get(c, "securityContext.privileged")):
            yield f"{label}: securityContext.privileged must not be true"


@resource_rule(
    "kubernetes-core-podspec-configure-drop-all-capabilities",
    "Containers drop ALL Linux capabilities and add none back (NET_BIND_SERVICE excepted).",
    controls=("CKV_K8S_25", "CKV_K8S_28", "CKV_K8S_37", "CIS EKS 4.2.7", "CIS EKS 4.2.8", "CIS EKS 4.2.9"),
    types=WORKLOADS,
)
def drop_capabilities(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for label, c in containers(pod_spec(props, args.resource_type)):
        dropped = {str(cap).upper() for cap in items(get(c, "securityContext.capabilities.drop"))}
        if "ALL" not in dropped:
            yield f"{label}: securityContext.capabilities.drop must include ALL"
        added = [cap for cap in items(get(c, "securityContext.capabilities.add")) if cap != "NET_BIND_SERVICE"]
        if added:
            yield f"{label}: securityContext.capabilities.add must be empty (got {added})"


@resource_rule(
    "kubernetes-core-podspec-configure-seccomp-runtime-default",
    "Containers run under the RuntimeDefault (or a Localhost) seccomp profile.",
    controls=("CKV_K8S_31", "kube-score container-seccomp-profile"),
    types=WORKLOADS,
)
def seccomp(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(props, args.resource_type)
    for label, c in containers(spec):
        kind = get(effective(spec, c, "seccompProfile"), "type")
        if kind not in SECCOMP_TYPES:
            yield f"{label}: securityContext.seccompProfile.type must be RuntimeDefault (got {kind!r})"


@resource_rule(
    "kubernetes-core-podspec-disallow-host-access",
    "Pods share no host namespace (network, PID, IPC), mount no hostPath and bind no hostPort.",
    controls=("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19", "CIS EKS 4.2.2", "CIS EKS 4.2.3", "CIS EKS 4.2.4"),
    types=WORKLOADS,
)
def host_access(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(props, args.resource_type)
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if is_true(get(spec, field)):
            yield f"{field} must not be true"
    for volume in items(get(spec, "volumes")):
        if get(volume, "hostPath") is not None:
            yield f"volume {get(volume, 'name')} mounts a hostPath"
    for label, c in containers(spec):
        for port in items(get(c, "ports")):
            if get(port, "hostPort") is not None:
                yield f"{label}: port {get(port, 'containerPort')} binds hostPort {get(port, 'hostPort')}"


@resource_rule(
    "kubernetes-core-podspec-configure-resources",
    "Containers request and limit CPU, memory and ephemeral storage.",
    controls=("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13", "kube-score container-resources"),
    types=WORKLOADS,
)
def resources(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for label, c in containers(pod_spec(props, args.resource_type)):
        for bound in ("requests", "limits"):
            missing = [k for k in RESOURCE_KINDS if get(c, f"resources.{bound}.{k}") is None]
            if missing:
                yield f"{label}: resources.{bound} must set {', '.join(missing)}"


@resource_rule(
    "kubernetes-core-podspec-configure-probes",
    "Serving containers have startup, readiness and liveness probes, and liveness differs from readiness.",
    controls=("CKV_K8S_8", "CKV_K8S_9", "kube-score pod-probes", "polaris livenessProbeMissing"),
    types=LONG_RUNNING,
)
def probes(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for label, c in containers(pod_spec(props, args.resource_type), init=False):
        missing = [p for p in ("startupProbe", "readinessProbe", "livenessProbe") if get(c, p) is None]
        if missing:
            yield f"{label}: {', '.join(missing)} must be set"
        elif plain(get(c, "livenessProbe")) == plain(get(c, "readinessProbe")):
            # Identical probes restart pods that are merely busy or waiting on a dependency.
            yield f"{label}: livenessProbe must differ from readinessProbe"


def image_fault(image: Any) -> str | None:
    if not isinstance(image, str) or not image:
        return "has no image"
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return f"image {image} has no tag (means latest): pin a tag or a digest"
    if tag == "latest":
        return f"image {image} uses the latest tag: pin an immutable tag or a digest"
    return None


@resource_rule(
    "kubernetes-core-podspec-disallow-latest-image",
    "Images are pinned by digest or an immutable tag, never latest or untagged.",
    controls=("CKV_K8S_14", "CKV_K8S_43", "kube-linter latest-tag", "polaris tagNotSpecified"),
    types=WORKLOADS,
)
def pinned_image(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for label, c in containers(pod_spec(props, args.resource_type)):
        fault = image_fault(get(c, "image"))
        if fault:
            yield f"{label}: {fault}"


@resource_rule(
    "kubernetes-core-podspec-disallow-secrets-in-env",
    "Secrets reach containers as mounted files, never as environment variables.",
    controls=("CKV_K8S_35", "CIS EKS 4.4.1", "kube-linter env-var-secret"),
    types=WORKLOADS,
)
def secrets_in_env(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    for label, c in containers(pod_spec(props, args.resource_type)):
        for env in items(get(c, "env")):
            if get(env, "valueFrom.secretKeyRef") is not None:
                yield f"{label}: env {get(env, 'name')} comes from a Secret; mount the Secret as a file"
        for source in items(get(c, "envFrom")):
            if get(source, "secretRef") is not None:
                yield f"{label}: envFrom loads Secret {get(source, 'secretRef.name')}; mount it as a file"


@resource_rule(
    "kubernetes-core-podspec-configure-dedicated-service-account",
    "Each workload runs under its own ServiceAccount, never the namespace's default.",
    controls=("CIS EKS 4.1.5", "CIS EKS 5.2.1", "kube-linter default-service-account"),
    types=WORKLOADS,
)
def dedicated_service_account(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(props, args.resource_type)
    account = get(spec, "serviceAccountName") or get(spec, "serviceAccount")
    if not account or account == "default":
        yield "serviceAccountName must name a dedicated ServiceAccount (not default)"


@resource_rule(
    "kubernetes-core-podspec-disallow-token-automount",
    "Pods do not mount a Kubernetes API token (automountServiceAccountToken: false); IRSA uses its own token.",
    controls=("CKV_K8S_38", "CIS EKS 4.1.6", "polaris automountServiceAccountToken"),
    types=WORKLOADS,
)
def token_automount(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if get(pod_spec(props, args.resource_type), "automountServiceAccountToken") is not False:
        yield "automountServiceAccountToken must be false in the pod spec"


@resource_rule(
    "kubernetes-core-podspec-configure-topology-spread",
    "Replicas spread across zones and hosts (topologySpreadConstraints on both keys).",
    controls=("kube-score pod-topology-spread-constraints", "polaris topologySpreadConstraint"),
    types=(DEPLOYMENT, STATEFUL_SET),
    category=AVAILABILITY,
)
def topology_spread(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    keys = {get(t, "topologyKey") for t in items(get(pod_spec(props, args.resource_type), "topologySpreadConstraints"))}
    missing = [k for k in (ZONE_KEY, HOST_KEY) if k not in keys]
    if missing:
        yield f"topologySpreadConstraints must spread over {', '.join(missing)}"


def pre_stop_sleep(container: Any) -> float | None:
    """Seconds a container's preStop hook sleeps (exec `sleep N` or the native sleep action), if it does."""
    hook = get(container, "lifecycle.preStop")
    if hook is None:
        return None
    seconds = number(get(hook, "sleep.seconds"))
    if seconds is not None:
        return seconds
    command = " ".join(str(part) for part in items(get(hook, "exec.command")))
    match = re.search(r"\bsleep\s+(\d+(?:\.\d+)?)", command)
    return float(match.group(1)) if match else None


@resource_rule(
    "kubernetes-core-podspec-configure-graceful-shutdown",
    "Serving containers sleep in preStop (the load balancer deregisters them) and the grace period outlasts it.",
    controls=("Platform baseline: preStop sleep + terminationGracePeriodSeconds", "kube-score container-lifecycle"),
    types=(DEPLOYMENT, STATEFUL_SET),
    category=AVAILABILITY,
)
def graceful_shutdown(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(props, args.resource_type)
    grace = number(get(spec, "terminationGracePeriodSeconds"))
    grace = DEFAULT_GRACE_SECONDS if grace is None else grace
    for label, c in containers(spec, init=False):
        if not items(get(c, "ports")):
            continue
        sleep = pre_stop_sleep(c)
        if sleep is None:
            yield f"{label}: lifecycle.preStop must sleep (exec sleep N, or sleep.seconds) before shutdown"
        elif grace <= sleep:
            yield f"{label}: terminationGracePeriodSeconds ({grace:g}) must exceed the preStop sleep ({sleep:g}s)"


@resource_rule(
    "kubernetes-apps-deployment-configure-rolling-update",
    "Deployments roll out with maxUnavailable 0, so capacity never drops during a rollout.",
    controls=("kube-linter no-rolling-update-strategy", "Platform baseline: RollingUpdate maxUnavailable 0"),
    types=(DEPLOYMENT,),
    category=AVAILABILITY,
)
def rolling_update(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    kind = get(props, "spec.strategy.type", "RollingUpdate")
    if kind != "RollingUpdate":
        yield f"spec.strategy.type must be RollingUpdate (got {kind!r})"
    elif not is_zero(get(props, "spec.strategy.rollingUpdate.maxUnavailable")):
        yield "spec.strategy.rollingUpdate.maxUnavailable must be 0 (the default is 25%)"
