"""Passing and failing cases for every rule, one module per rule module (`policy/rules/<module>.py` is tested by
`tests/policy/cases/<module>.py`: `CASES` for its resource rules, `STACK_CASES` for its stack rules), assembled
here in the pack's module order. The compliant resources are in `aws_resources.py` and `kubernetes_resources.py`,
the compliant stacks in `stacks.py`."""

from __future__ import annotations

from tests.policy.cases import (
    aws_cloudwatch,
    aws_ec2,
    aws_ecr,
    aws_eks,
    aws_elasticache,
    aws_iam,
    aws_kms,
    aws_rds,
    aws_s3,
    aws_tagging,
    ingress_nginx,
    kubernetes_cluster,
    kubernetes_networking,
    kubernetes_pods,
)
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

# In the pack's module order (policy/rules/__init__.py MODULES), so the parametrized ids keep their order.
AWS_CASES = (
    aws_eks.CASES
    + aws_ec2.CASES
    + aws_elasticache.CASES
    + aws_s3.CASES
    + aws_rds.CASES
    + aws_iam.CASES
    + aws_ecr.CASES
    + aws_kms.CASES
    + aws_cloudwatch.CASES
    + aws_tagging.CASES
)
KUBERNETES_CASES = kubernetes_pods.CASES + kubernetes_networking.CASES + kubernetes_cluster.CASES + ingress_nginx.CASES
STACK_CASES = (
    aws_eks.STACK_CASES
    + aws_ec2.STACK_CASES
    + aws_elasticache.STACK_CASES
    + aws_s3.STACK_CASES
    + aws_rds.STACK_CASES
    + aws_iam.STACK_CASES
    + aws_ecr.STACK_CASES
    + kubernetes_networking.STACK_CASES
    + kubernetes_cluster.STACK_CASES
)

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
