"""Kubernetes objects around the pods: namespaces, autoscalers, disruption budgets and Helm releases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from .base import (
    AVAILABILITY,
    Findings,
    Props,
    get,
    is_zero,
    number,
    of_type,
    resource_rule,
    stack_rule,
)
from .k8s import (
    DEPLOYMENT,
    HELM_RELEASE,
    HPA,
    INGRESS,
    NAMESPACE,
    NAMESPACED,
    PDB,
    STATEFUL_SET,
    declared,
    name_of,
    namespace_of,
    resource_namespace,
    selector_matches,
    stack_workloads,
)
from .shapes import minimum_rule

PSA_LEVEL = "pod-security.kubernetes.io/enforce"
MIN_REPLICAS = 2
EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?")
LB_CONTROLLER_CHART = "aws-load-balancer-controller"
READINESS_GATE = "elbv2.k8s.aws/pod-readiness-gate-inject"


@resource_rule(
    "kubernetes-core-namespace-configure-pod-security-restricted",
    "Namespaces enforce the Pod Security Standard 'restricted'.",
    controls=("CIS EKS 4.2", "CIS EKS 4.5.1", "CKV_K8S_21"),
    types=(NAMESPACE,),
)
def pod_security(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    level = get(props, "metadata.labels", {}).get(PSA_LEVEL)
    if level != "restricted":
        yield f"metadata.labels[{PSA_LEVEL}] must be 'restricted' (got {level!r})"


@resource_rule(
    "kubernetes-core-resource-disallow-default-namespace",
    "Workloads and their objects live in a dedicated namespace, never 'default'.",
    controls=("CKV_K8S_21", "CIS EKS 4.5.2"),
    types=NAMESPACED,
)
def default_namespace(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    provider_props = args.provider.props if args.provider is not None else None
    if namespace_of(props, provider_props) == "default":
        yield "metadata.namespace must name a dedicated namespace (it is 'default' or unset)"


hpa_min_replicas = minimum_rule(
    "kubernetes-autoscaling-hpa-configure-min-replicas",
    "Autoscaled workloads keep at least 2 replicas, so one pod's loss or eviction leaves service running.",
    controls=("polaris hpaMinAvailability", "kube-linter hpa-minimum-replicas"),
    types=HPA,
    path="spec.minReplicas",
    setting="minReplicas",
    default=MIN_REPLICAS,
    description="Lowest minReplicas allowed.",
    # The HorizontalPodAutoscaler API defaults minReplicas to 1.
    absent=1,
    category=AVAILABILITY,
)


@resource_rule(
    "kubernetes-autoscaling-hpa-configure-max-above-min",
    "An autoscaler can scale: maxReplicas is above minReplicas.",
    controls=("polaris hpaMaxAvailability", "Platform baseline: HPA maxReplicas > minReplicas"),
    types=HPA,
)
def hpa_max_above_min(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    low = number(get(props, "spec.minReplicas")) or 1
    high = number(get(props, "spec.maxReplicas")) or 0
    if high <= low:
        yield f"spec.maxReplicas ({high:g}) must be greater than spec.minReplicas ({low:g})"


def _blocks_all_disruption(spec: Any) -> str | None:
    max_unavailable, min_available = get(spec, "maxUnavailable"), get(spec, "minAvailable")
    if max_unavailable is not None and is_zero(max_unavailable):
        return "spec.maxUnavailable is 0: node drains and upgrades would block forever"
    if min_available is not None and str(min_available).strip() == "100%":
        return "spec.minAvailable is 100%: node drains and upgrades would block forever"
    if max_unavailable is None and min_available is None:
        return "spec.maxUnavailable (or minAvailable) must be set"
    return None


@resource_rule(
    "kubernetes-policy-poddisruptionbudget-configure-eviction",
    "Disruption budgets still allow evictions and let unhealthy pods go (unhealthyPodEvictionPolicy AlwaysAllow).",
    controls=(
        "kube-linter pdb-unhealthy-pod-eviction-policy",
        "kube-linter pdb-max-unavailable",
        "polaris pdbDisruptionsIsZero",
    ),
    types=(PDB,),
)
def pdb_eviction(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    fault = _blocks_all_disruption(get(props, "spec"))
    if fault:
        yield fault
    policy = get(props, "spec.unhealthyPodEvictionPolicy")
    if policy != "AlwaysAllow":
        yield f"spec.unhealthyPodEvictionPolicy must be AlwaysAllow (got {policy!r}): crash-looping pods block drains"


@resource_rule(
    "kubernetes-helm-release-configure-pinned-version",
    "Helm releases install an exact chart version from a named repository.",
    controls=("Platform baseline: Helm charts at pinned versions",),
    types=(HELM_RELEASE,),
)
def pinned_chart(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    version = get(props, "version")
    if not isinstance(version, str) or not EXACT_VERSION.fullmatch(version):
        yield f"version must pin an exact chart version (got {version!r})"
    chart = str(get(props, "chart", ""))
    if not get(props, "repositoryOpts.repo") and not chart.startswith(("oci://", "https://")) and "/" not in chart:
        yield "repositoryOpts.repo must name the chart's repository"


@resource_rule(
    "kubernetes-helm-release-configure-lb-controller-values",
    "The AWS Load Balancer Controller is told its cluster, region and VPC (IMDS hop limit 1 hides them) and runs "
    "under an IRSA role.",
    controls=("CKV_AWS_341", "CIS EKS 5.2.1"),
    types=(HELM_RELEASE,),
)
def lb_controller_values(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(props, "chart", "")).rsplit("/", 1)[-1] != LB_CONTROLLER_CHART:
        return
    values = get(props, "values", {})
    missing = [key for key in ("clusterName", "region", "vpcId") if not get(values, key)]
    if missing:
        yield f"values must set {', '.join(missing)}"
    if not get(values, "serviceAccount.annotations", {}).get("eks.amazonaws.com/role-arn"):
        yield "values.serviceAccount.annotations must carry eks.amazonaws.com/role-arn (IRSA)"


# ---------------------------------------------------------------------------------------------------------- stack rules


@stack_rule(
    "kubernetes-apps-deployment-configure-pdb",
    "Every Deployment and StatefulSet is covered by a PodDisruptionBudget in its namespace.",
    controls=("kube-score deployment-has-poddisruptionbudget", "polaris missingPodDisruptionBudget"),
    category=AVAILABILITY,
)
def workload_pdb(args: StackValidationArgs) -> Findings:
    budgets = [(p, resource_namespace(p)) for p in of_type(args.resources, PDB)]
    # DaemonSet pods are not evicted by node drains, so only replicated workloads need a budget.
    for workload, namespace, labels in stack_workloads(args.resources, (DEPLOYMENT, STATEFUL_SET)):
        if not any(
            ns == namespace and selector_matches(get(declared(p), "spec.selector"), labels) for p, ns in budgets
        ):
            yield f"{workload.name} ({namespace}) has no PodDisruptionBudget selecting its pods", workload.urn


@stack_rule(
    "kubernetes-apps-deployment-disallow-replicas-under-hpa",
    "An autoscaled Deployment sets no replicas (or ignores changes to it), so `pulumi up` never resets the scale; "
    "every HPA targets a workload of the stack.",
    controls=(
        "kube-score deployment-targeted-by-hpa-does-not-have-replicas",
        "kube-score horizontalpodautoscaler-has-target",
    ),
)
def replicas_under_hpa(args: StackValidationArgs) -> Findings:
    workloads = stack_workloads(args.resources)
    for hpa in of_type(args.resources, *HPA):
        target = get(declared(hpa), "spec.scaleTargetRef", {})
        kind, name, namespace = get(target, "kind"), get(target, "name"), resource_namespace(hpa)
        matches = [
            w
            for w, ns, _ in workloads
            if ns == namespace and name_of(w) == name and w.resource_type.rsplit(":", 1)[-1] == kind
        ]
        if not matches:
            yield f"HPA {hpa.name} targets {kind} {namespace}/{name}, which this stack does not create", hpa.urn
            continue
        for workload in matches:
            ignored = set(workload.opts.ignore_changes or [])
            if get(declared(workload), "spec.replicas") is not None and not ignored & {"spec.replicas", "spec"}:
                yield (
                    f"{workload.name} sets spec.replicas under HPA {hpa.name}: drop it (or ignore changes)",
                    workload.urn,
                )


@stack_rule(
    "kubernetes-core-namespace-enable-pod-readiness-gate",
    "Namespaces behind an ALB with IP targets inject the LB controller's pod readiness gate.",
    controls=("Platform baseline: LB pod readiness gate label on the namespace",),
    category=AVAILABILITY,
)
def readiness_gate(args: StackValidationArgs) -> Findings:
    namespaces = {name_of(n): n for n in of_type(args.resources, NAMESPACE)}
    for ingress in of_type(args.resources, INGRESS):
        annotations = get(declared(ingress), "metadata.annotations", {})
        if annotations.get("alb.ingress.kubernetes.io/target-type") != "ip":
            continue
        namespace = namespaces.get(resource_namespace(ingress))
        if namespace is None:
            continue
        if get(declared(namespace), "metadata.labels", {}).get(READINESS_GATE) != "enabled":
            yield f"namespace {name_of(namespace)} must be labelled {READINESS_GATE}=enabled", namespace.urn
