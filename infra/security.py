"""The controls every data store of the stack repeats: its own rotating KMS key with an explicit key policy, and a
security group that admits one port from one source security group and nothing else."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

HTTPS_PORT = 443
# What CloudWatch Logs needs on a key that encrypts a log group (CloudWatch Logs User Guide, "Encrypt log data in
# CloudWatch Logs using AWS KMS", step 2: the key policy).
LOGS_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
# What an AWS service needs to encrypt a resource for a principal of the account: it works through grants
# (RDS, ElastiCache, S3, Secrets Manager, EKS all call CreateGrant or the data-key APIs on the caller's behalf).
VIA_SERVICE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:CreateGrant",
    "kms:ListGrants",
    "kms:DescribeKey",
)


def key_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    services: Sequence[str] = (),
    log_group_names: Sequence[str] = (),
) -> dict[str, Any]:
    """An explicit key policy: the account administers the key (so IAM policies, and nobody outside, decide who
    else may use it); the account's principals use it only through `services` (e.g. "rds"); CloudWatch Logs may
    use it only for the log groups named, by the `kms:EncryptionContext:aws:logs:arn` condition."""
    root = f"arn:{partition}:iam::{account_id}:root"
    statements: list[dict[str, Any]] = [
        {
            # Without it the key becomes unmanageable (AWS KMS Developer Guide, "Default key policy").
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if services:
        statements.append(
            {
                "Sid": "UseThroughItsServices",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": list(VIA_SERVICE_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account_id,
                        "kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services],
                    }
                },
            }
        )
    if log_group_names:
        statements.append(
            {
                "Sid": "CloudWatchLogsEncryptsItsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": list(LOGS_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "ArnEquals": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            log_group_arn(partition, region, account_id, n) for n in log_group_names
                        ]
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def service_trust_policy(service: str, account_id: str) -> str:
    """A role's trust policy: `service` (e.g. "vpc-flow-logs.amazonaws.com") may assume it, on behalf of this
    account's resources only (`aws:SourceAccount`: the confused-deputy guard, IAM User Guide, "The confused deputy
    problem")."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        }
    )


def log_group_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """The ARN CloudWatch Logs puts in the encryption context: the log group's, without the trailing `:*`."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}"


def rotating_key(
    name: str,
    *,
    description: str,
    tags: dict[str, str],
    parent: pulumi.Resource,
    services: Sequence[str] = (),
    log_group_names: Sequence[str] = (),
) -> aws.kms.Key:
    """A customer-managed key with yearly rotation (CKV_AWS_7) and an explicit policy (`key_policy`).

    `services` are the AWS services (endpoint prefixes, e.g. "rds", "elasticache") that use the key for the
    account; `log_group_names` the CloudWatch log groups it encrypts.
    """
    invoke = pulumi.InvokeOptions(parent=parent)
    policy = key_policy(
        partition=aws.get_partition(opts=invoke).partition,
        region=aws.get_region(opts=invoke).region,
        account_id=aws.get_caller_identity(opts=invoke).account_id,
        services=services,
        log_group_names=log_group_names,
    )
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=json.dumps(policy),
        tags={**tags, "Name": name},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def encrypted_log_groups(
    key_name: str,
    *,
    description: str,
    log_groups: Mapping[str, str],
    retention_days: int,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> list[aws.cloudwatch.LogGroup]:
    """Log groups (resource name -> log group name) with retention, encrypted by a rotating key of their own whose
    policy lets CloudWatch Logs use it for exactly these groups (CKV_AWS_158, CKV_AWS_338).

    Created here, before the service that writes them: otherwise EKS, RDS or ElastiCache creates the group on its
    first line, with no retention and no KMS.
    """
    key = rotating_key(
        key_name, description=description, tags=tags, parent=parent, log_group_names=list(log_groups.values())
    )
    return [
        aws.cloudwatch.LogGroup(
            resource,
            name=group,
            retention_in_days=retention_days,
            kms_key_id=key.arn,
            tags={**tags, "Name": resource},
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for resource, group in log_groups.items()
    ]


def security_group(
    name: str, *, vpc_id: pulumi.Input[str], description: str, tags: dict[str, str], parent: pulumi.Resource
) -> aws.ec2.SecurityGroup:
    """A security group with no rules of its own (`tcp_rule` adds each); `tags` are its own, Name included."""
    return aws.ec2.SecurityGroup(
        name,
        vpc_id=vpc_id,
        description=description,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def tcp_rule(
    name: str,
    *,
    direction: Literal["ingress", "egress"],
    security_group_id: pulumi.Input[str],
    port: int,
    description: str,
    tags: dict[str, str],
    parent: pulumi.Resource,
    cidr_ipv4: pulumi.Input[str] | None = None,
    referenced_security_group_id: pulumi.Input[str] | None = None,
) -> aws.vpc.SecurityGroupIngressRule | aws.vpc.SecurityGroupEgressRule:
    """One TCP port into (or out of) `security_group_id`, from (or to) one peer: a CIDR or a security group.
    `tags` are the rule's own, Name included."""
    rule = aws.vpc.SecurityGroupIngressRule if direction == "ingress" else aws.vpc.SecurityGroupEgressRule
    return rule(
        name,
        security_group_id=security_group_id,
        cidr_ipv4=cidr_ipv4,
        referenced_security_group_id=referenced_security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def https_group(
    name: str,
    *,
    vpc_id: pulumi.Input[str],
    description: str,
    direction: Literal["ingress", "egress"],
    cidr_ipv4: pulumi.Input[str],
    rule_description: str,
    tags: dict[str, str],
    rule_tags: dict[str, str],
    parent: pulumi.Resource,
) -> aws.ec2.SecurityGroup:
    """A security group whose one rule, `<name>-https`, is HTTPS in from (or out to) `cidr_ipv4`."""
    group = security_group(name, vpc_id=vpc_id, description=description, tags=tags, parent=parent)
    tcp_rule(
        f"{name}-https",
        direction=direction,
        security_group_id=group.id,
        cidr_ipv4=cidr_ipv4,
        port=HTTPS_PORT,
        description=rule_description,
        tags=rule_tags,
        parent=parent,
    )
    return group


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
    group = security_group(
        name,
        vpc_id=vpc_id,
        # EC2 accepts only a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$* in a group description (no apostrophe):
        # tests/infra/aws_limits.py.
        description=f"{service}: {port} from the cluster nodes only",
        tags={**tags, "Name": name},
        parent=parent,
    )
    tcp_rule(
        f"{name}-from-nodes",
        direction="ingress",
        security_group_id=group.id,
        referenced_security_group_id=source_security_group_id,
        port=port,
        description=f"{service} from EKS nodes and pods",
        tags={**tags, "Name": f"{name}-from-nodes"},
        parent=parent,
    )
    return group
