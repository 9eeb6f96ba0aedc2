"""Who runs `pulumi up`: the IAM principal the cluster's deployer access entry names (infra/cluster.py)."""

from __future__ import annotations

import re

import pulumi
import pulumi_aws as aws

from infra.config import ClusterConfig, ConfigError

# What an access entry's principal may be; the account root may not hold one.
_PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+")


def deployer_principal(cfg: ClusterConfig, opts: pulumi.InvokeOptions) -> str:
    """The IAM principal `pulumi up` runs as, which the Kubernetes provider authenticates as.

    `cluster.deployerRoleArn` when set. Otherwise the role behind the running session: `get_caller_identity` gives
    the session (arn:aws:sts::<account>:assumed-role/<role>/<session>), `get_session_context` the role's IAM ARN with
    its path, which is what an access entry names (terraform-aws-modules/terraform-aws-eks derives its creator entry
    the same way, `data.aws_iam_session_context.current.issuer_arn`).
    """
    running_as = aws.iam.get_session_context(arn=aws.get_caller_identity(opts=opts).arn, opts=opts).issuer_arn
    if cfg.deployer_role_arn is not None:
        if cfg.deployer_role_arn != running_as:
            pulumi.log.warn(
                f"platform:cluster.deployerRoleArn is {cfg.deployer_role_arn} but this program runs as {running_as}: "
                "the Kubernetes provider authenticates as the latter and has no access entry unless it is listed in "
                "platform:cluster.adminRoleArns"
            )
        return cfg.deployer_role_arn
    if not _PRINCIPAL_ARN.fullmatch(running_as):
        raise ConfigError(
            f"platform:cluster.deployerRoleArn must be set: the session runs as {running_as}, which cannot hold an "
            "EKS access entry"
        )
    if running_as in cfg.admin_role_arns:
        raise ConfigError(
            f"platform:cluster.adminRoleArns must not list {running_as}: it runs `pulumi up` and gets its own access "
            "entry as the deployer, and EKS refuses a second entry for one principal (ResourceInUseException)"
        )
    return running_as
