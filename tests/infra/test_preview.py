"""Preview stacks (platform:mode preview): one inference service per pull request on the dev stack's cluster.

The preview runs from the template Pulumi.preview.yaml on the dev stack recorded in the same session, so what it
reads through its StackReference are dev's real exports and what it looks up in Secrets Manager is what dev
stored there.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from types import ModuleType
from urllib.parse import unquote, urlparse

import pytest
import yaml

from infra.config import ConfigError
from tests.infra.harness import (
    DOCKER_IMAGE,
    GET_ECR_TOKEN,
    GET_SECRET_VERSION,
    ROOT,
    STACK_REFERENCE,
    Recording,
    qualified,
    run_stack,
)
from tests.infra.k8s import Manifest, of_kind, one, selects
from tests.support.stacks import PREVIEW_PR

NAMESPACE = f"pr-{PREVIEW_PR}"
TEMPLATE = yaml.safe_load((ROOT / "Pulumi.preview.yaml").read_text())["config"]
# Namespace-scoped kinds only, besides the namespace itself.
KINDS = Counter(
    {
        "Namespace": 1,
        # default deny, DNS, ALB -> inference, inference -> MLflow, inference -> Redis
        "NetworkPolicy": 5,
        "ServiceAccount": 1,
        "ConfigMap": 1,
        "Secret": 1,
        "Deployment": 1,
        # the image check the Deployment waits for (infra/inference.py)
        "Job": 1,
        "Service": 1,
        "HorizontalPodAutoscaler": 1,
        "PodDisruptionBudget": 1,
        "Ingress": 1,
    }
)


@pytest.fixture
def on_dev(recordings: dict[str, Recording]) -> dict[str, Recording]:
    """The recorded dev stack as the preview's base, so a run does not record dev again."""
    return {qualified("dev"): recordings["dev"]}


def manifests(rec: Recording) -> list[Manifest]:
    return rec.kubernetes_manifests()


def _delivery_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("preview_stacks", ROOT / ".github" / "scripts" / "preview_stacks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------- what it creates


def test_the_template_is_a_preview_of_dev_without_secrets() -> None:
    assert TEMPLATE["platform:mode"] == "preview"
    assert TEMPLATE["platform:preview.baseStack"] == "dev"
    assert not any(isinstance(v, dict) for v in TEMPLATE.values()), "secure: values cannot be copied to pr-<N>"


def test_a_preview_reads_dev_through_a_stack_reference_and_creates_only_its_dns_record(preview: Recording) -> None:
    (reference,) = preview.find(STACK_REFERENCE)
    assert reference.read and reference.inputs["name"] == qualified("dev") == "acme/platform/dev"
    # Its host's alias; the certificate is dev's wildcard, and the ALB the previews' shared one.
    assert [r.type for r in preview.resources if r.type.startswith("aws:")] == ["aws:route53/record:Record"]
    assert not preview.find("pulumi:providers:aws")
    # The other AWS calls are the two secret lookups, the ECR login for the image push and the ALBs' hosted zone:
    # invokes, which create nothing.
    assert {i.token for i in preview.invokes if i.token.startswith("aws:")} == {
        GET_SECRET_VERSION,
        GET_ECR_TOKEN,
        "aws:lb/getHostedZoneId:getHostedZoneId",
    }


def test_a_preview_registers_exactly_the_inference_service_in_its_namespace(preview: Recording) -> None:
    assert Counter(m["kind"] for m in manifests(preview)) == KINDS
    assert not preview.find("kubernetes:helm.sh/v3:Release")
    (namespace,) = of_kind(manifests(preview), "Namespace")
    assert namespace["metadata"]["name"] == NAMESPACE
    for m in manifests(preview):
        if m["kind"] != "Namespace":
            assert m["metadata"]["namespace"] == NAMESPACE, f"{m['kind']} {m['metadata']['name']}"
    components = Counter(r.type for r in preview.resources if r.type.startswith("platform:"))
    assert components == Counter(
        {
            "platform:index:ExistingCluster": 1,
            "platform:index:Namespaces": 1,
            "platform:index:Images": 1,
            "platform:index:Inference": 1,
            "platform:index:Dns": 1,
        }
    )
    owned = {r.urn for c in preview.resources if not c.custom for r in preview.descendants(c)}
    # Everything but the read of the base stack belongs to a component.
    assert [r.type for r in preview.resources if r.custom and r.urn not in owned] == [STACK_REFERENCE]


def test_every_kubernetes_object_goes_through_the_provider_of_devs_kubeconfig(
    preview: Recording, recordings: dict[str, Recording]
) -> None:
    (provider,) = preview.find("pulumi:providers:kubernetes")
    assert provider.is_secret("kubeconfig")
    assert provider.inputs["kubeconfig"] == recordings["dev"].exports["kubeconfig"]
    for r in preview.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider_urn == provider.urn, r.name
            # ...and only once its namespace and NetworkPolicies exist.
            if r.type != "kubernetes:core/v1:Namespace":
                namespace = preview.one("kubernetes:core/v1:Namespace")
                assert preview.depends_on(r, namespace), r.name


# ------------------------------------------------------------------------------------------ the service


def _normalized_pods(rec: Recording, namespace: str) -> dict[str, object]:
    """The inference pod template without what must differ: the image and the generated object names."""
    template = json.loads(json.dumps(one(manifests(rec), "Deployment", "inference", namespace)["spec"]["template"]))
    (c,) = template["spec"]["containers"]
    c.pop("image")
    c["envFrom"] = [{"configMapRef": {}}]
    for volume in template["spec"]["volumes"]:
        if "secret" in volume:
            volume["secret"].pop("secretName")
    return template


def test_the_preview_runs_the_same_inference_pods_as_dev(preview: Recording, recordings: dict[str, Recording]) -> None:
    """One code path (infra/inference.py) for both: same security context, probes, resources, mounts, spread."""
    assert _normalized_pods(preview, NAMESPACE) == _normalized_pods(recordings["dev"], "inference")


def _settings(rec: Recording, namespace: str = NAMESPACE) -> dict[str, str]:
    (c,) = one(manifests(rec), "Deployment", "inference", namespace)["spec"]["template"]["spec"]["containers"]
    (source,) = c["envFrom"]
    data: dict[str, str] = one(manifests(rec), "ConfigMap", source["configMapRef"]["name"], namespace)["data"]
    return data


def test_the_cache_key_prefix_and_the_model_alias_reach_the_service(preview: Recording) -> None:
    settings = _settings(preview)
    assert settings["SERVING_CACHE_KEY_PREFIX"] == f"pr-{PREVIEW_PR}:"
    assert settings["SERVING_MODEL_ALIAS"] == "staging"
    assert settings["SERVING_REGISTRY_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"


def test_the_preview_runs_its_own_build_pushed_to_devs_inference_repository_under_a_pr_tag(
    preview: Recording, recordings: dict[str, Recording]
) -> None:
    repository = recordings["dev"].exports["ecrRepositoryUrls"]["inference"]
    (image,) = preview.find(DOCKER_IMAGE)
    (tag,) = image.inputs["tags"]
    assert tag.startswith(f"{repository}:{NAMESPACE}-")
    assert image.inputs["platforms"] == [recordings["dev"].exports["imagePlatform"]] == ["linux/amd64"]
    (c,) = one(manifests(preview), "Deployment", "inference", NAMESPACE)["spec"]["template"]["spec"]["containers"]
    assert c["image"] == f"{repository}@{image.outputs['digest']}"


def test_the_model_alias_is_overridable_per_preview(on_dev: dict[str, Recording]) -> None:
    rec = run_stack(
        "preview", {"platform:preview.prNumber": 7, "platform:preview.modelAlias": "candidate"}, references=on_dev
    )
    assert _settings(rec, "pr-7")["SERVING_MODEL_ALIAS"] == "candidate"


def test_credentials_come_from_devs_secrets_manager_copies_and_stay_secret(
    preview: Recording, recordings: dict[str, Recording]
) -> None:
    dev = recordings["dev"]
    lookups = sorted(str(i.args["secretId"]) for i in preview.invokes if i.token == GET_SECRET_VERSION)
    assert lookups == sorted([dev.exports["redisAuthSecretArn"], dev.exports["inferenceMlflowSecretArn"]])
    secret = preview.one("kubernetes:core/v1:Secret")
    # The looked-up values are plain in the provider's answer; the program keeps them secret.
    assert secret.is_secret("stringData")
    data = secret.inputs["stringData"]
    token = dev.one("random:index/randomPassword:RandomPassword", "mlp-dev-redis-auth").outputs["result"]
    redis = urlparse(data["redis-url"])
    assert redis.scheme == "rediss" and unquote(redis.password or "") == token
    assert redis.hostname == dev.exports["redisEndpoint"] and redis.port == dev.exports["redisPort"]
    password = dev.one("random:index/randomPassword:RandomPassword", "mlp-dev-mlflow-user-inference-password")
    assert data["mlflow-username"] == "inference" and data["mlflow-password"] == password.outputs["result"]


def test_the_preview_alb_is_the_previews_shared_alb_with_devs_settings_made_deletable(
    preview: Recording, recordings: dict[str, Recording]
) -> None:
    dev = recordings["dev"]
    ingress = one(manifests(preview), "Ingress", "inference", NAMESPACE)["metadata"]["annotations"]
    dev_ingress = one(manifests(dev), "Ingress", "inference", "inference")["metadata"]["annotations"]
    for same in ("scheme", "listen-ports", "target-type", "healthcheck-path", "ssl-policy", "inbound-cidrs"):
        key = f"alb.ingress.kubernetes.io/{same}"
        assert ingress.get(key) == dev_ingress.get(key), key
    assert ingress["alb.ingress.kubernetes.io/group.name"] == dev.exports["previewIngress"]["groupName"]
    attributes = dict(
        kv.split("=", 1) for kv in ingress["alb.ingress.kubernetes.io/load-balancer-attributes"].split(",")
    )
    assert attributes["deletion_protection.enabled"] == "false"
    assert attributes["access_logs.s3.bucket"] == dev.exports["accessLogBucket"]
    # One ALB for every preview: its attributes and tags are the same on each preview's Ingress.
    assert attributes["access_logs.s3.prefix"] == "alb/inference/previews"
    assert "PullRequest" not in ingress["alb.ingress.kubernetes.io/tags"]
    assert preview.exports["inferenceUrl"] == f"https://pr-{PREVIEW_PR}.{dev.exports['previewIngress']['domain']}"


def test_exports_say_what_the_pull_request_comment_needs_and_nothing_secret(preview: Recording) -> None:
    assert preview.secret_exports == set()
    assert preview.exports["namespace"] == NAMESPACE
    assert preview.exports["baseStack"] == "acme/platform/dev"
    assert preview.exports["cacheKeyPrefix"] == f"pr-{PREVIEW_PR}:"
    assert preview.exports["inferenceUrl"].startswith("https://")


# -------------------------------------------------------------------------------------------- networking


def test_the_preview_reaches_only_devs_mlflow_redis_subnets_and_is_reached_from_its_albs_subnets(
    preview: Recording, recordings: dict[str, Recording]
) -> None:
    dev = recordings["dev"]
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(manifests(preview), "NetworkPolicy")}
    assert set(policies) == {
        "default-deny",
        "allow-dns",
        "alb-to-inference-ingress",
        "inference-to-mlflow-egress",
        "inference-to-redis-egress",
    }
    (alb,) = policies["alb-to-inference-ingress"]["ingress"]
    # dev's internet-facing ALB (the previews' shares its scheme) connects from dev's public subnets only.
    assert (
        [p["ipBlock"]["cidr"] for p in alb["from"]]
        == dev.exports["albSourceCidrs"]
        == ["10.10.128.0/20", "10.10.144.0/20"]
    )
    (redis,) = policies["inference-to-redis-egress"]["egress"]
    assert [p["ipBlock"]["cidr"] for p in redis["to"]] == dev.exports["dataSubnetCidrs"]
    assert not set(dev.exports["dataSubnetCidrs"]) & set(dev.exports["privateSubnetCidrs"])
    assert redis["ports"] == [{"port": 6379, "protocol": "TCP"}]


def test_devs_mlflow_admits_the_previews_inference_pods_and_no_others(
    preview: Recording, recordings: dict[str, Recording]
) -> None:
    """The preview's egress to MLflow is only half a flow; dev's MLflow ingress is the other half."""
    (namespace,) = of_kind(manifests(preview), "Namespace")
    preview_pods = one(manifests(preview), "Deployment", "inference", NAMESPACE)["spec"]["template"]["metadata"]
    admitting = []
    for policy in of_kind(manifests(recordings["dev"]), "NetworkPolicy", "mlflow"):
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule["from"]:
                namespaces = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
                if selects(namespaces, namespace["metadata"]["labels"]) and selects(
                    (peer.get("podSelector") or {}).get("matchLabels") or {}, preview_pods["labels"]
                ):
                    admitting.append((policy["metadata"]["name"], rule["ports"]))
    assert admitting == [("previews-to-mlflow-ingress", [{"port": 5000, "protocol": "TCP"}])]
    # Only previews: staging and prod admit no namespace by label.
    for stack in ("staging", "prod"):
        for policy in of_kind(manifests(recordings[stack]), "NetworkPolicy", "mlflow"):
            for rule in policy["spec"].get("ingress") or []:
                for peer in rule["from"]:
                    labels = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
                    assert set(labels) <= {"kubernetes.io/metadata.name"}, policy["metadata"]["name"]


# ------------------------------------------------------------------------------------- config and errors


def test_the_stack_file_the_delivery_workflow_writes_runs_as_that_pull_requests_preview(
    on_dev: dict[str, Recording],
) -> None:
    """`.github/scripts/preview_stacks.py config` renders Pulumi.pr-<N>.yaml; the program runs it as pr-<N>."""
    rendered = _delivery_script().render_config(yaml.safe_load((ROOT / "Pulumi.preview.yaml").read_text()), 7, None)
    rec = run_stack("pr-7", rendered["config"], references=on_dev)
    assert {m["metadata"].get("namespace") or m["metadata"]["name"] for m in manifests(rec)} == {"pr-7"}
    (c,) = one(manifests(rec), "Deployment", "inference", "pr-7")["spec"]["template"]["spec"]["containers"]
    (image,) = rec.find(DOCKER_IMAGE)
    assert image.inputs["tags"][0].split(":")[-1].startswith("pr-7-")
    assert c["image"].endswith(f"/mlp-dev/inference@{image.outputs['digest']}")
    assert rec.exports["inferenceUrl"].startswith("https://")


@pytest.mark.parametrize(
    ("pr_number", "got"),
    [(0, "0"), (-3, "-3"), ("abc", "'abc'"), ("4.5", "'4.5'"), (1_000_000_000, "1000000000")],
)
def test_an_invalid_pull_request_number_fails_naming_the_key(
    pr_number: object, got: str, on_dev: dict[str, Recording]
) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack("preview", {"platform:preview.prNumber": pr_number}, references=on_dev)
    assert str(err.value) == (
        "platform:preview.prNumber must be a pull-request number between 1 and 999999999 when platform:mode is "
        f"preview (got {got})"
    )


def test_the_template_alone_is_no_preview_until_the_workflow_sets_the_pull_request(
    on_dev: dict[str, Recording],
) -> None:
    with pytest.raises(ConfigError, match=r"^platform:preview.prNumber must be a pull-request number .*\(got 0\)"):
        run_stack("preview", references=on_dev)


def test_a_pull_request_number_must_match_the_stacks_name(on_dev: dict[str, Recording]) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack("pr-7", {**TEMPLATE, "platform:preview.prNumber": 8}, references=on_dev)
    assert str(err.value) == "platform:preview.prNumber must be the number in the stack's name pr-7 (7) (got 8)"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"platform:preview.baseStack": ""},
            "platform:preview.baseStack must be set when platform:mode is preview: the stack whose cluster, Redis "
            "and MLflow the preview uses",
        ),
        ({"platform:preview.baseStack": "platform/dev"}, "platform:preview.baseStack must be a stack name, <stack>"),
        ({"platform:preview.modelAlias": "no alias"}, "platform:preview.modelAlias must be a model alias"),
        ({"platform:preview.hosting": "true"}, "platform:preview.hosting must be false when platform:mode is preview"),
        ({"platform:mode": "partial"}, "platform:mode must be one of 'full', 'preview' (got 'partial')"),
    ],
)
def test_invalid_preview_config_fails_naming_the_key(
    overrides: dict[str, object], message: str, on_dev: dict[str, Recording]
) -> None:
    with pytest.raises(ConfigError) as err:
        run_stack("preview", {"platform:preview.prNumber": 5, **overrides}, references=on_dev)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"platform:preview.baseStack": "dev"}, "platform:preview.baseStack must be empty unless platform:mode"),
        ({"platform:preview.prNumber": 3}, "platform:preview.prNumber must be 0 (unset) unless platform:mode"),
    ],
)
def test_a_full_stack_refuses_preview_keys(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        run_stack("dev", overrides)


def test_a_preview_of_a_stack_that_hosts_no_previews_fails_naming_the_missing_output() -> None:
    """prod keeps no Secrets Manager copies for previews. Run in its own interpreter: a program failing inside an
    apply leaves registrations queued in Pulumi's process-wide runtime, which would break later runs."""
    driver = (
        "import tests.infra.harness as h; "
        "h.run_stack('preview', {'platform:preview.prNumber': 5, 'platform:preview.baseStack': 'prod'})"
    )
    result = subprocess.run([sys.executable, "-c", driver], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert re.search(
        r"the base stack acme/platform/prod has no output (redisAuthSecretArn|inferenceMlflowSecretArn): previews run "
        r"on a full stack of this program with platform:preview.hosting true",
        result.stderr,
    ), result.stderr[-2000:]


def test_dev_stores_its_previews_secrets_encrypted_with_a_key_of_their_own(recordings: dict[str, Recording]) -> None:
    dev = recordings["dev"]
    key = dev.one("aws:kms/key:Key", "mlp-dev-shared-secrets-key")
    assert key.inputs["enableKeyRotation"] is True
    secrets = dev.find("aws:secretsmanager/secret:Secret")
    assert {s.inputs["namePrefix"] for s in secrets} == {
        "mlp-dev/redis-auth-token-",
        "mlp-dev/inference-mlflow-credentials-",
    }
    for secret in secrets:
        assert secret.inputs["kmsKeyId"] == key.outputs["arn"]
        (version,) = [
            v for v in dev.find("aws:secretsmanager/secretVersion:SecretVersion") if v.inputs["secretId"] == secret.id
        ]
        assert version.is_secret("secretString")
        # The export is the ARN, and only once the value is stored: a preview reading it earlier would find a
        # secret without a value (Secrets Manager GetSecretValue: ResourceNotFoundException "can't find the
        # specified secret value"). The export's Output waits for the SecretVersion.
        (export,) = [
            e for e in ("redisAuthSecretArn", "inferenceMlflowSecretArn") if dev.exports[e] == secret.outputs["arn"]
        ]
        assert version.urn in dev.export_dependencies[export], export
    credentials = [
        v for v in dev.find("aws:secretsmanager/secretVersion:SecretVersion") if "{" in v.inputs["secretString"]
    ]
    assert set(json.loads(credentials[0].inputs["secretString"])) == {"username", "password"}
    for stack in ("staging", "prod"):
        assert not recordings[stack].find("aws:secretsmanager/secret:Secret")
        assert "redisAuthSecretArn" not in recordings[stack].exports
