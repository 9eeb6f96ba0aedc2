"""What the inference ALB exposes to the internet: the prediction endpoints and readiness, nothing that describes
the service, unless a stack opts in visibly (ingress.publicDocs)."""

from __future__ import annotations

import fnmatch

from tests.infra.harness import Recording, run_stack
from tests.infra.k8s import arg_value, one

PREDICTION_AND_READINESS = {
    "/predict": "Exact",
    "/invocations": "Exact",
    "/health/ready": "Exact",
    "/v2/health/ready": "Exact",
    "/v2/models/*/infer": "ImplementationSpecific",
    "/v2/models/*/ready": "ImplementationSpecific",
}
DETAILS = {
    "/health": "Exact",
    "/version": "Exact",
    "/docs": "Prefix",
    "/openapi.json": "Exact",
    "/v2": "Exact",
    "/v2/models": "Prefix",
}


def routed(rec: Recording, namespace: str = "inference") -> dict[str, str]:
    spec = one(rec.kubernetes_manifests(), "Ingress", "inference", namespace)["spec"]
    (rule,) = spec["rules"]
    return {p["path"]: p["pathType"] for p in rule["http"]["paths"]}


def test_the_public_alb_routes_only_prediction_and_readiness_exactly(recording: Recording) -> None:
    """A `Prefix` /health would also match /health/<anything> and /health itself, whose body names the model, the
    last rejected version and why, the cache and drift (Kubernetes API reference, HTTPIngressPath pathType: Prefix
    matches on path elements; Exact matches the URL path exactly)."""
    assert routed(recording) == PREDICTION_AND_READINESS


def test_the_v2_patterns_match_inference_and_readiness_and_no_metadata(recording: Recording) -> None:
    """The Open Inference Protocol's paths through the ALB: an ImplementationSpecific path is the ALB's own path
    pattern (aws-load-balancer-controller v2.14.1 pkg/ingress/model_build_listener_rules.go
    `buildPathPatternsForImplementationSpecificPathType`), case-sensitive, `*` matching any characters and `?` one
    (ELBv2 API reference, PathPatternConfig). Inference and readiness of any model and version match; the server
    and model metadata (signature, versions) and liveness do not."""
    patterns = [p for p, kind in routed(recording).items() if kind == "ImplementationSpecific"]

    def public(path: str) -> bool:
        exact = {p for p, kind in routed(recording).items() if kind == "Exact"}
        return path in exact or any(fnmatch.fnmatchcase(path, p) for p in patterns)

    for path in ("/v2/models/diabetes/infer", "/v2/models/diabetes/versions/12/infer", "/v2/health/ready",
                 "/v2/models/diabetes/ready", "/v2/models/diabetes/versions/12/ready"):  # fmt: skip
        assert public(path), path
    for path in ("/v2", "/v2/models/diabetes", "/v2/models/diabetes/versions/12", "/v2/health/live", "/health"):
        assert not public(path), path


def test_a_preview_routes_only_prediction_and_readiness(preview: Recording) -> None:
    (namespace,) = {m["metadata"]["namespace"] for m in preview.kubernetes_manifests() if m["kind"] == "Ingress"}
    assert routed(preview, namespace) == PREDICTION_AND_READINESS


def test_the_details_are_routed_only_when_the_stack_opts_in() -> None:
    rec = run_stack("dev", {"platform:ingress.publicDocs": "true"})
    assert routed(rec) == {**PREDICTION_AND_READINESS, **DETAILS}


MLFLOW_UI = {"platform:mlflow.ingressEnabled": "true", "platform:mlflow.ingressHost": "mlflow.internal.example.com"}


def _mlflow_shutdown(rec: Recording) -> tuple[int, int, int]:
    """The MLflow Deployment's preStop sleep, Uvicorn drain and terminationGracePeriodSeconds."""
    template = one(rec.kubernetes_manifests(), "Deployment", "mlflow", "mlflow")["spec"]["template"]
    (c,) = template["spec"]["containers"]
    drain = int(arg_value(c["args"], "--uvicorn-opts").removeprefix("--timeout-graceful-shutdown "))
    return c["lifecycle"]["preStop"]["sleep"]["seconds"], drain, template["spec"]["terminationGracePeriodSeconds"]


def test_mlflow_keeps_serving_while_its_ui_alb_drains_it() -> None:
    """A terminating target stays registered, draining, for the target group's deregistration delay (Elastic Load
    Balancing User Guide for ALBs, "Deregistration delay"); the pod must not stop taking the requests the ALB still
    sends it meanwhile, so its preStop sleep covers that delay, and the kubelet's grace period covers the sleep and
    the server's drain (Kubernetes, "Termination of Pods")."""
    rec = run_stack("dev", MLFLOW_UI)
    annotations = one(rec.kubernetes_manifests(), "Ingress", "mlflow", "mlflow")["metadata"]["annotations"]
    attributes = dict(
        kv.split("=", 1) for kv in annotations["alb.ingress.kubernetes.io/target-group-attributes"].split(",")
    )
    delay = int(attributes["deregistration_delay.timeout_seconds"])
    sleep, drain, grace = _mlflow_shutdown(rec)
    assert sleep >= delay
    assert grace > sleep + drain


def test_mlflow_without_its_ui_alb_sleeps_only_briefly(recording: Recording) -> None:
    """In-cluster clients reach MLflow through its Service, whose endpoints drop a terminating pod within seconds."""
    sleep, drain, grace = _mlflow_shutdown(recording)
    assert sleep < 10 and grace > sleep + drain
