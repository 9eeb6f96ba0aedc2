"""The Redis exporter (infra/redis_exporter.py) in a stack whose Prometheus is installed here.

Exporter facts are from github.com/oliver006/redis_exporter README.md ("Command line flags": REDIS_ADDR,
REDIS_PASSWORD_FILE, REDIS_EXPORTER_WEB_LISTEN_ADDRESS; the password file is JSON from address to password) and
its default port 9121. Pod Security `restricted`: https://kubernetes.io/docs/concepts/security/pod-security-standards/.
Validation: kubernetes-validate strict against the cluster's version (as tests/infra/test_manifests.py).
Image digest: checkov CKV_K8S_43 ("Image should use digest": an `@` in every container image,
checkov/kubernetes/checks/resource/k8s/ImageDigest.py); the digest of v1.89.0's multi-architecture index is the one
public deployments pin for that release (see infra/redis_exporter.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest

from infra import redis_exporter
from tests.infra.harness import Recording, run_stack
from tests.infra.k8s import Manifest, one, pod_template
from tests.policy.test_scanners import checkov, render

INSTALL = {"platform:monitoring.install": "true", "platform:monitoring.serviceMonitor": "true"}


@pytest.fixture(scope="module")
def installed() -> Recording:
    return run_stack("prod", INSTALL)


def _policy(ms: list[Manifest], name: str) -> Manifest:
    (policy,) = [m for m in ms if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == name]
    return policy


def test_the_exporter_runs_restricted_and_validates_strictly(installed: Recording) -> None:
    ms = installed.kubernetes_manifests()
    deployment = one(ms, "Deployment", redis_exporter.NAME, "inference")
    service = one(ms, "Service", redis_exporter.NAME, "inference")
    version = installed.config["platform:cluster.version"]
    for manifest in (deployment, service):
        kubernetes_validate.validate(manifest, version, strict=True)
    pod = pod_template(deployment)["spec"]
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert re.fullmatch(r"oliver006/redis_exporter:v[0-9.]+@sha256:[0-9a-f]{64}", container["image"])
    assert service["spec"]["ports"][0]["port"] == redis_exporter.PORT == 9121


def test_the_token_reaches_the_exporter_as_a_password_file_for_the_tls_address(installed: Recording) -> None:
    ms = installed.kubernetes_manifests()
    pod = pod_template(one(ms, "Deployment", redis_exporter.NAME, "inference"))["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["REDIS_ADDR"].startswith("rediss://"), "ElastiCache has in-transit encryption on"
    assert not any("PASSWORD" in e["name"] and e["name"] != "REDIS_PASSWORD_FILE" for e in container["env"])
    (mount,) = container["volumeMounts"]
    assert env["REDIS_PASSWORD_FILE"] == f"{mount['mountPath']}/passwords.json"
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secret = one(ms, "Secret", volume["secret"]["secretName"], "inference")
    passwords = json.loads(secret["stringData"]["passwords.json"])
    # The key must be exactly REDIS_ADDR, or the exporter connects without the token.
    assert list(passwords) == [env["REDIS_ADDR"]] and passwords[env["REDIS_ADDR"]]


def test_policies_admit_exporter_to_redis_and_prometheus_to_exporter_only(installed: Recording) -> None:
    ms = installed.kubernetes_manifests()
    egress = _policy(ms, "redis-exporter-to-redis-egress")
    assert egress["spec"]["podSelector"]["matchLabels"] == redis_exporter.LABELS
    assert [r["ports"] for r in egress["spec"]["egress"]] == [[{"port": 6379, "protocol": "TCP"}]]
    ingress = _policy(ms, "prometheus-to-redis-exporter-ingress")
    (rule,) = ingress["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert rule["ports"] == [{"port": 9121, "protocol": "TCP"}]


def test_the_installed_prometheus_scrapes_the_exporter(installed: Recording) -> None:
    ms = installed.kubernetes_manifests()
    monitor = one(ms, "ServiceMonitor", redis_exporter.NAME, "inference")
    service = one(ms, "Service", redis_exporter.NAME, "inference")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [service["spec"]["ports"][0]["name"]]


def test_no_exporter_without_a_prometheus() -> None:
    ms = run_stack("prod").kubernetes_manifests()
    assert not [m for m in ms if m["metadata"].get("name") == redis_exporter.NAME]


def test_checkov_passes_the_stack_with_monitoring_on(installed: Recording, tmp_path: Path) -> None:
    """The monitoring objects (exporter, chart values, ServiceMonitors) pass the same gate as every stack's
    manifests (tests/policy/test_scanners.py), CKV_K8S_43 (image by digest) included."""
    assert render(installed, tmp_path) > 0
    results = checkov(tmp_path).get("results", {})
    failed = [f"{c['check_id']} {c['resource']}" for c in results.get("failed_checks", [])]
    assert not failed, failed
    exporter = [c for c in results.get("passed_checks", []) if redis_exporter.NAME in c["resource"]]
    assert "CKV_K8S_43" in {c["check_id"] for c in exporter}, "checkov never looked at the exporter's image"
