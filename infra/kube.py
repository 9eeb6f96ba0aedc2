"""Kubernetes building blocks every workload here shares: the restricted pod shape and the ALB annotations.

Each function returns the typed dict pulumi_kubernetes accepts, so mypy checks field names, and each encodes
one control of shared/SECURITY-BASELINE.md "Kubernetes workloads" in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import Resources

# Non-root, and outside the UID range the images' base distributions allocate (CKV_K8S_40).
RUN_AS_USER = 10001
TMP_MOUNT = "/tmp"
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# Marks pods as part of this platform; selectors use only `name` and `component`.
PART_OF = "ml-platform"
# On every object the stack creates, namespaces included.
OWNER_LABELS = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
# On a Job that `up` awaits: the next `up` replaces it, so runs it again, when it did not complete (failed or still
# running) instead of keeping the failed one (pulumi-kubernetes provider/pkg/provider/provider.go Diff,
# `pulumi.com/replaceUnready`, supported for Jobs). A completed Job is left alone.
RERUN_UNLESS_COMPLETE = {"pulumi.com/replaceUnready": "true"}


def child_options(parent: pulumi.Resource, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """Options for a component's children: parented to it, and waiting for what it was told to wait for.

    Pulumi does not pass a component's `depends_on` on to its children; without this, pods would be created
    before the LB controller's webhook or the NetworkPolicies exist.
    """
    return pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None)


def pod_labels(name: str, component: str) -> dict[str, str]:
    """The labels that select one workload's pods."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}


def object_labels(name: str, component: str) -> dict[str, str]:
    return {**pod_labels(name, component), **OWNER_LABELS}


def pod_security_context() -> k8s.core.v1.PodSecurityContextArgsDict:
    """Pod level of the PSA `restricted` profile; fsGroup lets the non-root user read mounted secrets."""
    return {
        "run_as_non_root": True,
        "run_as_user": RUN_AS_USER,
        "run_as_group": RUN_AS_USER,
        "fs_group": RUN_AS_USER,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> k8s.core.v1.SecurityContextArgsDict:
    """Container level of the PSA `restricted` profile, plus a read-only root filesystem."""
    return {
        "allow_privilege_escalation": False,
        "privileged": False,
        "read_only_root_filesystem": True,
        "run_as_non_root": True,
        "run_as_user": RUN_AS_USER,
        "run_as_group": RUN_AS_USER,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def resources(r: Resources) -> k8s.core.v1.ResourceRequirementsArgsDict:
    return {
        "requests": {
            "cpu": r.cpu_request,
            "memory": r.memory_request,
            "ephemeral-storage": r.ephemeral_storage_request,
        },
        "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit, "ephemeral-storage": r.ephemeral_storage_limit},
    }


def tmp_volume(size_limit: str) -> k8s.core.v1.VolumeArgsDict:
    """The only writable path of a container; bounded so a runaway write evicts the pod, not the node."""
    return {"name": "tmp", "empty_dir": {"size_limit": size_limit}}


def tmp_mount() -> k8s.core.v1.VolumeMountArgsDict:
    return {"name": "tmp", "mount_path": TMP_MOUNT}


def tmp_env() -> list[k8s.core.v1.EnvVarArgsDict]:
    """HOME and TMPDIR on the tmp mount: with a read-only root filesystem, the one place a process may write."""
    return [{"name": "HOME", "value": TMP_MOUNT}, {"name": "TMPDIR", "value": TMP_MOUNT}]


def aws_env(region: str) -> list[k8s.core.v1.EnvVarArgsDict]:
    """The region of an IRSA pod's AWS SDK calls, and STS's regional endpoint for its token exchange (the global
    one is a single region's dependency)."""
    return [
        {"name": "AWS_DEFAULT_REGION", "value": region},
        {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
    ]


def secret_volume(name: str, secret_name: pulumi.Input[str]) -> k8s.core.v1.VolumeArgsDict:
    """A Secret as read-only files, readable by the pod's group only (secrets as files, CKV_K8S_35)."""
    return {"name": name, "secret": {"secret_name": secret_name, "default_mode": 0o440}}


def http_probe(
    path: str, port: str, *, period: int, failures: int, timeout: int = 2, initial_delay: int = 0
) -> k8s.core.v1.ProbeArgsDict:
    probe: k8s.core.v1.ProbeArgsDict = {
        "http_get": {"path": path, "port": port},
        "period_seconds": period,
        "failure_threshold": failures,
        "timeout_seconds": timeout,
        "success_threshold": 1,
    }
    if initial_delay:
        probe["initial_delay_seconds"] = initial_delay
    return probe


def spread(labels: Mapping[str, str]) -> list[k8s.core.v1.TopologySpreadConstraintArgsDict]:
    """Across zones (a zone outage leaves replicas) and hosts (a node drain takes one), per ReplicaSet."""
    return [
        {
            "max_skew": 1,
            "topology_key": key,
            "when_unsatisfiable": when,
            "label_selector": {"match_labels": dict(labels)},
            # Spread each rollout's pods on their own, so an old ReplicaSet does not skew the new one.
            "match_label_keys": ["pod-template-hash"],
        }
        for key, when in (
            ("topology.kubernetes.io/zone", "DoNotSchedule"),
            # A small node group may have fewer hosts than replicas: prefer, do not block.
            ("kubernetes.io/hostname", "ScheduleAnyway"),
        )
    ]


# mlflow/environment_variables.py (mlflow 3.x): MLFLOW_DISABLE_TELEMETRY, read by telemetry/utils.py.
TELEMETRY_OFF: k8s.core.v1.EnvVarArgsDict = {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"}


def without_telemetry(container: k8s.core.v1.ContainerArgsDict) -> k8s.core.v1.ContainerArgsDict:
    """The container with TELEMETRY_OFF added to its (literal) env list."""
    env = container.get("env", [])
    if not isinstance(env, Sequence):
        raise TypeError(f"container {container.get('name')}: env must be a list to add {TELEMETRY_OFF['name']}")
    return {**container, "env": [*env, TELEMETRY_OFF]}


def pod_spec(
    containers: list[k8s.core.v1.ContainerArgsDict],
    volumes: list[k8s.core.v1.VolumeArgsDict],
    *,
    service_account: pulumi.Input[str] | None = None,
    spread_labels: Mapping[str, str] | None = None,
    grace_seconds: int | None = None,
    restart_policy: str | None = None,
    init_containers: list[k8s.core.v1.ContainerArgsDict] | None = None,
) -> k8s.core.v1.PodSpecArgsDict:
    """A pod of the restricted shape: no API token, no service-link variables, non-root under RuntimeDefault;
    no container sends MLflow's usage telemetry."""
    spec: k8s.core.v1.PodSpecArgsDict = {
        # None of the workloads talks to the Kubernetes API (CKV_K8S_38).
        "automount_service_account_token": False,
        "enable_service_links": False,
        "security_context": pod_security_context(),
        # Every image runs MLflow (server or client), which would otherwise report usage to MLflow's telemetry
        # endpoint (mlflow/telemetry/utils.py); set here too, so an image built without its ENV still keeps quiet.
        "containers": [without_telemetry(c) for c in containers],
        "volumes": volumes,
    }
    if service_account is not None:
        spec["service_account_name"] = service_account
    if spread_labels is not None:
        spec["topology_spread_constraints"] = spread(spread_labels)
    if grace_seconds is not None:
        spec["termination_grace_period_seconds"] = grace_seconds
    if restart_policy is not None:
        spec["restart_policy"] = restart_policy
    if init_containers:
        spec["init_containers"] = [without_telemetry(c) for c in init_containers]
    return spec


def cluster_ip_service(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    port: int,
    opts: pulumi.ResourceOptions,
    extra_ports: Mapping[str, int] | None = None,
) -> k8s.core.v1.Service:
    """An in-cluster Service whose port `http` (and each of `extra_ports`, name -> port) targets the container port
    of the same name."""
    ports = {"http": port, **(extra_ports or {})}
    return k8s.core.v1.Service(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": dict(labels)},
        spec={
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [
                {"name": port_name, "port": number, "target_port": port_name, "protocol": "TCP"}
                for port_name, number in ports.items()
            ],
        },
        opts=opts,
    )


def rolling_update() -> k8s.apps.v1.DeploymentStrategyArgsDict:
    """Surge a new pod before taking an old one away: capacity never drops during a rollout."""
    return {"type": "RollingUpdate", "rolling_update": {"max_unavailable": 0, "max_surge": 1}}


def termination_grace_seconds(pre_stop_sleep: int, drain: int) -> int:
    """Longer than the preStop sleep plus the drain, so SIGKILL never cuts a request short."""
    return pre_stop_sleep + drain + 5


def disruption_budget(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    metadata_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    """One pod at a time may be evicted, and a crash-looping pod never blocks a node drain."""
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": dict(metadata_labels)},
        spec={
            "max_unavailable": 1,
            "unhealthy_pod_eviction_policy": "AlwaysAllow",
            "selector": {"match_labels": dict(labels)},
        },
        opts=opts,
    )


@dataclass(frozen=True)
class AlbSettings:
    """What the AWS Load Balancer Controller needs to build one ALB (shared/SECURITY-BASELINE.md "ALB").

    Settings may be Outputs (a preview stack reads them from its base stack); "" reads as unset, as a stack
    output carries an unset value.
    """

    scheme: pulumi.Input[str]
    health_check_path: str
    tags: Mapping[str, str]
    certificate_arn: pulumi.Input[str] | None = None
    inbound_cidrs: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    access_logs_bucket: pulumi.Input[str] | None = None
    access_logs_prefix: pulumi.Input[str] = ""
    deletion_protection: bool = True
    waf_acl_arn: pulumi.Input[str] | None = None
    deregistration_delay_seconds: int = 30
    # Named only for a brought VPC, whose subnets carry no kubernetes.io/role/(internal-)elb tag this stack set:
    # the controller's tag-less discovery would take any subnet its route tables class as public or private.
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    # An IngressGroup: every Ingress naming it shares one ALB, each with its own host rules. The group's
    # ALB-level annotations (scheme, attributes, tags, inbound CIDRs, WAF, SSL policy) must then be identical on
    # each (LB controller v2.14.1 docs/guide/ingress/annotations.md, "MergeBehavior": Exclusive; a conflicting
    # value stops the group's reconcile, pkg/ingress/model_build_tags.go, model_build_load_balancer_attributes.go).
    group_name: pulumi.Input[str] | None = None

    def shared(self) -> dict[str, pulumi.Input[Any]]:
        """The settings another stack needs to build an ALB like this one, as a stack output (no secrets)."""
        return {
            "scheme": self.scheme,
            "inboundCidrs": self.inbound_cidrs,
            "accessLogsBucket": self.access_logs_bucket or "",
            "accessLogsPrefix": self.access_logs_prefix,
            "wafAclArn": self.waf_acl_arn or "",
            "subnetIds": self.subnet_ids,
        }


def alb_annotations(alb: AlbSettings) -> pulumi.Output[dict[str, str]]:
    """The Ingress annotations for one ALB: TLS 1.3 with redirect, IP targets, hardened attributes."""
    return pulumi.Output.all(
        alb.scheme,
        alb.certificate_arn,
        alb.access_logs_bucket,
        alb.access_logs_prefix,
        alb.waf_acl_arn,
        alb.inbound_cidrs,
        alb.subnet_ids,
        alb.group_name,
    ).apply(
        lambda v: _alb_annotations(
            alb,
            scheme=v[0],
            certificate=v[1],
            bucket=v[2],
            prefix=v[3],
            waf=v[4],
            cidrs=v[5],
            subnets=v[6],
            group=v[7],
        )
    )


def _alb_annotations(
    alb: AlbSettings,
    *,
    scheme: str,
    certificate: str | None,
    bucket: str | None,
    prefix: str,
    waf: str | None,
    cidrs: Sequence[str] | None,
    subnets: Sequence[str] | None,
    group: str | None,
) -> dict[str, str]:
    attributes = [
        "routing.http.drop_invalid_header_fields.enabled=true",
        "routing.http.desync_mitigation_mode=defensive",
        f"deletion_protection.enabled={str(alb.deletion_protection).lower()}",
    ]
    if bucket:
        attributes += [
            "access_logs.s3.enabled=true",
            f"access_logs.s3.bucket={bucket}",
            f"access_logs.s3.prefix={prefix}",
        ]
    annotations = {
        "alb.ingress.kubernetes.io/scheme": scheme,
        # Pods are targets directly: no NodePort, and the readiness gate follows the real target health.
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/healthcheck-path": alb.health_check_path,
        "alb.ingress.kubernetes.io/healthcheck-port": "traffic-port",
        "alb.ingress.kubernetes.io/success-codes": "200",
        "alb.ingress.kubernetes.io/load-balancer-attributes": ",".join(attributes),
        "alb.ingress.kubernetes.io/target-group-attributes": (
            f"deregistration_delay.timeout_seconds={alb.deregistration_delay_seconds}"
        ),
        "alb.ingress.kubernetes.io/tags": ",".join(f"{k}={v}" for k, v in sorted(alb.tags.items())),
    }
    if certificate:
        annotations |= {
            "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
            "alb.ingress.kubernetes.io/certificate-arn": certificate,
            "alb.ingress.kubernetes.io/ssl-policy": SSL_POLICY,
            "alb.ingress.kubernetes.io/ssl-redirect": "443",
        }
    else:
        annotations["alb.ingress.kubernetes.io/listen-ports"] = json.dumps([{"HTTP": 80}])
    if waf:
        annotations["alb.ingress.kubernetes.io/wafv2-acl-arn"] = waf
    if cidrs:
        annotations["alb.ingress.kubernetes.io/inbound-cidrs"] = ",".join(cidrs)
    if subnets:
        annotations["alb.ingress.kubernetes.io/subnets"] = ",".join(subnets)
    if group:
        annotations["alb.ingress.kubernetes.io/group.name"] = group
    return annotations


def url_scheme(certificate: str | None) -> str:
    """What an ALB with `certificate` (or none) answers clients on."""
    return "https" if certificate else "http"


def service_account(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
) -> k8s.core.v1.ServiceAccount:
    """A workload's own identity, so no pod runs as the namespace's `default` account (CKV_K8S_38 family);
    `annotations` e.g. an IRSA role's ARN."""
    metadata: k8s.meta.v1.ObjectMetaArgsDict = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return k8s.core.v1.ServiceAccount(
        resource_name,
        metadata=metadata,
        # The pods reach no Kubernetes API; no token is mounted.
        automount_service_account_token=False,
        opts=opts,
    )
