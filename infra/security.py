"""The two controls every data store of the stack repeats: its own rotating KMS key, and a security group that
admits one port from one source security group and nothing else."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def rotating_key(name: str, *, description: str, tags: dict[str, str], parent: pulumi.Resource) -> aws.kms.Key:
    """A customer-managed key with yearly rotation (CKV_AWS_7); the default key policy delegates use to IAM."""
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        tags={**tags, "Name": name},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def admitting_only(
    name: str,
    *,
    vpc_id: pulumi.Input[str],
    port: int,
    source_security_group_id: pulumi.Input[str],
    service: str,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> aws.ec2.SecurityGroup:
    """A security group whose single ingress rule is TCP `port` from `source_security_group_id`; no CIDR ever."""
    child = pulumi.ResourceOptions(parent=parent)
    group = aws.ec2.SecurityGroup(
        name,
        vpc_id=vpc_id,
        # EC2 accepts only a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$* in a group description (no apostrophe):
        # tests/infra/aws_limits.py.
        description=f"{service}: {port} from the cluster nodes only",
        tags={**tags, "Name": name},
        opts=child,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-from-nodes",
        security_group_id=group.id,
        referenced_security_group_id=source_security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=f"{service} from EKS nodes and pods",
        tags={**tags, "Name": f"{name}-from-nodes"},
        opts=child,
    )
    return group
