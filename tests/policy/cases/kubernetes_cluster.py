"""The rules of `policy/rules/kubernetes_cluster.py` on the compliant namespace, Service, HPA, PDB and LB controller
release: each row one change and the messages it must produce. Its stack rules are in `stacks.py`."""

from __future__ import annotations

from tests.policy.cases.common import fails, passes, table
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
from tests.policy.cases.stacks import (
    LIVE_DEPLOYMENT_UNDER_HPA,
    OTHER_LABELS,
    REPLICAS_IGNORED,
    drop,
    edit,
    stack_table,
    workloads,
)
from tests.policy.support import DELETE, changed

PSA = "pod-security.kubernetes.io/enforce"
# The budget written the other way round, also compliant: keep all pods but one.
MIN_AVAILABLE_PDB = changed(PDB, {"spec.maxUnavailable": DELETE, "spec.minAvailable": 1})
ROLE_ARN = ("values", "serviceAccount", "annotations", "eks.amazonaws.com/role-arn")

CASES = [
    *table(
        NAMESPACE_T,
        NAMESPACE,
        {
            "kubernetes-core-namespace-configure-pod-security-restricted": [
                fails(("metadata", "labels", PSA), "baseline", "must be 'restricted' (got 'baseline')"),
                fails(("metadata", "labels", PSA), DELETE, "must be 'restricted' (got None)", id="unlabelled"),
            ],
        },
    ),
    *table(
        SERVICE_T,
        SERVICE,
        {
            "kubernetes-core-resource-disallow-default-namespace": [
                passes(
                    {"metadata.namespace": DELETE},
                    id="provider-namespace",
                    provider={"kubeconfig": "{}", "namespace": "inference"},
                ),
                fails("metadata.namespace", DELETE, "it is 'default' or unset", on=(DEPLOYMENT_T, DEPLOYMENT)),
            ],
        },
    ),
    *table(
        HPA_T,
        HPA,
        {
            "kubernetes-autoscaling-hpa-configure-min-replicas": [
                fails("spec.minReplicas", 1, "must be >= 2 (got 1)"),
                fails("spec.minReplicas", DELETE, "must be >= 2 (got 1)", id="default"),
                passes({"spec.minReplicas": 1}, id="configured", config={"minReplicas": 1}),
            ],
            "kubernetes-autoscaling-hpa-configure-max-above-min": [
                fails("spec.maxReplicas", 2, "maxReplicas (2) must be greater than spec.minReplicas (2)"),
                fails("spec.maxReplicas", 1, "maxReplicas (1) must be greater than spec.minReplicas (2)", id="below"),
            ],
        },
    ),
    *table(
        PDB_T,
        PDB,
        {
            "kubernetes-policy-poddisruptionbudget-configure-eviction": [
                fails(
                    "spec.maxUnavailable", 0, "spec.maxUnavailable is 0: node drains and upgrades would block forever"
                ),
                fails("spec.maxUnavailable", "0%", "spec.maxUnavailable is 0", id="zero-percent"),
                fails("spec.maxUnavailable", DELETE, "spec.maxUnavailable (or minAvailable) must be set", id="unset"),
                fails(
                    "spec.minAvailable",
                    "100%",
                    "spec.minAvailable is 100%: node drains and upgrades would block forever",
                    id="min-available-all",
                    on=(PDB_T, MIN_AVAILABLE_PDB),
                ),
                fails(
                    "spec.unhealthyPodEvictionPolicy", DELETE, "must be AlwaysAllow (got None)", id="default-eviction"
                ),
            ],
        },
    ),
    *table(
        RELEASE_T,
        LB_CONTROLLER,
        {
            "kubernetes-helm-release-configure-pinned-version": [
                fails("version", "1.x", "exact chart version (got '1.x')"),
                fails("version", DELETE, "exact chart version (got None)", id="unset"),
                fails("repositoryOpts", DELETE, "repositoryOpts.repo must name the chart's repository"),
                passes(
                    {"repositoryOpts": DELETE, "chart": "oci://public.ecr.aws/eks/aws-load-balancer-controller"},
                    id="oci-chart",
                ),
            ],
            "kubernetes-helm-release-configure-lb-controller-values": [
                fails("values.region", DELETE, "values must set region"),
                fails("values.vpcId", DELETE, "values must set vpcId"),
                fails("values.clusterName", DELETE, "values must set clusterName"),
                fails(ROLE_ARN, DELETE, "must carry eks.amazonaws.com/role-arn (IRSA)"),
                passes({"chart": "metrics-server", "values": {}}, id="other-chart"),
            ],
        },
    ),
]


READINESS_GATE = ("metadata", "labels", "elbv2.k8s.aws/pod-readiness-gate-inject")

# The stack rules over the inference namespace: its budget, its autoscaler's target, its readiness gate.
STACK_CASES = stack_table(
    workloads,
    {
        "kubernetes-apps-deployment-configure-pdb": [
            drop("pdb").fails("deployment (inference) has no PodDisruptionBudget selecting its pods"),
            edit("pdb", "spec.selector.matchLabels", OTHER_LABELS).fails(
                "deployment (inference) has no PodDisruptionBudget selecting its pods", id="selects-other-pods"
            ),
            edit("pdb", "metadata.namespace", "mlflow").fails(
                "deployment (inference) has no PodDisruptionBudget", id="other-namespace"
            ),
        ],
        "kubernetes-apps-deployment-disallow-replicas-under-hpa": [
            LIVE_DEPLOYMENT_UNDER_HPA.passes(),
            REPLICAS_IGNORED.passes(),
            edit("deployment", "spec.replicas", 3).fails(
                "deployment sets spec.replicas under HPA hpa: drop it (or ignore changes)"
            ),
            edit("hpa", "spec.scaleTargetRef.name", "inference-v2").fails(
                "HPA hpa targets Deployment inference/inference-v2, which this stack does not create", id="dangling"
            ),
            edit("hpa", "spec.scaleTargetRef.kind", "StatefulSet").fails(
                "HPA hpa targets StatefulSet inference/inference, which this stack does not create", id="wrong-kind"
            ),
        ],
        "kubernetes-core-namespace-enable-pod-readiness-gate": [
            edit("namespace", READINESS_GATE, DELETE).fails(
                "namespace inference must be labelled elbv2.k8s.aws/pod-readiness-gate-inject=enabled"
            ),
            edit("ingress", ("metadata", "annotations", "alb.ingress.kubernetes.io/target-type"), "instance").passes(
                id="instance-targets"
            ),
        ],
    },
)
