"""Redis metrics for Prometheus: the official Redis exporter as a Deployment beside the inference service.

ElastiCache exposes no /metrics of its own, so the exporter connects to it like any client (TLS, `rediss://`, and
the AUTH token) and serves `redis_*` series on 9121. The token reaches it as a file: the exporter's
`--redis.password-file` / `REDIS_PASSWORD_FILE` is a JSON object from the Redis address to its password
(oliver006/redis_exporter README.md, "Command line flags"; main.go `redisPwdFile`), never an environment value.
Its NetworkPolicies (infra/flows.py `flows`): egress to Redis on 6379 only (and DNS), ingress from Prometheus's
namespace on 9121 only; the ServiceMonitor is infra/monitoring.py's. Created only when a Prometheus scrapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import kube
from infra.config import Resources
from infra.inference import RedisEndpoint

NAME = "redis-exporter"
PORT = 9121
METRICS_PATH = "/metrics"
LABELS = kube.pod_labels(NAME, "exporter")
SECRETS_DIR = "/var/run/secrets/redis-exporter"
# The official image of release v1.89.0 (github.com/oliver006/redis_exporter/releases/tag/v1.89.0), named by the
# digest of its multi-architecture index, so amd64 and arm64 nodes pull the same release and no re-pushed tag
# changes what runs (CKV_K8S_43). The tag stays in the reference for readers; the runtime resolves the digest only.
# Re-check on a bump: `docker buildx imagetools inspect oliver006/redis_exporter:<tag>` prints the index digest.
IMAGE_TAG = "v1.89.0"
IMAGE_DIGEST = "sha256:fed773ffd2bb2eac706e0ed9cc2fff41651193ee4977e2a4f6919658ad2313f4"
IMAGE = f"oliver006/redis_exporter:{IMAGE_TAG}@{IMAGE_DIGEST}"
# A single Go process with a handful of connections: small, fixed bounds.
RESOURCES = Resources(
    cpu_request="25m",
    cpu_limit="200m",
    memory_request="32Mi",
    memory_limit="64Mi",
    ephemeral_storage_request="16Mi",
    ephemeral_storage_limit="64Mi",
)


@dataclass(frozen=True)
class RedisExporterArgs:
    namespace: pulumi.Input[str]
    redis: RedisEndpoint


def redis_address(redis: RedisEndpoint) -> pulumi.Output[str]:
    """`rediss://host:port`: TLS, as ElastiCache's in-transit encryption requires (no token in the address)."""
    return pulumi.Output.all(redis.host, redis.port).apply(lambda v: f"rediss://{v[0]}:{int(v[1])}")


def password_file(address: str, token: str) -> str:
    """The exporter's password file: JSON from the address it scrapes (exactly REDIS_ADDR) to that password."""
    return json.dumps({address: token})


class RedisExporter(pulumi.ComponentResource):
    """Secret (the password file), Deployment, Service of the Redis exporter."""

    def __init__(self, name: str, args: RedisExporterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:RedisExporter", name, None, opts)
        child = kube.child_options(self, opts)
        name = f"{name}-{NAME}"
        labels = kube.object_labels(NAME, "exporter")
        address = redis_address(args.redis)
        secret = k8s.core.v1.Secret(
            f"{name}-password",
            metadata={"namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data={
                "passwords.json": pulumi.Output.all(address, args.redis.auth_token).apply(
                    lambda v: password_file(v[0], str(v[1]))
                )
            },
            opts=child,
        )
        container: k8s.core.v1.ContainerArgsDict = {
            "name": NAME,
            "image": IMAGE,
            "image_pull_policy": "IfNotPresent",
            "env": [
                {"name": "REDIS_ADDR", "value": address},
                {"name": "REDIS_PASSWORD_FILE", "value": f"{SECRETS_DIR}/passwords.json"},
                {"name": "REDIS_EXPORTER_WEB_LISTEN_ADDRESS", "value": f":{PORT}"},
            ],
            "ports": [{"name": "http", "container_port": PORT, "protocol": "TCP"}],
            # The exporter answers /health without touching Redis, so a Redis outage shows in `redis_up`,
            # not as a restarting exporter.
            "readiness_probe": kube.http_probe("/health", "http", period=10, failures=3),
            "liveness_probe": kube.http_probe("/health", "http", period=20, failures=3, timeout=3),
            "resources": kube.resources(RESOURCES),
            "security_context": kube.container_security_context(),
            "volume_mounts": [{"name": "password", "mount_path": SECRETS_DIR, "read_only": True}],
        }
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": 1,
                "revision_history_limit": 3,
                "selector": {"match_labels": LABELS},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": kube.pod_spec([container], [kube.secret_volume("password", secret.metadata.name)]),
                },
            },
            opts=child,
        )
        kube.cluster_ip_service(
            f"{name}-service",
            name=NAME,
            namespace=args.namespace,
            labels=labels,
            selector=LABELS,
            port=PORT,
            opts=child,
        )
        self.register_outputs({})
