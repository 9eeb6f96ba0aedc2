"""A pull-request preview: one inference service, with the pull request's image, on its base stack's cluster.

Everything the preview needs of the base stack comes through one StackReference: the cluster's kubeconfig (a
secret output), the VPC's and private subnets' CIDRs for the NetworkPolicies, Redis, MLflow's in-cluster URL, the
inference ALB's settings, the ECR repository and the nodes' platform. Secrets never travel as outputs: the base
stack exports the ARNs of its Secrets Manager copies (infra/shared_secrets.py), read here with
`secretsmanager:GetSecretValue`.

The preview creates namespace `pr-<N>` and namespace-scoped objects in it, pushes its inference image to the
base stack's inference repository (tag `pr-<N>-<hash>`), and creates one AWS resource: the Route 53 alias of its
host `pr-<N>.<preview domain>`; no VPC, cluster, Redis, database, bucket or certificate. Its cache keys start with
`pr-<N>:`, so previews share the base stack's Redis without ever sharing entries.

Every preview's Ingress joins the base stack's IngressGroup (`alb.ingress.kubernetes.io/group.name`), so all
previews share one ALB, each with its own host rule, on the wildcard certificate the base stack issued for the
preview domain: no ALB (and no certificate) per pull request. On a base stack with `ingress.controller: nginx`
(the preview sets the same key), each preview is instead a host rule of class nginx on the base stack's shared
controller, whose NLB serves the wildcard certificate too: no load balancer per pull request either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import inference, kube
from infra.config import PreviewStackConfig, preview_host
from infra.dns import Alias, Dns, DnsArgs, ZoneRef
from infra.existing_cluster import ExistingCluster, ExistingClusterArgs
from infra.flows import PREVIEW_NAMESPACE_LABELS, inference_flows
from infra.images import Images, ImagesArgs
from infra.inference import Inference, InferenceArgs, RedisEndpoint
from infra.kube import AlbSettings
from infra.namespaces import Namespaces, NamespacesArgs

# The Secrets Manager copies a hosting stack keeps for its previews (SharedSecrets slugs) and the outputs that
# carry their ARNs.
REDIS_AUTH_TOKEN = "redis-auth-token"
INFERENCE_MLFLOW_CREDENTIALS = "inference-mlflow-credentials"
SECRET_OUTPUTS = {REDIS_AUTH_TOKEN: "redisAuthSecretArn", INFERENCE_MLFLOW_CREDENTIALS: "inferenceMlflowSecretArn"}
# Every preview's ALB access logs go under <the base stack's prefix>/previews: the previews share one ALB, whose
# attributes must be the same on each of their Ingresses.
PREVIEWS_LOG_PREFIX = "previews"


@dataclass(frozen=True)
class Preview:
    """The built preview stack."""

    config: PreviewStackConfig
    base: pulumi.StackReference
    cluster: ExistingCluster
    namespaces: Namespaces
    images: Images
    inference: Inference
    dns: Dns

    def exports(self) -> dict[str, pulumi.Input[object]]:
        """What the delivery workflow comments on the pull request; nothing secret."""
        preview = self.config.preview
        return {
            "environment": self.config.environment,
            "baseStack": preview.base_stack,
            "namespace": preview.namespace,
            "modelAlias": preview.model_alias,
            "cacheKeyPrefix": preview.cache_key_prefix,
            "inferenceUrl": self.inference.url,
            "inferenceAlbHostname": self.inference.alb_hostname,
            # What the delivery workflow comments on the pull request.
            "inferenceImage": self.images.refs["inference"],
        }


def secret_value(arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """The current value of a Secrets Manager secret, kept a secret Output whatever the provider marks it."""
    version = aws.secretsmanager.get_secret_version_output(secret_id=arn)
    return pulumi.Output.secret(version.secret_string)


def credentials_document(username: str, password: str) -> str:
    """How a hosting stack stores a client's MLflow credentials in one secret."""
    return json.dumps({"username": username, "password": password})


def _credentials(document: str) -> dict[str, str]:
    try:
        parsed = json.loads(document)
        return {"username": str(parsed["username"]), "password": str(parsed["password"])}
    except (ValueError, KeyError, TypeError) as e:
        # Never quote the document: it is the secret.
        raise ValueError(
            f"the base stack's {INFERENCE_MLFLOW_CREDENTIALS} secret must be JSON with username and password"
        ) from e


def _string(value: pulumi.Output[Any]) -> pulumi.Output[str]:
    return value.apply(str)


def _rate_limit(shared: Any, controller: str) -> int:
    """The hosting stack's per-client rate limit, once its controller is the one this preview was configured for:
    the NetworkPolicies admit that controller's pods only, so a mismatch would leave the preview unreachable."""
    # A hosting stack from before ingress.controller existed exports none: it runs the ALB.
    hosting = shared.get("controller") or "alb"
    if hosting != controller:
        raise ValueError(
            f"platform:ingress.controller must be the base stack's ({hosting}) in a preview stack (got {controller!r})"
        )
    return int(shared["rateLimitRps"])


def build_preview(cfg: PreviewStackConfig) -> Preview:
    """Register the preview of pull request `cfg.preview.pr_number` on the cluster of `cfg.preview.base_stack`."""
    preview = cfg.preview
    base = pulumi.StackReference(f"{cfg.name}-base", stack_name=preview.base_stack)

    def output(name: str) -> pulumi.Output[Any]:
        def present(value: Any) -> Any:
            if value is None:
                raise ValueError(
                    f"the base stack {preview.base_stack} has no output {name}: previews run on a full stack of this "
                    "program with platform:preview.hosting true (platform:preview.baseStack)"
                )
            return value

        # get_output keeps a secret output secret, as require_output does; this only words the failure.
        return base.get_output(name).apply(present)

    cluster = ExistingCluster(cfg.name, ExistingClusterArgs.from_stack(base))
    on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])
    namespace = preview.namespace
    namespaces = Namespaces(
        cfg.name,
        NamespacesArgs(
            names=[namespace],
            kubernetes_version=cluster.version,
            flows=inference_flows(
                namespace,
                output("albSourceCidrs").apply(lambda cidrs: [str(c) for c in cidrs]),
                output("dataSubnetCidrs").apply(lambda cidrs: [str(c) for c in cidrs]),
                cfg.monitoring.prometheus_namespace,
                cfg.ingress_controller,
            ),
            labels={**PREVIEW_NAMESPACE_LABELS, **kube.OWNER_LABELS},
        ),
        opts=on_cluster,
    )

    # The pull request's inference image, built into the base stack's inference repository under a pr-<N> tag
    # (destroying the preview deletes it), or the digest CI pushed (images.build false).
    images = Images(
        cfg.name,
        ImagesArgs(
            config=cfg.images,
            repository_urls={"inference": output("ecrRepositoryUrls").apply(lambda urls: str(urls["inference"]))},
            platform=_string(output("imagePlatform")),
            tag_prefix=namespace,
        ),
    )
    credentials = secret_value(output(SECRET_OUTPUTS[INFERENCE_MLFLOW_CREDENTIALS])).apply(_credentials)
    alb = output("inferenceAlb")
    shared = output("previewIngress")
    host = _string(shared["domain"]).apply(lambda domain: preview_host(preview.pr_number, domain))
    service = Inference(
        cfg.name,
        InferenceArgs(
            config=cfg.inference,
            monitoring=cfg.monitoring,
            namespace=namespace,
            image=images.refs["inference"],
            registry_uri=_string(output("mlflowUrl")),
            mlflow_username=credentials.apply(lambda c: c["username"]),
            mlflow_password=credentials.apply(lambda c: c["password"]),
            redis=RedisEndpoint(
                host=_string(output("redisEndpoint")),
                port=output("redisPort").apply(int),
                auth_token=secret_value(output(SECRET_OUTPUTS[REDIS_AUTH_TOKEN])),
            ),
            # The base stack's ALB settings, so a preview is exposed (CIDRs, WAF, TLS policy, logs) as the base
            # stack is, on the previews' shared ALB: the settings the group's Ingresses must agree on are the same
            # for every preview (no per-preview tag or log prefix), and it is deletable, because the controller
            # deletes it with the last preview.
            alb=AlbSettings(
                scheme=_string(alb["scheme"]),
                health_check_path=inference.READY_PATH,
                tags=cfg.tags(),
                certificate_arn=_string(shared["certificateArn"]),
                inbound_cidrs=alb["inboundCidrs"],
                access_logs_bucket=_string(alb["accessLogsBucket"]),
                access_logs_prefix=pulumi.Output.concat(_string(alb["accessLogsPrefix"]), "/", PREVIEWS_LOG_PREFIX),
                deletion_protection=False,
                waf_acl_arn=_string(alb["wafAclArn"]),
                deregistration_delay_seconds=cfg.inference.drain_seconds,
                # A base stack from before subnetIds was shared has none: its ALB used tag discovery too.
                subnet_ids=alb.apply(lambda a: [str(s) for s in a.get("subnetIds") or []]),
                group_name=_string(shared["groupName"]),
            ),
            host=host,
            cache_key_prefix=preview.cache_key_prefix,
            nginx_rate_limit_rps=shared.apply(lambda s: _rate_limit(s, cfg.ingress_controller))
            if cfg.ingress_controller == "nginx"
            else None,
        ),
        opts=pulumi.ResourceOptions(providers=[cluster.provider], depends_on=[namespaces]),
    )
    zone = ZoneRef(zone_id=_string(shared["hostedZoneId"]), name=_string(shared["hostedZoneName"]))
    # Behind NGINX the alias names the hosting stack's NLB (the controller publishes it in the Ingress status).
    kind = "network" if cfg.ingress_controller == "nginx" else "application"
    aliases = {"inference": Alias(host, service.alb_hostname)}
    dns = Dns(cfg.name, DnsArgs(aliases=aliases, zone=zone, load_balancer_type=kind))
    return Preview(
        config=cfg, base=base, cluster=cluster, namespaces=namespaces, images=images, inference=service, dns=dns
    )
