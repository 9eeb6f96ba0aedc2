"""The cluster's managed nodes: how the configured totals split over the per-AZ node groups, the launch template
every node starts from, and the node groups themselves (their role and add-ons: infra/cluster.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi
import pulumi_aws as aws

from infra.config import NodeGroupConfig

# Name tags of a cluster's children: the suffix after the component's name.
Tags = Callable[[str], dict[str, str]]


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` over `parts` as evenly as integers allow; the first parts take the remainder."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def node_group_sizes(nodes: NodeGroupConfig, groups: int) -> list[tuple[int, int, int]]:
    """(min, desired, max) of each per-AZ node group, from the configured totals.

    Each total is split evenly, so the groups add up to exactly what config says (dev's one-node floor stays one
    node, not one per AZ); a group's maximum is at least one node, as EKS requires (maxSize >= 1), so the
    autoscaler can always grow every zone. Splitting the larger total never gives a group less, so each group keeps
    min <= desired <= max.
    """
    return [
        (low, desired, max(1, high))
        for low, desired, high in zip(
            split_evenly(nodes.min_size, groups),
            split_evenly(nodes.desired_size, groups),
            split_evenly(nodes.max_size, groups),
            strict=True,
        )
    ]


def launch_template(
    name: str,
    cluster_name: str,
    nodes: NodeGroupConfig,
    security_group_ids: Sequence[pulumi.Input[str]],
    *,
    tags: Tags,
    parent: pulumi.Resource,
) -> aws.ec2.LaunchTemplate:
    """What every node launches from: IMDSv2 only, an encrypted gp3 root volume, tagged instances."""
    return aws.ec2.LaunchTemplate(
        f"{name}-nodes-lt",
        description=f"Nodes of EKS cluster {cluster_name}: IMDSv2 only, encrypted gp3 root volume",
        update_default_version=True,
        vpc_security_group_ids=list(security_group_ids),
        # Hop limit 1: pods cannot reach the node's instance metadata and borrow the node role.
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            http_put_response_hop_limit=1,
            instance_metadata_tags="disabled",
        ),
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=nodes.disk_size_gib,
                    volume_type="gp3",
                    encrypted="true",
                    delete_on_termination="true",
                ),
            )
        ],
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags(f"node-{kind}"))
            for kind in ("instance", "volume", "network-interface")
        ],
        tags=tags("nodes-lt"),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def node_groups(
    name: str,
    nodes: NodeGroupConfig,
    subnet_ids: Sequence[pulumi.Input[str]],
    *,
    cluster: aws.eks.Cluster,
    node_role: aws.iam.Role,
    template: aws.ec2.LaunchTemplate,
    depends_on: Sequence[pulumi.Resource],
    tags: Tags,
    parent: pulumi.Resource,
) -> list[aws.eks.NodeGroup]:
    """One managed node group per AZ (one per subnet of `subnet_ids`).

    An ASG spanning zones cannot be scaled up in the zone a pending pod needs (the workloads spread by zone
    with DoNotSchedule), while per-zone groups of identical shape let the cluster autoscaler pick the zone and,
    with --balance-similar-node-groups (infra/addons.py), keep them level (kubernetes/autoscaler
    cluster-autoscaler/cloudprovider/aws/README.md, "Common Notes and Gotchas").
    """
    sizes = node_group_sizes(nodes, len(subnet_ids))
    return [
        aws.eks.NodeGroup(
            f"{name}-nodes-{i}",
            cluster_name=cluster.name,
            version=cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=[subnet_id],
            ami_type=nodes.ami_type,
            capacity_type=nodes.capacity_type,
            instance_types=list(nodes.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=low, desired_size=desired, max_size=high),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            # The same labels on every group: the autoscaler balances only groups that look alike.
            labels={"platform/node-group": "general"},
            tags=tags(f"nodes-{i}"),
            opts=pulumi.ResourceOptions(
                parent=parent,
                depends_on=list(depends_on),
                # The cluster autoscaler owns the node count once running: a re-run must not reset it.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        for i, (subnet_id, (low, desired, high)) in enumerate(zip(subnet_ids, sizes, strict=True))
    ]
