"""Kubernetes helpers the rule modules share: type tokens, pod templates, containers, label selectors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from .base import get, items, of_type

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

WORKLOADS = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET, JOB, CRON_JOB, POD)
# Workloads whose pods serve until replaced: they need probes, graceful shutdown and spreading.
LONG_RUNNING = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET)
NAMESPACED = (
    *WORKLOADS,
    SERVICE,
    SERVICE_ACCOUNT,
    SECRET,
    CONFIG_MAP,
    INGRESS,
    NETWORK_POLICY,
    PDB,
    *HPA,
    ROLE,
    ROLE_BINDING,
)

ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"


def pod_template(props: Any, resource_type: str) -> Any:
    """The pod template ({metadata, spec}) of a workload; for a bare Pod, the Pod itself."""
    if resource_type == POD:
        return props
    if resource_type == CRON_JOB:
        return get(props, "spec.jobTemplate.spec.template")
    return get(props, "spec.template")


def pod_spec(props: Any, resource_type: str) -> Any:
    return get(pod_template(props, resource_type), "spec")


def containers(spec: Any, *, init: bool = True) -> list[tuple[str, Any]]:
    """(label, container) for each container, init containers included unless `init` is False."""
    found = [(f"container {get(c, 'name', i)}", c) for i, c in enumerate(items(get(spec, "containers")))]
    if init:
        found += [(f"init container {get(c, 'name', i)}", c) for i, c in enumerate(items(get(spec, "initContainers")))]
    return found


def effective(spec: Any, container: Any, field: str) -> Any:
    """A securityContext field as it applies to `container`: its own value, else the pod's."""
    own = get(container, f"securityContext.{field}")
    return own if own is not None else get(spec, f"securityContext.{field}")


def namespace_of(props: Any, provider_props: Any = None) -> str:
    """The namespace an object lands in: its own, else its provider's, else "default"."""
    return str(get(props, "metadata.namespace") or get(provider_props, "namespace") or "default")


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches everything."""
    for key, value in dict(get(selector, "matchLabels", {})).items():
        if labels.get(key) != value:
            return False
    for expression in items(get(selector, "matchExpressions")):
        key, operator = get(expression, "key"), get(expression, "operator")
        values = items(get(expression, "values"))
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def declared(resource: PolicyResource) -> Any:
    """What the program declared for a Kubernetes object.

    Stack policies see a resource's outputs. For an object that exists, pulumi-kubernetes outputs the live
    object (with fields the API server or controllers filled in, such as `spec.replicas`) and keeps the
    program's inputs under `__inputs`; before creation, the outputs are the inputs.
    """
    props = resource.props
    inputs = get(props, "__inputs")
    return inputs if isinstance(inputs, Mapping) else props


def name_of(resource: PolicyResource) -> str:
    return str(get(resource.props, "metadata.name") or resource.name)


def _provider_props(resource: PolicyResource) -> Any:
    return resource.provider.props if resource.provider is not None else None


def resource_namespace(resource: PolicyResource) -> str:
    return namespace_of(declared(resource), _provider_props(resource))


def stack_workloads(
    resources: Iterable[PolicyResource], types: Sequence[str] = LONG_RUNNING
) -> list[tuple[PolicyResource, str, dict[str, Any]]]:
    """(workload, namespace, pod labels) for each workload of `types` (by default the long-running ones)."""
    found = []
    for w in of_type(list(resources), *types):
        labels = dict(get(pod_template(declared(w), w.resource_type), "metadata.labels", {}))
        found.append((w, resource_namespace(w), labels))
    return found
