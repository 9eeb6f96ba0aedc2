"""The stack rule the data stores share: a store's security groups admit its port from the cluster's only.

A helper, not a rule module: `aws_elasticache` and `aws_rds` each build their rule from `data_store_rule`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs

from . import aws_ec2, aws_eks
from .base import Findings, get, is_true, items, number, of_type, referenced, references, stack_rule


def cluster_sources(resources: Sequence[PolicyResource]) -> set[str]:
    """URNs that stand for the cluster's network identity: the EKS cluster (its cluster security group) and every
    security group the control plane or the node launch template attaches."""
    sources = {c.urn for c in of_type(resources, aws_eks.CLUSTER)}
    for cluster in of_type(resources, aws_eks.CLUSTER):
        sources |= {sg.urn for sg in referenced(cluster, "vpcConfig", aws_ec2.SECURITY_GROUP)}
    for template in of_type(resources, aws_ec2.LAUNCH_TEMPLATE):
        sources |= {sg.urn for sg in referenced(template, "vpcSecurityGroupIds", aws_ec2.SECURITY_GROUP)}
    return sources


def _source_faults(rule: PolicyResource, source_prop: str, allowed: set[str], where: str) -> Iterator[str]:
    if get(rule.props, source_prop) is None:
        return
    sources = referenced(rule, source_prop)
    if not sources:
        yield f"{where} admits {get(rule.props, source_prop)}, not a security group this stack gives the cluster"
    for source in sources:
        if source.urn not in allowed:
            yield f"{where} admits {source.resource_type.rsplit(':', 1)[-1]} {source.name}, not the cluster's"


def _ingress_faults(
    resources: Sequence[PolicyResource], group: PolicyResource, port: float, allowed: set[str]
) -> Iterator[str]:
    """Why the security group `group` of a data store admits more than the cluster on `port`."""
    for i, rule in enumerate(items(get(group.props, "ingress"))):
        where = f"security group {group.name} ingress[{i}]"
        if items(get(rule, "cidrBlocks")) or items(get(rule, "ipv6CidrBlocks")) or items(get(rule, "prefixListIds")):
            yield f"{where} admits CIDR ranges; admit the cluster's security group only"
        if is_true(get(rule, "self")):
            yield f"{where} admits the group itself"
        if items(get(rule, "securityGroups")):
            sources = referenced(group, "ingress")
            if not sources or any(s.urn not in allowed for s in sources):
                yield f"{where} admits security groups other than the cluster's"
    standalone = [
        r
        for r in of_type(resources, aws_ec2.INGRESS_RULE, aws_ec2.SECURITY_GROUP_RULE)
        if references(r, group, "securityGroupId")
        and (r.resource_type == aws_ec2.INGRESS_RULE or get(r.props, "type") == "ingress")
    ]
    for rule in standalone:
        where = f"rule {rule.name}"
        props = rule.props
        cidrs = [get(props, k) for k in ("cidrIpv4", "cidrIpv6", "prefixListId")]
        cidrs += (
            items(get(props, "cidrBlocks")) + items(get(props, "ipv6CidrBlocks")) + items(get(props, "prefixListIds"))
        )
        if any(cidrs):
            yield f"{where} admits CIDR ranges {[c for c in cidrs if c]}; admit the cluster's security group only"
        if is_true(get(props, "self")):
            yield f"{where} admits the group itself"
        yield from _source_faults(rule, "referencedSecurityGroupId", allowed, where)
        yield from _source_faults(rule, "sourceSecurityGroupId", allowed, where)
        low, high = number(get(props, "fromPort")), number(get(props, "toPort"))
        if (low, high) != (port, port):
            yield f"{where} opens ports {low}-{high}; the data store listens on {port:g} only"


def data_store_rule(name: str, summary: str, controls: Sequence[str], store_type: str, sg_prop: str, port: int) -> Any:
    @stack_rule(name, summary, controls=controls)
    def check(args: StackValidationArgs) -> Findings:
        allowed = cluster_sources(args.resources)
        for store in of_type(args.resources, store_type):
            groups = referenced(store, sg_prop, aws_ec2.SECURITY_GROUP)
            if items(get(store.props, sg_prop)) and not groups:
                yield (
                    f"{store.name}: {sg_prop} are not security groups of this stack; cannot show who they admit",
                    store.urn,
                )
            store_port = number(get(store.props, "port")) or port
            for group in groups:
                for fault in _ingress_faults(args.resources, group, store_port, allowed):
                    yield f"{store.name}: {fault}", store.urn

    return check
