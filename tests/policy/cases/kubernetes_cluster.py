"""Passing and failing cases for the rules of `policy/rules/kubernetes_cluster.py`."""

from __future__ import annotations

from tests.policy.cases.common import Case
from tests.policy.cases.kubernetes_resources import (
    DEPLOYMENT,
    DEPLOYMENT_T,
    HPA,
    HPA_T,
    LB_CONTROLLER,
    NAMESPACE,
    NAMESPACE_T,
    PDB,
    PDB_T,
    RELEASE_T,
    SERVICE,
    SERVICE_T,
)
from tests.policy.support import DELETE, changed

CASES = [
    Case("kubernetes-core-namespace-configure-pod-security-restricted", NAMESPACE_T, NAMESPACE),
    Case(
        "kubernetes-core-namespace-configure-pod-security-restricted",
        NAMESPACE_T,
        changed(NAMESPACE, {"metadata.labels": {"pod-security.kubernetes.io/enforce": "baseline"}}),
        "must be 'restricted' (got 'baseline')",
    ),
    Case("kubernetes-core-resource-disallow-default-namespace", SERVICE_T, SERVICE),
    Case(
        "kubernetes-core-resource-disallow-default-namespace",
        SERVICE_T,
        changed(SERVICE, {"metadata.namespace": DELETE}),
        id="provider-namespace",
        provider={"kubeconfig": "{}", "namespace": "inference"},
    ),
    Case(
        "kubernetes-core-resource-disallow-default-namespace",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {"metadata.namespace": DELETE}),
        "it is 'default' or unset",
    ),
    Case("kubernetes-autoscaling-hpa-configure-min-replicas", HPA_T, HPA),
    Case(
        "kubernetes-autoscaling-hpa-configure-min-replicas",
        HPA_T,
        changed(HPA, {"spec.minReplicas": 1}),
        "must be >= 2 (got 1)",
    ),
    Case("kubernetes-autoscaling-hpa-configure-max-above-min", HPA_T, HPA),
    Case(
        "kubernetes-autoscaling-hpa-configure-max-above-min",
        HPA_T,
        changed(HPA, {"spec.maxReplicas": 2}),
        "maxReplicas (2) must be greater than spec.minReplicas (2)",
    ),
    Case("kubernetes-policy-poddisruptionbudget-configure-eviction", PDB_T, PDB),
    Case(
        "kubernetes-policy-poddisruptionbudget-configure-eviction",
        PDB_T,
        changed(PDB, {"spec.maxUnavailable": 0}),
        "maxUnavailable is 0",
    ),
    Case(
        "kubernetes-policy-poddisruptionbudget-configure-eviction",
        PDB_T,
        changed(PDB, {"spec.unhealthyPodEvictionPolicy": DELETE}),
        "must be AlwaysAllow (got None)",
        id="default-eviction",
    ),
    Case("kubernetes-helm-release-configure-pinned-version", RELEASE_T, LB_CONTROLLER),
    Case(
        "kubernetes-helm-release-configure-pinned-version",
        RELEASE_T,
        changed(LB_CONTROLLER, {"version": "1.x"}),
        "exact chart version (got '1.x')",
    ),
    Case("kubernetes-helm-release-configure-lb-controller-values", RELEASE_T, LB_CONTROLLER),
    Case(
        "kubernetes-helm-release-configure-lb-controller-values",
        RELEASE_T,
        changed(LB_CONTROLLER, {"values.region": DELETE, "values.vpcId": DELETE}),
        "values must set region, vpcId",
    ),
]
