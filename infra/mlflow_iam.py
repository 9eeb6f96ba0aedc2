"""The IAM policies of MLflow's two AWS identities: the server's (its artifact prefix in S3, and the database's
RDS-managed secret) and the migration Job's (the secret only, infra/db_passfile.py)."""

from __future__ import annotations

import json

import pulumi


def merged_policy(*documents: pulumi.Input[str]) -> pulumi.Output[str]:
    """One policy document holding the statements of `documents`."""
    return pulumi.Output.all(*documents).apply(
        lambda docs: json.dumps(
            {"Version": "2012-10-17", "Statement": [s for d in docs for s in json.loads(d)["Statement"]]}, indent=2
        )
    )


def artifact_access_policy(
    bucket_arn: pulumi.Input[str], prefix: str, kms_key_arn: pulumi.Input[str], region: str
) -> pulumi.Output[str]:
    """The server role's S3 permissions: objects under `prefix/`, listing of that prefix, and the bucket key."""
    return pulumi.Output.all(bucket_arn, kms_key_arn).apply(
        lambda v: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ListArtifactPrefix",
                        "Effect": "Allow",
                        "Action": "s3:ListBucket",
                        "Resource": v[0],
                        "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
                    },
                    {
                        "Sid": "ReadWriteArtifacts",
                        "Effect": "Allow",
                        "Action": [
                            "s3:GetObject",
                            "s3:PutObject",
                            "s3:DeleteObject",
                            "s3:AbortMultipartUpload",
                            "s3:ListMultipartUploadParts",
                        ],
                        "Resource": f"{v[0]}/{prefix}/*",
                    },
                    {
                        # SSE-KMS objects are unreadable and unwritable without the key, and only via S3.
                        "Sid": "UseArtifactKey",
                        "Effect": "Allow",
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": v[1],
                        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                    },
                ],
            },
            indent=2,
        )
    )
