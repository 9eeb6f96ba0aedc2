"""Deploy rehearsal of the add-ons and what the AWS Load Balancer Controller builds.

Each test encodes a rule of the real system that the mocks cannot enforce, from the source named in its docstring:
the controller chart's webhooks, the controller's published IAM policy and subnet discovery, and Elastic Load
Balancing's access-log delivery.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from infra.addons import POLICY_DIR
from infra.config import ConfigError
from tests.infra.harness import ACCOUNT_ID, Recording, Resource, qualified, run_stack

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CONTROLLER = "aws-load-balancer-controller"
# Kinds whose creation makes pods (the pod mutator webhook acts on pod CREATE).
POD_MAKERS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
SUBNETS = "alb.ingress.kubernetes.io/subnets"
# kubernetes-sigs/aws-load-balancer-controller at v2.14.1 (chart 1.14.1's appVersion): `git ls-tree v2.14.1
# docs/install/` names the blob of iam_policy.json.
UPSTREAM_POLICY_TAG = "v2.14.1"
UPSTREAM_POLICY_BLOB = "761d0e733c41089c91ea009dd29faf71918085e5"
BYO_VPC = {
    "platform:network.vpcId": "vpc-0123456789abcdef0",
    "platform:network.publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
    "platform:network.privateSubnetIds": ["subnet-0b000001", "subnet-0b000002"],
    "platform:network.dataSubnetIds": ["subnet-0c000001", "subnet-0c000002"],
    "platform:network.internalAlbSubnetIds": ["subnet-0d000001", "subnet-0d000002"],
}
ELB_ACCOUNT_US_EAST_1 = "127311923021"


def releases(rec: Recording) -> dict[str, Resource]:
    return {r.inputs["name"]: r for r in rec.find(RELEASE)}


def actions(policy: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for statement in policy["Statement"]:
        found.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    return found


def alb_log_statement(rec: Recording) -> dict[str, Any]:
    (policy,) = [p for p in rec.find("aws:s3/bucketPolicy:BucketPolicy") if p.name.endswith("-access-logs-policy")]
    (statement,) = [s for s in json.loads(policy.inputs["policy"])["Statement"] if s.get("Sid") == "AlbAccessLogs"]
    return dict(statement)


def ingresses(rec: Recording) -> dict[str, dict[str, str]]:
    """Each Ingress's annotations, by namespace."""
    return {i.inputs["metadata"]["namespace"]: i.inputs["metadata"]["annotations"] for i in rec.find(INGRESS)}


# --------------------------------------------------------------------------------- the controller's webhooks


def test_no_service_is_created_while_the_controllers_service_webhook_could_refuse_it(recording: Recording) -> None:
    """Chart aws-load-balancer-controller 1.14.1 (kubernetes-sigs/aws-load-balancer-controller v2.14.1,
    helm/aws-load-balancer-controller/values.yaml `enableServiceMutatorWebhook: true`, templates/webhook.yaml
    `mservice.elbv2.k8s.aws`) registers a Service mutating webhook with `failurePolicy: Fail` and no namespace
    selector: until the controller's pods serve it, the API server refuses every Service CREATE. metrics-server
    (chart 3.13.0 templates/service.yaml) and cluster-autoscaler (chart 9.50.1 templates/service.yaml) each
    create a Service. So either the webhook is off, or every other release (and every Service) waits for the
    controller's release, which Helm only completes once its pods are Ready, i.e. its webhook server started
    (main.go v2.14.1: readyz check `ready-webhook`)."""
    found = releases(recording)
    controller = found[CONTROLLER]
    assert controller.inputs.get("skipAwait") is not True, "the ordering below needs the release to await readiness"
    webhook_on = controller.inputs["values"].get("enableServiceMutatorWebhook", True) is not False
    if not webhook_on:
        return
    creators = [r for name, r in found.items() if name != CONTROLLER]
    creators += recording.find("kubernetes:core/v1:Service")
    early = [r.name for r in creators if not recording.depends_on(r, controller)]
    assert early == [], f"created alongside the controller's Service webhook (failurePolicy Fail): {early}"


def test_pods_in_readiness_gate_namespaces_are_created_after_the_controller(recording: Recording) -> None:
    """The chart's pod mutator webhook (templates/webhook.yaml `mpod.elbv2.k8s.aws`, v2.14.1) injects the ALB
    target-health readiness gate into pods of namespaces labelled `elbv2.k8s.aws/pod-readiness-gate-inject:
    enabled`, with `podMutatorWebhookConfig.failurePolicy: Ignore` (values.yaml): a pod created before the
    controller serves it starts without the gate, silently, and a rollout then drops requests. Every pod-making
    resource in such a namespace waits for the controller's release. (Held since the workloads first ran on the
    cluster; kept as a guard.)"""
    controller = releases(recording)[CONTROLLER]
    gated = {
        ns.inputs["metadata"]["name"]
        for ns in recording.find(NAMESPACE)
        if (ns.inputs["metadata"].get("labels") or {}).get(READINESS_GATE_LABEL) == "enabled"
    }
    assert gated, "the workload namespaces carry the readiness-gate label (SECURITY-BASELINE: LB pod readiness gate)"
    makers = [
        r
        for r in recording.resources
        if r.type.startswith("kubernetes:")
        and r.type.rsplit(":", 1)[-1] in POD_MAKERS
        and (r.inputs.get("metadata") or {}).get("namespace") in gated
    ]
    assert makers
    early = [r.name for r in makers if not recording.depends_on(r, controller)]
    assert early == [], f"pods created before the controller can inject their readiness gate: {early}"


# ------------------------------------------------------------------------- the controller's IAM policy, subnets


def test_vendored_controller_policy_is_upstreams_file_byte_for_byte() -> None:
    """kubernetes-sigs/aws-load-balancer-controller v2.14.1 `docs/install/iam_policy.json` is git blob
    761d0e73...; the vendored copy must hash to the same blob (`git hash-object`), so any edit, or a copy from
    another tag, fails here. Upstream's file carries ec2:DescribeRouteTables, which the controller needs to
    classify the untagged subnets of a brought VPC as public or private (docs/deploy/subnet_discovery.md)."""
    from infra.addons import LOAD_BALANCER_CONTROLLER, LOAD_BALANCER_CONTROLLER_POLICY

    data = (POLICY_DIR / "aws-load-balancer-controller.json").read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert blob == UPSTREAM_POLICY_BLOB
    assert LOAD_BALANCER_CONTROLLER_POLICY.blob == UPSTREAM_POLICY_BLOB
    assert LOAD_BALANCER_CONTROLLER_POLICY.tag == UPSTREAM_POLICY_TAG
    assert LOAD_BALANCER_CONTROLLER_POLICY.path == "docs/install/iam_policy.json"
    # Chart 1.14.1's Chart.yaml: appVersion v2.14.1. A chart bump without a new policy fails here.
    assert LOAD_BALANCER_CONTROLLER.version == "1.14.1"
    assert "ec2:DescribeRouteTables" in actions(json.loads(data))


def test_other_partitions_get_upstreams_policy_with_their_partition_only() -> None:
    """Upstream's iam_policy_us-gov.json and iam_policy_cn.json (v2.14.1) are iam_policy.json with `arn:aws:`
    replaced by `arn:aws-us-gov:` / `arn:aws-cn:` (and statements reordered): the same permissions."""
    from infra.addons import load_balancer_controller_policy

    vendored = (POLICY_DIR / "aws-load-balancer-controller.json").read_text()
    for partition in ("aws-us-gov", "aws-cn"):
        policy = load_balancer_controller_policy(partition)
        assert '"arn:aws:' not in policy
        assert json.loads(policy) == json.loads(vendored.replace('"arn:aws:', f'"arn:{partition}:'))


@pytest.fixture(scope="module")
def brought_vpc() -> Recording:
    """prod in a brought VPC, with the internal MLflow ALB on too."""
    return run_stack(
        "prod",
        {**BYO_VPC, "platform:mlflow.ingressEnabled": True, "platform:mlflow.ingressHost": "mlflow.internal.example"},
    )


def test_a_brought_vpcs_subnets_reach_the_albs(brought_vpc: Recording) -> None:
    """The controller places an ALB in the subnets of `alb.ingress.kubernetes.io/subnets`, else in subnets it
    discovers by the kubernetes.io/role/elb (internal-elb) tag, else, untagged, in every subnet its route tables
    class as public (private) (v2.14.1 docs/guide/ingress/annotations.md "subnets", docs/deploy/subnet_discovery.md).
    A brought VPC's subnets carry no tag of ours: the ALB must be told network.publicSubnetIds (internet-facing)
    or network.internalAlbSubnetIds (internal), or it lands wherever the VPC's route tables say."""
    annotations = ingresses(brought_vpc)
    assert annotations["inference"]["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["inference"][SUBNETS] == ",".join(BYO_VPC["platform:network.publicSubnetIds"])
    assert annotations["mlflow"]["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["mlflow"][SUBNETS] == ",".join(BYO_VPC["platform:network.internalAlbSubnetIds"])


def test_an_internal_inference_alb_in_a_brought_vpc_uses_its_internal_alb_subnets() -> None:
    """Same rule (annotations.md "subnets", v2.14.1) for `ingress.scheme: internal`: the subnets of its own, never
    the pods' (network.privateSubnetIds)."""
    rec = run_stack("prod", {**BYO_VPC, "platform:ingress.scheme": "internal"})
    assert ingresses(rec)["inference"][SUBNETS] == ",".join(BYO_VPC["platform:network.internalAlbSubnetIds"])


def test_an_internal_alb_in_a_brought_vpc_needs_two_subnets_of_its_own() -> None:
    """An internal ALB needs subnets in two AZs too (annotations.md "subnets", v2.14.1); a brought VPC without
    network.internalAlbSubnetIds fails its config check, naming the key, rather than sharing the pods' subnets."""
    overrides = {k: v for k, v in BYO_VPC.items() if k != "platform:network.internalAlbSubnetIds"}
    with pytest.raises(ConfigError, match=r"platform:network\.internalAlbSubnetIds must be at least 2 subnet ids"):
        run_stack("prod", {**overrides, "platform:ingress.scheme": "internal"})


def test_an_internet_facing_alb_in_a_brought_vpc_needs_two_public_subnets() -> None:
    """An ALB needs subnets in at least two Availability Zones (annotations.md "subnets", v2.14.1; ELB
    CreateLoadBalancer): a brought VPC with fewer public subnets named fails its config check, naming the key."""
    overrides = {k: v for k, v in BYO_VPC.items() if k != "platform:network.publicSubnetIds"}
    with pytest.raises(ConfigError, match=r"platform:network\.publicSubnetIds must be at least 2 subnet ids"):
        run_stack("prod", overrides)


def test_a_vpc_built_here_leaves_subnet_choice_to_its_role_tags(recording: Recording) -> None:
    """The VPC built here tags its public subnets kubernetes.io/role/elb and its internal-ALB subnets
    kubernetes.io/role/internal-elb, one of each per zone, and no other subnet carries a role tag: with role-tagged
    subnets present the controller takes only those as candidates, one per AZ (v2.14.1 docs/deploy/
    subnet_discovery.md; pkg/networking/subnet_resolver.go ResolveViaDiscovery), so no internal ALB lands in the
    pods' private subnets or the data subnets. No Ingress pins subnets."""
    subnets = [s.inputs for s in recording.find("aws:ec2/subnet:Subnet")]
    public = [s for s in subnets if s["tags"].get("kubernetes.io/role/elb") == "1"]
    internal = [s for s in subnets if s["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    zones = len({s["availabilityZoneId"] for s in subnets})
    assert len(public) == len(internal) == zones >= 2
    assert all("internal-alb-" in str(s["tags"]["Name"]) for s in internal)
    assert not [s for s in public if s in internal]
    assert all(SUBNETS not in a for a in ingresses(recording).values())


def test_a_preview_on_a_brought_vpc_places_its_alb_like_its_base(brought_vpc_dev: Recording) -> None:
    """A preview builds its ALB from the base stack's `inferenceAlb` output: it gets the same subnets."""
    preview = run_stack("preview", {"platform:preview.prNumber": 7}, references={qualified("dev"): brought_vpc_dev})
    (annotations,) = ingresses(preview).values()
    assert annotations[SUBNETS] == ",".join(BYO_VPC["platform:network.publicSubnetIds"])


@pytest.fixture(scope="module")
def brought_vpc_dev() -> Recording:
    return run_stack("dev", BYO_VPC)


# --------------------------------------------------------------------------------- who delivers ALB access logs


def test_alb_logs_in_us_east_1_are_written_by_the_regions_elb_account(recording: Recording) -> None:
    """ELB User Guide, "Enable access logs for your Application Load Balancer", step 2: in Regions available
    before August 2022 (us-east-1 among them) the bucket policy grants s3:PutObject to the Region's Elastic Load
    Balancing account (us-east-1: 127311923021, as aws.elb.get_service_account answers), on
    `<prefix>/AWSLogs/<your account>/*`; the log-delivery service principal is the form for later Regions only.
    Every stack file is in us-east-1."""
    assert recording.config["aws:region"] == "us-east-1"
    statement = alb_log_statement(recording)
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ELB_ACCOUNT_US_EAST_1}:root"}
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"].endswith(f"/alb/*/AWSLogs/{ACCOUNT_ID}/*")
    calls = [i for i in recording.invokes if i.token == "aws:elb/getServiceAccount:getServiceAccount"]
    assert [c.args.get("region") for c in calls] == ["us-east-1"]


def test_alb_logs_in_a_region_opened_after_august_2022_use_the_log_delivery_principal() -> None:
    """Same guide: Regions available as of August 2022 or later (eu-central-2, Zurich, opened November 2022)
    grant `logdelivery.elasticloadbalancing.amazonaws.com`, limited by aws:SourceAccount. The provider's
    get_service_account has no account for them and fails (terraform-provider-aws
    internal/service/elb/service_account_data_source.go: "unsupported AWS Region"), so it is not called."""
    rec = run_stack("dev", {"aws:region": "eu-central-2"})
    statement = alb_log_statement(rec)
    assert statement["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert statement["Resource"].endswith("/alb/*")
    assert not [i for i in rec.invokes if i.token == "aws:elb/getServiceAccount:getServiceAccount"]


def test_the_older_regions_are_exactly_those_the_provider_has_an_elb_account_for() -> None:
    """terraform-provider-aws internal/service/elb/service_account_data_source.go `accountIDPerRegionMap` (what
    pulumi-aws's aws.elb.get_service_account answers from; the harness mirrors it): the program asks it for
    exactly those Regions, and takes the service principal everywhere else."""
    from infra.storage import ELB_ACCOUNT_REGIONS
    from tests.infra.harness import ELB_SERVICE_ACCOUNTS

    assert set(ELB_ACCOUNT_REGIONS) == set(ELB_SERVICE_ACCOUNTS)
    assert "us-east-1" in ELB_ACCOUNT_REGIONS and "ap-southeast-3" in ELB_ACCOUNT_REGIONS
    assert not {"me-central-1", "eu-central-2", "eu-south-2", "ap-south-2", "ap-southeast-4"} & ELB_ACCOUNT_REGIONS
