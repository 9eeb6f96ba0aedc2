"""Secrets another stack may read: copies in AWS Secrets Manager, so a stack output only ever carries an ARN.

A stack output is readable by anyone who can read the stack (shared/SECURITY-BASELINE.md: "no secret in plain
text or in an export"). Pull-request previews need the base stack's Redis AUTH token and the inference service's
MLflow credentials; they read them here with `secretsmanager:GetSecretValue`, which IAM grants per secret, and
`kms:Decrypt` on this component's key, which nothing else uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.security import rotating_key

# A deleted secret stays recoverable this long; short, because the stack re-creates it from its own state.
RECOVERY_WINDOW_DAYS = 7


@dataclass(frozen=True)
class SharedSecretsArgs:
    # Secret name (a short slug, e.g. "redis-auth-token") -> its value, a secret Output of this stack.
    secrets: Mapping[str, pulumi.Input[str]]
    tags: dict[str, str]


class SharedSecrets(pulumi.ComponentResource):
    """One Secrets Manager secret per value, encrypted with a rotating key of its own.

    Not rotated by Secrets Manager: each value is owned by the resource that uses it (the ElastiCache AUTH
    token, MLflow's user password); rotating it there rotates the copy here on the next `pulumi up`.
    """

    arns: dict[str, pulumi.Output[str]]
    kms_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SharedSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:SharedSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = rotating_key(
            f"{name}-shared-secrets-key",
            description=f"Secrets of {name} that its pull-request previews read from Secrets Manager",
            tags=args.tags,
            parent=self,
            services=("secretsmanager",),
        )
        self.arns = {}
        for slug, value in args.secrets.items():
            secret = aws.secretsmanager.Secret(
                f"{name}-{slug}",
                # A prefix, not a name: a replaced secret cannot take a name still held by its deleted predecessor.
                name_prefix=f"{name}/{slug}-",
                description=f"{slug} of {name}, for its pull-request previews (a copy; the stack owns the value)",
                kms_key_id=key.arn,
                recovery_window_in_days=RECOVERY_WINDOW_DAYS,
                tags={**args.tags, "Name": f"{name}-{slug}"},
                opts=child,
            )
            version = aws.secretsmanager.SecretVersion(
                f"{name}-{slug}-value",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(value),
                opts=child,
            )
            # Handed out only once the secret holds its value.
            self.arns[slug] = pulumi.Output.all(secret.arn, version.id).apply(lambda v: str(v[0]))
        self.kms_key_arn = key.arn
        self.register_outputs({"arns": self.arns, "kmsKeyArn": self.kms_key_arn})
