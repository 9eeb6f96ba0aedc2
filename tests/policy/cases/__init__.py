"""Passing and failing cases for every rule, one module per rule module (`policy/rules/<module>.py` is tested by
`tests/policy/cases/<module>.py`: `CASES` for its resource rules, `STACK_CASES` for its stack rules), assembled
here in the pack's module order. The compliant resources are in `aws_resources.py` and `kubernetes_resources.py`,
the compliant stacks in `stacks.py`."""

from __future__ import annotations

from importlib import import_module

from policy.rules import MODULES
from tests.policy.cases.aws_resources import (
    ATTACHMENT_T,
    BUCKET_POLICY,
    BUCKET_POLICY_T,
    BUCKET_T,
    CLUSTER,
    CLUSTER_T,
    DEFAULT_SG_T,
    ECR,
    ECR_T,
    FLOW_LOG,
    FLOW_LOG_T,
    IAM_POLICY_T,
    INGRESS_RULE,
    INGRESS_RULE_T,
    LAUNCH_TEMPLATE,
    LAUNCH_TEMPLATE_T,
    LIFECYCLE,
    LIFECYCLE_T,
    LOG_GROUP,
    LOG_GROUP_T,
    MLFLOW_S3,
    NODE_GROUP,
    NODE_GROUP_T,
    OWNERSHIP,
    OWNERSHIP_T,
    PAB,
    PAB_T,
    PARAMS,
    PARAMS_T,
    RDS,
    RDS_T,
    REDIS,
    REDIS_T,
    ROLE,
    ROLE_T,
    SG_T,
    SSE,
    SSE_T,
    SUBNET,
    SUBNET_T,
    VERSIONING,
    VERSIONING_T,
)
from tests.policy.cases.common import TAGS, Case, doc
from tests.policy.cases.kubernetes_resources import (
    DEPLOYMENT,
    DEPLOYMENT_T,
    HPA,
    HPA_T,
    INGRESS,
    INGRESS_T,
    NAMESPACE,
    NAMESPACE_T,
    NETPOL,
    NETPOL_T,
    PDB,
    PDB_T,
)

# One case module per rule module, in the pack's module order (policy/rules/__init__.py MODULES), so the
# parametrized ids keep their order.
CASE_MODULES = {
    module: import_module(f"{__name__}.{module}") for module in (rules.__name__.rsplit(".", 1)[1] for rules in MODULES)
}
AWS_CASES = [case for module, cases in CASE_MODULES.items() if module.startswith("aws_") for case in cases.CASES]
KUBERNETES_CASES = [
    case for module, cases in CASE_MODULES.items() if not module.startswith("aws_") for case in cases.CASES
]
STACK_CASES = [case for cases in CASE_MODULES.values() for case in getattr(cases, "STACK_CASES", [])]

__all__ = [
    "ATTACHMENT_T",
    "AWS_CASES",
    "BUCKET_POLICY",
    "BUCKET_POLICY_T",
    "BUCKET_T",
    "CLUSTER",
    "CLUSTER_T",
    "Case",
    "DEFAULT_SG_T",
    "DEPLOYMENT",
    "DEPLOYMENT_T",
    "ECR",
    "ECR_T",
    "FLOW_LOG",
    "FLOW_LOG_T",
    "HPA",
    "HPA_T",
    "IAM_POLICY_T",
    "INGRESS",
    "INGRESS_RULE",
    "INGRESS_RULE_T",
    "INGRESS_T",
    "KUBERNETES_CASES",
    "LAUNCH_TEMPLATE",
    "LAUNCH_TEMPLATE_T",
    "LIFECYCLE",
    "LIFECYCLE_T",
    "LOG_GROUP",
    "LOG_GROUP_T",
    "MLFLOW_S3",
    "NAMESPACE",
    "NAMESPACE_T",
    "NETPOL",
    "NETPOL_T",
    "NODE_GROUP",
    "NODE_GROUP_T",
    "OWNERSHIP",
    "OWNERSHIP_T",
    "PAB",
    "PAB_T",
    "PARAMS",
    "PARAMS_T",
    "PDB",
    "PDB_T",
    "RDS",
    "RDS_T",
    "REDIS",
    "REDIS_T",
    "ROLE",
    "ROLE_T",
    "SG_T",
    "SSE",
    "SSE_T",
    "STACK_CASES",
    "SUBNET",
    "SUBNET_T",
    "TAGS",
    "VERSIONING",
    "VERSIONING_T",
    "doc",
]
