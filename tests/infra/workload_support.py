"""What the workload tests (tests/infra/test_workload*.py) share: the objects they look up and how."""

from __future__ import annotations

import re
from typing import Any

from tests.infra.harness import Recording
from tests.infra.k8s import Manifest, by_component, one

SECRET = "kubernetes:core/v1:Secret"
RANDOM = "random:index/randomPassword:RandomPassword"
NAMESPACES = {"dev": {"inference", "mlflow", "training"}, "staging": {"inference", "mlflow", "training"}}
DIGEST_REF = re.compile(r".+/[a-z0-9-]+@sha256:[0-9a-f]{64}")


def manifests(rec: Recording) -> list[Manifest]:
    return rec.kubernetes_manifests()


def secret_data(rec: Recording, namespace: str, name: str) -> dict[str, str]:
    secret = one(manifests(rec), "Secret", name, namespace)
    data: dict[str, str] = secret["stringData"]
    return data


def password(rec: Recording, resource_name_suffix: str) -> str:
    (pw,) = [r for r in rec.find(RANDOM) if r.name.endswith(resource_name_suffix)]
    result: str = pw.outputs["result"]
    return result


def ingress_annotations(rec: Recording) -> dict[str, str]:
    annotations: dict[str, str] = one(manifests(rec), "Ingress", "inference", "inference")["metadata"]["annotations"]
    return annotations


def mlflow_container(rec: Recording) -> dict[str, Any]:
    (c,) = one(manifests(rec), "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]["containers"]
    container: dict[str, Any] = c
    return container


def mlflow_server_secret(rec: Recording) -> dict[str, str]:
    spec = one(manifests(rec), "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    return secret_data(rec, "mlflow", volume["secret"]["secretName"])


def bootstrap_users_secret(rec: Recording) -> dict[str, str]:
    job = by_component(manifests(rec), "Job", "mlflow", "bootstrap-users")
    (volume,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "users"]
    return secret_data(rec, "mlflow", volume["secret"]["secretName"])
