"""Workload config is validated at load time, naming the key and what was expected."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, image_reference, quantity
from tests.infra.harness import run_stack

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        (
            "dev",
            {"platform:inference.imageTag": "latest"},
            "platform:inference.imageTag must be an image tag or sha256",
        ),
        ("dev", {"platform:inference.imageTag": "LATEST"}, "other than 'latest'"),
        ("dev", {"platform:mlflow.imageTag": "latest"}, "platform:mlflow.imageTag must be an image tag"),
        ("dev", {"platform:inference.imageTag": "1.0 beta"}, "platform:inference.imageTag must be"),
        ("dev", {"platform:inference.imageTag": "sha256:abc"}, "platform:inference.imageTag must be"),
        (
            "prod",
            {"platform:inference.minReplicas": 1},
            "platform:inference.minReplicas must be >= 2 in prod (one replica cannot survive a node drain) (got 1)",
        ),
        (
            "dev",
            {"platform:inference.minReplicas": 3, "platform:inference.maxReplicas": 3},
            "platform:inference.maxReplicas must be > inference.minReplicas (3) (got 3)",
        ),
        ("prod", {"platform:mlflow.replicas": 1}, "platform:mlflow.replicas must be >= 2 in prod"),
        (
            "dev",
            {"platform:inference.cpuRequest": "3", "platform:inference.cpuLimit": "2"},
            "platform:inference.cpuRequest must be <= inference.cpuLimit (2) (got '3')",
        ),
        (
            "dev",
            {"platform:mlflow.memoryRequest": "3Gi", "platform:mlflow.memoryLimit": "2048Mi"},
            "platform:mlflow.memoryRequest must be <= mlflow.memoryLimit (2048Mi)",
        ),
        ("dev", {"platform:inference.memoryLimit": "lots"}, "platform:inference.memoryLimit must be a Kubernetes"),
        ("dev", {"platform:inference.ephemeralStorageRequest": "0"}, "must be a positive quantity"),
        ("dev", {"platform:inference.targetCpuUtilization": 99}, "platform:inference.targetCpuUtilization must be"),
        ("dev", {"platform:inference.modelAlias": "prod alias"}, "platform:inference.modelAlias must be a model alias"),
        ("dev", {"platform:ingress.scheme": "public"}, "platform:ingress.scheme must be one of 'internet-facing'"),
        ("dev", {"platform:ingress.certificateArn": "arn:aws:iam::1:cert"}, "platform:ingress.certificateArn must be"),
        ("dev", {"platform:ingress.wafAclArn": CERT}, "platform:ingress.wafAclArn must be a regional WAFv2 web ACL"),
        ("dev", {"platform:ingress.inboundCidrs": ["10.0.0.0/33"]}, "platform:ingress.inboundCidrs must be a list"),
        ("dev", {"platform:ingress.host": "Not A Host"}, "platform:ingress.host must be a DNS hostname"),
        ("dev", {"platform:ingress.accessLogsBucket": "Bad_Bucket"}, "platform:ingress.accessLogsBucket must be an S3"),
        (
            "dev",
            {"platform:mlflow.ingressEnabled": "true"},
            "platform:mlflow.ingressHost must be set when mlflow.ingressEnabled is true",
        ),
        ("dev", {"platform:mlflow.artifactPrefix": "/abs"}, "platform:mlflow.artifactPrefix must be an S3 prefix"),
        (
            "prod",
            {"platform:trainingJob.enabled": "true"},
            "platform:trainingJob.imageTag must be set (or trainingJob.image) when trainingJob.enabled is true",
        ),
        ("dev", {"platform:trainingJob.imageTag": "latest"}, "platform:trainingJob.imageTag must be"),
        (
            "dev",
            {"platform:inference.image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-dev-inference:latest"},
            "platform:inference.image must be an image reference",
        ),
        ("dev", {"platform:inference.image": "registry.example/inference"}, "platform:inference.image must be an"),
        ("dev", {"platform:mlflow.image": "not an image"}, "platform:mlflow.image must be an image reference"),
        (
            "dev",
            {"platform:trainingJob.schedule": "every monday"},
            "platform:trainingJob.schedule must be a five-field",
        ),
        ("dev", {"platform:trainingJob.args": []}, "platform:trainingJob.args must be a non-empty list"),
        (
            "dev",
            {"platform:monitoring.serviceMonitor": "true", "platform:monitoring.operatorPresent": "true"},
            "platform:monitoring.prometheusNamespace must be set when monitoring.serviceMonitor is true",
        ),
        (
            "dev",
            {"platform:monitoring.serviceMonitor": "true", "platform:monitoring.prometheusNamespace": "monitoring"},
            "platform:monitoring.serviceMonitor must be false unless the Prometheus Operator's CRDs exist",
        ),
        (
            "dev",
            {"platform:monitoring.scrapeAnnotations": "true"},
            "platform:monitoring.prometheusNamespace must be set when monitoring.scrapeAnnotations is true",
        ),
        (
            "dev",
            {"platform:monitoring.install": "true", "platform:monitoring.prometheusNamespace": "observability"},
            "platform:monitoring.prometheusNamespace must be empty or 'monitoring' when monitoring.install is true",
        ),
        ("dev", {"platform:monitoring.retention": "forever"}, "platform:monitoring.retention must be a duration"),
        ("dev", {"platform:monitoring.storageSize": "50"}, "platform:monitoring.storageSize must be a size"),
        ("dev", {"platform:challenger.alias": "a b"}, "platform:challenger.alias must be a model alias"),
        (
            "dev",
            {"platform:challenger.alias": "production"},
            "platform:challenger.alias must be different from inference.modelAlias (production)",
        ),
        ("dev", {"platform:shadow.fraction": "1.5"}, "platform:shadow.fraction must be a number between 0 and 1"),
        ("dev", {"platform:shadow.fraction": "lots"}, "platform:shadow.fraction must be a number between 0 and 1"),
        (
            "dev",
            {"platform:shadow.fraction": "0.1"},
            "platform:challenger.alias must be set when shadow.fraction is above 0",
        ),
        ("dev", {"platform:ab.weights": "champion=80;challenger=20"}, "platform:ab.weights must be champion=<weight>"),
        (
            "dev",
            {"platform:challenger.alias": "c", "platform:ab.weights": "champion=1,champion=2"},
            "platform:ab.weights must be champion=<weight>,challenger=<weight> (each at most once",
        ),
        ("dev", {"platform:ab.weights": "challenger=0"}, "platform:ab.weights must be champion=<weight>"),
        (
            "dev",
            {"platform:ab.weights": "champion=80,challenger=20"},
            "platform:challenger.alias must be set when ab.weights gives the challenger a share",
        ),
        ("dev", {"platform:drift.threshold": "0"}, "platform:drift.threshold must be a PSI above 0"),
        ("dev", {"platform:drift.threshold": "nan"}, "platform:drift.threshold must be a number"),
    ],
)
def test_invalid_workload_config_fails_naming_the_key(stack: str, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack(stack, overrides)
    assert message in str(err.value)


def test_a_digest_is_accepted_as_an_image_reference() -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    run_stack("dev", {"platform:inference.imageTag": digest})
    assert image_reference("registry/repo", digest) == f"registry/repo@{digest}"
    assert image_reference("registry/repo", "1.2.3") == "registry/repo:1.2.3"


@pytest.mark.parametrize(
    ("value", "amount"), [("500m", 0.5), ("2", 2.0), ("1.5", 1.5), ("512Mi", 512 * 2**20), ("1G", 1e9)]
)
def test_quantities_compare_as_kubernetes_reads_them(value: str, amount: float) -> None:
    assert quantity(value) == amount


def test_a_full_image_reference_replaces_the_stack_repository_and_tag() -> None:
    """The delivery workflows deploy the commit's image by setting inference.image."""
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-dev-inference:" + "0a1b2c3d" * 5
    rec = run_stack("dev", {"platform:inference.image": image})
    (deployment,) = [
        m for m in rec.kubernetes_manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == "inference"
    ]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
