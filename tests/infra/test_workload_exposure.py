"""What the inference ALB exposes to the internet: the prediction endpoints and readiness, nothing that describes
the service, unless a stack opts in visibly (ingress.publicDocs)."""

from __future__ import annotations

from tests.infra.harness import Recording, run_stack
from tests.infra.k8s import one

PREDICTION_AND_READINESS = {"/predict": "Exact", "/invocations": "Exact", "/health/ready": "Exact"}
DETAILS = {"/health": "Exact", "/version": "Exact", "/docs": "Prefix", "/openapi.json": "Exact"}


def routed(rec: Recording, namespace: str = "inference") -> dict[str, str]:
    spec = one(rec.kubernetes_manifests(), "Ingress", "inference", namespace)["spec"]
    (rule,) = spec["rules"]
    return {p["path"]: p["pathType"] for p in rule["http"]["paths"]}


def test_the_public_alb_routes_only_prediction_and_readiness_exactly(recording: Recording) -> None:
    """A `Prefix` /health would also match /health/<anything> and /health itself, whose body names the model, the
    last rejected version and why, the cache and drift (Kubernetes API reference, HTTPIngressPath pathType: Prefix
    matches on path elements; Exact matches the URL path exactly)."""
    assert routed(recording) == PREDICTION_AND_READINESS


def test_a_preview_routes_only_prediction_and_readiness(preview: Recording) -> None:
    (namespace,) = {m["metadata"]["namespace"] for m in preview.kubernetes_manifests() if m["kind"] == "Ingress"}
    assert routed(preview, namespace) == PREDICTION_AND_READINESS


def test_the_details_are_routed_only_when_the_stack_opts_in() -> None:
    rec = run_stack("dev", {"platform:ingress.publicDocs": "true"})
    assert routed(rec) == {**PREDICTION_AND_READINESS, **DETAILS}
