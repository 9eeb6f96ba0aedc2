"""The platform's guardrails as Pulumi policies, importable without starting a policy pack.

Each service's module holds its resource rules and, at its end, its stack rules (controls that span resources:
a data store and the rules admitting its clients, a Deployment and its PDB); `aws_s3` pairs instead, per kind of
companion, the resource rule with the stack rule that every bucket has a companion it passes. Stack
rules follow the engine's property dependencies, so the links they check are the program's real wiring.

`POLICIES` is every rule, in module order; `policy/__main__.py` hands it to `PolicyPack`. Tests import the rules
from here and call their `validate` directly (building a `PolicyPack` starts a gRPC server and blocks).
"""

from __future__ import annotations

from types import ModuleType

from . import (
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
from .base import AVAILABILITY, SECURITY, ResourceRule, Rule, StackRule

MODULES: tuple[ModuleType, ...] = (
    aws_eks,
    aws_ec2,
    aws_elasticache,
    aws_s3,
    aws_rds,
    aws_iam,
    aws_ecr,
    aws_kms,
    aws_cloudwatch,
    aws_tagging,
    kubernetes_pods,
    kubernetes_networking,
    kubernetes_cluster,
    ingress_nginx,
)


def _collect() -> list[Rule]:
    found: list[Rule] = []
    for module in MODULES:
        found += [v for v in vars(module).values() if isinstance(v, ResourceRule | StackRule)]
    return found


POLICIES: list[Rule] = _collect()
BY_NAME: dict[str, Rule] = {p.name: p for p in POLICIES}

__all__ = ["AVAILABILITY", "BY_NAME", "MODULES", "POLICIES", "SECURITY", "ResourceRule", "Rule", "StackRule"]
