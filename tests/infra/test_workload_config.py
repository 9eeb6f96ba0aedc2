"""Workload config is validated at load time, naming the key and what was expected."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, quantity
from tests.infra.harness import ACCOUNT_ID, REGION, run_stack

CERT = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
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
        # MLflow reserves `latest` and `v<N>` (service/core/aliases.py): no promotion could ever set them.
        (
            "dev",
            {"platform:inference.modelAlias": "latest"},
            "platform:inference.modelAlias must be a model alias (letters, digits, '_' or '-', not 'latest' or 'v<N>')",
        ),
        ("dev", {"platform:challenger.alias": "v3"}, "platform:challenger.alias must be a model alias"),
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
        # The host lands in MLflow's --allowed-hosts, a comma-separated list with wildcards: one name, nothing else.
        (
            "dev",
            {"platform:mlflow.ingressEnabled": "true", "platform:mlflow.ingressHost": "*"},
            "platform:mlflow.ingressHost must be a DNS hostname (got '*')",
        ),
        (
            "dev",
            {"platform:mlflow.ingressEnabled": "true", "platform:mlflow.ingressHost": "a.example.com,*.example.com"},
            "platform:mlflow.ingressHost must be a DNS hostname",
        ),
        ("dev", {"platform:mlflow.artifactPrefix": "/abs"}, "platform:mlflow.artifactPrefix must be an S3 prefix"),
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


@pytest.mark.parametrize(
    ("value", "amount"), [("500m", 0.5), ("2", 2.0), ("1.5", 1.5), ("512Mi", 512 * 2**20), ("1G", 1e9)]
)
def test_quantities_compare_as_kubernetes_reads_them(value: str, amount: float) -> None:
    assert quantity(value) == amount
