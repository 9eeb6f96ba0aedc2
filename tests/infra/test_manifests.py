"""The rendered Kubernetes objects: schema-valid for the cluster's version and the next, and wired together.

Wiring means what `kubectl apply` would not catch: a pod naming a Secret that does not exist stays Pending, a
Service whose selector matches no pod has no endpoints, an Ingress naming a missing port routes nowhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.infra.harness import Recording
from tests.infra.k8s import Manifest, containers, of_kind, one, selects, workloads
from tests.infra.render_manifests import manifest_filename, ordered, write_manifests

# Custom resources kubernetes-validate has no schema for; test_workload.py checks their wiring.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(params=["dev", "staging", "prod", "preview"])
def every_stack(request: pytest.FixtureRequest, recordings: dict[str, Recording], preview: Recording) -> Recording:
    """The full stacks and a preview: the same objects must be as valid and as well wired in a preview."""
    return preview if request.param == "preview" else recordings[request.param]


def versions(rec: Recording) -> tuple[str, str]:
    """The stack's EKS minor version and the next one (an upgrade must not break the manifests)."""
    version = rec.config.get("platform:cluster.version", "1.33")
    major, minor = version.split(".")
    return version, f"{major}.{int(minor) + 1}"


def test_every_manifest_validates_strictly_for_this_and_the_next_kubernetes_version(every_stack: Recording) -> None:
    manifests = every_stack.kubernetes_manifests()
    assert manifests
    errors = []
    for manifest in manifests:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        for version in versions(every_stack):
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                errors.append(f"{version} {manifest['kind']}/{manifest['metadata']['name']}: {path}: {e.message}")
    assert not errors, "\n".join(errors)


def test_strict_validation_rejects_an_unknown_field() -> None:
    """Guards the test above: strict mode must fail on a misspelt field, or it proves nothing."""
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicey": "IfNotPresent"}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.33", strict=True)


def _namespaced(manifests: list[Manifest], kind: str, namespace: str) -> set[str]:
    return {m["metadata"]["name"] for m in of_kind(manifests, kind, namespace)}


def _referenced(pod_spec: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(Secrets, ConfigMaps) a pod spec names, through volumes, envFrom and env valueFrom."""
    secrets, config_maps = set(), set()
    for volume in pod_spec.get("volumes") or []:
        if "secret" in volume:
            secrets.add(volume["secret"]["secretName"])
        if "configMap" in volume:
            config_maps.add(volume["configMap"]["name"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in source:
                secrets.add(source["secret"]["name"])
            if "configMap" in source:
                config_maps.add(source["configMap"]["name"])
    for c in containers(pod_spec):
        for source in c.get("envFrom") or []:
            if "secretRef" in source:
                secrets.add(source["secretRef"]["name"])
            if "configMapRef" in source:
                config_maps.add(source["configMapRef"]["name"])
        for env in c.get("env") or []:
            ref = env.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                secrets.add(ref["secretKeyRef"]["name"])
            if "configMapKeyRef" in ref:
                config_maps.add(ref["configMapKeyRef"]["name"])
    return secrets, config_maps


def test_every_secret_config_map_and_service_account_a_pod_names_exists_in_its_namespace(
    every_stack: Recording,
) -> None:
    manifests = every_stack.kubernetes_manifests()
    for workload, template in workloads(manifests):
        ns, spec = workload["metadata"]["namespace"], template["spec"]
        secrets, config_maps = _referenced(spec)
        assert secrets <= _namespaced(manifests, "Secret", ns), workload["metadata"]["name"]
        assert config_maps <= _namespaced(manifests, "ConfigMap", ns), workload["metadata"]["name"]
        if "serviceAccountName" in spec:
            assert spec["serviceAccountName"] in _namespaced(manifests, "ServiceAccount", ns)


def test_every_mounted_volume_is_declared(every_stack: Recording) -> None:
    for workload, template in workloads(every_stack.kubernetes_manifests()):
        declared = {v["name"] for v in template["spec"]["volumes"]}
        for c in containers(template["spec"]):
            assert {m["name"] for m in c["volumeMounts"]} <= declared, workload["metadata"]["name"]


def _pods_selected(manifests: list[Manifest], namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
    return [
        t
        for w, t in workloads(manifests)
        if w["metadata"]["namespace"] == namespace and selects(selector, t["metadata"]["labels"])
    ]


def test_service_selectors_match_exactly_one_workload_and_its_named_port(every_stack: Recording) -> None:
    manifests = every_stack.kubernetes_manifests()
    for service in of_kind(manifests, "Service"):
        ns, spec = service["metadata"]["namespace"], service["spec"]
        assert spec["selector"], service["metadata"]["name"]
        (template,) = _pods_selected(manifests, ns, spec["selector"])
        container_ports = {p["name"] for c in containers(template["spec"]) for p in c.get("ports") or []}
        for port in spec["ports"]:
            assert port["targetPort"] in container_ports, service["metadata"]["name"]


def test_deployment_selectors_match_their_own_pod_labels(every_stack: Recording) -> None:
    for d in of_kind(every_stack.kubernetes_manifests(), "Deployment"):
        assert selects(d["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])


def test_ingress_backends_name_an_existing_service_and_port(every_stack: Recording) -> None:
    manifests = every_stack.kubernetes_manifests()
    ingresses = of_kind(manifests, "Ingress")
    assert ingresses
    for ingress in ingresses:
        ns = ingress["metadata"]["namespace"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = one(manifests, "Service", backend["name"], ns)
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_hpa_targets_a_deployment_that_leaves_replicas_to_it(every_stack: Recording) -> None:
    manifests = every_stack.kubernetes_manifests()
    hpas = of_kind(manifests, "HorizontalPodAutoscaler")
    assert hpas
    for hpa in hpas:
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["apiVersion"] == "apps/v1"
        deployment = one(manifests, "Deployment", target["name"], hpa["metadata"]["namespace"])
        assert "replicas" not in deployment["spec"]
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"] >= (2 if every_stack.stack == "prod" else 1)


def test_disruption_budgets_select_pods_that_exist(every_stack: Recording) -> None:
    manifests = every_stack.kubernetes_manifests()
    for pdb in of_kind(manifests, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert _pods_selected(manifests, pdb["metadata"]["namespace"], selector), pdb["metadata"]["name"]


def test_render_writes_one_yaml_file_per_object(recording: Recording, tmp_path: Path) -> None:
    out = tmp_path / recording.stack
    (out / "stale.yaml").parent.mkdir(parents=True)
    (out / "stale.yaml").write_text("left over from an earlier render")
    written = write_manifests(recording, out)
    manifests = ordered(recording.kubernetes_manifests())
    assert sorted(out.iterdir()) == sorted(written)
    assert [m["kind"] for m in manifests[:2]] == ["Namespace", "Namespace"]
    assert [yaml.safe_load(p.read_text()) for p in written] == manifests
    assert [p.name for p in written] == [manifest_filename(i, m) for i, m in enumerate(manifests)]
