"""Deploy rehearsal of the cluster layer: what AWS, EKS and GitHub Actions would do with the first `pulumi up` of a
new account, encoded as their documented rules.

Nothing here can run against the real systems offline; each test names the rule it encodes and where it is
written, and fails on the program as it was before the rule was followed.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import KUBERNETES_VERSIONS, ConfigError
from tests.infra.harness import DEPLOY_ROLE_ARN, ROOT, Recording, Zone, run_stack, stack_config

EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
PROVIDER = "pulumi:providers:kubernetes"
WORKFLOWS = ROOT / ".github" / "workflows"


# --- where `pulumi up` runs -----------------------------------------------------------------------------------------


def _workflow(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return {str(k): v for k, v in data.items()}


def _stacks_a_job_reaches(job: dict[str, Any], called_with: list[str] | None = None) -> list[str]:
    """The stacks whose program (and so whose Kubernetes API) a job runs: `pulumi/actions` steps by stack name, and
    the preview-stack script (pr-<N> stacks, on their base stack's cluster). `called_with`: the stacks the callers
    of a reusable workflow pass as its `stack` input."""
    stacks: list[str] = []
    matrix = [m["stack"] for m in (job.get("strategy", {}).get("matrix", {}).get("include") or []) if "stack" in m]
    for step in job.get("steps", []):
        uses = str(step.get("uses", "")).split("@")[0]
        if uses == "pulumi/actions" and step.get("with", {}).get("command"):
            name = str(step["with"]["stack-name"])
            if name == "${{ matrix.stack }}":
                stacks += matrix
            elif name == "${{ inputs.stack }}":
                stacks += called_with or []
            elif name == "${{ env.STACK }}":
                assert str(job["env"]["STACK"]).startswith("pr-")
                stacks.append("preview")
            else:
                stacks.append(name)
        run = str(step.get("run", ""))
        # destroy and sweep run `pulumi destroy` of pr-<N> stacks; `config` only writes a stack file.
        if "preview_stacks.py" in run and run.split("preview_stacks.py", 1)[1].split()[:1] != ["config"]:
            stacks.append("preview")
    return stacks


def _cluster_stack(stack: str) -> str:
    """The stack whose EKS cluster a stack's program talks to: a preview's is its base stack's."""
    config = stack_config(stack)
    if config.get("platform:mode") == "preview":
        return config["platform:preview.baseStack"]
    return stack


def _runner_labels(
    job: dict[str, Any], stack: str, matrix_stack: str | None, input_stack: str | None = None
) -> list[str]:
    runs_on = job["runs-on"]
    labels = [runs_on] if isinstance(runs_on, str) else list(runs_on)
    prefix = stack_config(stack)["platform:namePrefix"]
    return [
        str(label)
        .replace("${{ vars.NAME_PREFIX || 'mlp' }}", prefix)
        .replace("${{ matrix.stack }}", matrix_stack or "${{ matrix.stack }}")
        .replace("${{ inputs.stack }}", input_stack or "${{ inputs.stack }}")
        for label in labels
    ]


def test_a_private_api_endpoint_is_reached_only_by_jobs_running_inside_its_vpc(
    recordings: dict[str, Recording],
) -> None:
    """EKS: with public access off, "the cluster's API server endpoint is only accessible from within the VPC or a
    connected network" (EKS user guide, "Cluster API server endpoint", cluster-endpoint.html). GitHub-hosted runners
    run on GitHub's machines, outside any VPC of yours ("About GitHub-hosted runners"; a job reaches a private
    network only from a self-hosted runner, "About self-hosted runners"). So every job running the program of a
    stack whose endpoint is private must run on a self-hosted runner in that stack's VPC, labelled
    <namePrefix>-<stack> (docs/first-deploy.md, "Where pulumi up runs"); before, every job ran on ubuntu-latest
    and every Kubernetes resource and Helm release timed out."""
    checked = 0
    # The stacks each reusable workflow is called with (deploy.yml calls deploy-stack.yml once per stack).
    called_with: dict[str, list[str]] = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in _workflow(path)["jobs"].values():
            if "uses" in job and "stack" in (job.get("with") or {}):
                called_with.setdefault(Path(str(job["uses"])).name, []).append(str(job["with"]["stack"]))
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in _workflow(path)["jobs"].items():
            if "runs-on" not in job:
                continue  # a call to another workflow: checked as that workflow
            matrix = [m.get("stack") for m in (job.get("strategy", {}).get("matrix", {}).get("include") or [])]
            inputs = called_with.get(path.name)
            for index, stack in enumerate(_stacks_a_job_reaches(job, inputs)):
                target = _cluster_stack(stack)
                eks = recordings[target].one(EKS).inputs["vpcConfig"]
                if eks["endpointPublicAccess"]:
                    continue  # cluster.deployFrom cidrs: reachable from its CIDRs, which the docs tie to the runner
                labels = _runner_labels(
                    job,
                    target,
                    matrix[index] if index < len(matrix) else None,
                    stack if inputs else None,
                )
                where = f"{path.name}:{job_id} runs the program of {stack} on {labels}"
                assert "self-hosted" in labels, f"{where}, but {target}'s API endpoint is private"
                assert f"{stack_config(target)['platform:namePrefix']}-{target}" in labels, f"{where}: not in its VPC"
                checked += 1
    # deploy: dev, staging, prod; preview: staging and prod previews, the pr stack; cleanup: destroy, janitor.
    assert checked == 8


def test_a_deploy_runner_in_the_vpc_can_reach_the_private_endpoint(recording: Recording) -> None:
    """Inside the VPC is not enough: the private endpoint's ENIs carry the cluster security group, which EKS creates
    admitting only itself, so a host in the VPC needs a rule allowing 443 from it (EKS user guide, "Cluster API
    server endpoint", accessing a private-only API server). The stack exports a security group for its deploy
    runners, the cluster security group admits it on 443, and the Kubernetes provider waits for that rule."""
    runner_sg = recording.one("aws:ec2/securityGroup:SecurityGroup", f"mlp-{recording.stack}-deploy-runner")
    assert recording.exports["deployRunnerSecurityGroupId"] == runner_sg.id
    cluster_sg = recording.one(EKS).outputs["vpcConfig"]["clusterSecurityGroupId"]
    (rule,) = [
        r
        for r in recording.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == cluster_sg
    ]
    assert (rule.inputs["referencedSecurityGroupId"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
        runner_sg.id,
        443,
        443,
    )
    assert recording.depends_on(recording.one(PROVIDER), rule)


def test_deploy_from_cidrs_needs_the_cidrs_it_deploys_from() -> None:
    """With cluster.deployFrom cidrs the Kubernetes provider reaches the API through the public endpoint, which
    admits only `publicAccessCidrs` (EKS API reference, VpcConfigRequest.publicAccessCidrs); with none configured
    EKS would default it to 0.0.0.0/0 (same reference), which the baseline forbids (CKV_AWS_39, EKS.1). A stack
    deployed from a workstation must say from where, or fail its config check naming the key."""
    with pytest.raises(ConfigError, match=r"platform:cluster\.publicAccessCidrs must be the CIDRs `pulumi up` runs"):
        run_stack("dev", {"platform:cluster.deployFrom": "cidrs"})
    opened = run_stack(
        "dev", {"platform:cluster.deployFrom": "cidrs", "platform:cluster.publicAccessCidrs": ["198.51.100.7/32"]}
    ).one(EKS)
    assert opened.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert opened.inputs["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.7/32"]


# --- EKS access -----------------------------------------------------------------------------------------------------


def test_the_deployer_has_an_explicit_entry_and_creator_bootstrap_is_off(recording: Recording) -> None:
    """EKS creates an implicit access entry for the cluster creator when bootstrapClusterCreatorAdminPermissions is
    true; CreateAccessEntry for that same principal then fails with ResourceInUseException ("The specified access
    entry resource is already in use on this cluster": terraform-aws-modules/terraform-aws-eks issues 2969, 3293).
    So the creator bootstrap is off and the deployer's cluster-admin is an access entry the program owns."""
    eks = recording.one(EKS)
    assert eks.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    entries = recording.find(ACCESS_ENTRY)
    assert [e.inputs["principalArn"] for e in entries] == [DEPLOY_ROLE_ARN]
    (association,) = recording.find(ASSOCIATION)
    assert association.inputs["principalArn"] == DEPLOY_ROLE_ARN
    assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


@pytest.mark.parametrize(
    "overrides",
    [
        # The role running `pulumi up`, listed as docs/forking.md used to advise.
        {"platform:cluster.adminRoleArns": [DEPLOY_ROLE_ARN]},
        {
            "platform:cluster.deployerRoleArn": DEPLOY_ROLE_ARN,
            "platform:cluster.adminRoleArns": [DEPLOY_ROLE_ARN],
        },
    ],
)
def test_listing_the_deployer_as_an_admin_fails_the_config_check(overrides: dict[str, object]) -> None:
    """EKS allows one access entry per principal (CreateAccessEntry: ResourceInUseException; terraform-aws-eks
    issues 2969, 3293): a second entry for the deployer would fail `up` after the cluster's 12 minutes. It fails the
    config check instead, naming the key to fix."""
    with pytest.raises(ConfigError, match=r"platform:cluster\.adminRoleArns must"):
        run_stack("dev", overrides)


def test_the_kubernetes_provider_waits_for_every_access_entry_and_association() -> None:
    """An access entry grants nothing until its access policy is associated (EKS user guide, "Grant IAM users
    access to Kubernetes with EKS access entries": permissions come from the associated policies), so a Kubernetes
    request made before AssociateAccessPolicy completes is refused (Unauthorized). Every resource created through
    the provider waits for the provider, so the provider waits for all entries and associations."""
    rec = run_stack("dev", {"platform:cluster.adminRoleArns": ["arn:aws:iam::123456789012:role/platform-admins"]})
    provider = rec.one(PROVIDER)
    access = rec.find(ACCESS_ENTRY) + rec.find(ASSOCIATION)
    assert len(access) == 4
    for resource in access:
        assert rec.depends_on(provider, resource), resource.name


def test_a_pinned_deployer_role_is_used_and_a_different_session_is_warned_about() -> None:
    """The Kubernetes provider authenticates as whoever runs the program (`aws eks get-token`); a pinned
    cluster.deployerRoleArn that is not that role leaves the run without access, so the program says so."""
    pinned = "arn:aws:iam::123456789012:role/ops/platform-deploy"
    rec = run_stack("dev", {"platform:cluster.deployerRoleArn": pinned})
    assert [e.inputs["principalArn"] for e in rec.find(ACCESS_ENTRY)] == [pinned]
    assert any("platform:cluster.deployerRoleArn is" in w and DEPLOY_ROLE_ARN in w for w in rec.warnings)


# --- Kubernetes versions --------------------------------------------------------------------------------------------

# EKS release calendar (EKS user guide, "Understand the Kubernetes version lifecycle on EKS",
# kubernetes-versions.html#kubernetes-release-calendar): end of standard support.
END_OF_STANDARD_SUPPORT = {"1.32": "2026-03-23", "1.33": "2026-07-29", "1.34": "2026-12-02"}
# The day this rehearsal describes: the first deploy of a new account.
AS_OF = datetime.date(2026, 12, 6)


def test_every_offered_kubernetes_version_is_in_eks_standard_support(recordings: dict[str, Recording]) -> None:
    """Past the end of standard support a cluster is in extended support, billed per cluster hour (EKS user guide,
    "Amazon EKS extended support"), and a new cluster on it starts there. 1.33, the only version offered before,
    left standard support on 2026-07-29."""
    ended = {v for v, day in END_OF_STANDARD_SUPPORT.items() if datetime.date.fromisoformat(day) <= AS_OF}
    assert not ended & set(KUBERNETES_VERSIONS)
    for stack, rec in recordings.items():
        assert rec.one(EKS).inputs["version"] not in ended, stack
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["cluster.version"]["default"]
    assert declared == KUBERNETES_VERSIONS[0], "the default is the newest version offered"


def test_the_upgrade_policy_is_standard(recording: Recording) -> None:
    """Without an upgrade policy EKS sets EXTENDED on every cluster ("Cluster upgrade policy", view-upgrade-policy
    .html: "By default, for all new and existing clusters, the upgrade policy is set to EXTENDED"), so a version
    past standard support silently starts extended-support billing. STANDARD upgrades instead."""
    assert recording.one(EKS).inputs["upgradePolicy"] == {"supportType": "STANDARD"}


# --- availability zones by zone ID ----------------------------------------------------------------------------------

# EKS user guide, "Amazon EKS VPC and subnet requirements and considerations", subnet requirements for clusters:
# "The subnets can't reside in the following Availability Zones".
EKS_DISALLOWED_ZONE_IDS = {"use1-az3", "usw1-az2", "cac1-az3"}
# An account whose us-east-1a is use1-az3 (names map to zone IDs per account: "AZ IDs for your AWS resources",
# AWS RAM user guide), opted in to a Local Zone whose name sorts before every AZ's.
ACCOUNT_ZONES = (
    Zone("us-east-1-atl-1a", "use1-atl1-az1", opt_in_status="opted-in"),
    Zone("us-east-1a", "use1-az3"),
    Zone("us-east-1b", "use1-az6"),
    Zone("us-east-1c", "use1-az1"),
    Zone("us-east-1d", "use1-az2"),
    Zone("us-east-1e", "use1-az4"),
    Zone("us-east-1f", "use1-az5", state="impaired"),
)


def _subnet_zone_ids(rec: Recording) -> list[str]:
    by_name = {z.name: z.zone_id for z in ACCOUNT_ZONES}
    return [
        s.inputs.get("availabilityZoneId") or by_name[s.inputs["availabilityZone"]]
        for s in rec.find(SUBNET)
        if re.search(r"-private-\d+$", s.name)
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_zones_are_chosen_by_id_and_never_one_eks_refuses(stack: str) -> None:
    """CreateCluster with a subnet in a disallowed zone fails with UnsupportedAvailabilityZoneException (EKS API
    reference); a Local Zone cannot hold the control plane either (subnet requirements: not in Outposts or
    Wavelength; Local Zones only for nodes). Taking the first zone *names* picks exactly those in this account:
    zones are chosen by ID, available and needing no opt-in, in ID order."""
    rec = run_stack(stack, zones=ACCOUNT_ZONES)
    zone_ids = _subnet_zone_ids(rec)
    assert not set(zone_ids) & EKS_DISALLOWED_ZONE_IDS
    expected = {"dev": ["use1-az1", "use1-az2"], "prod": ["use1-az1", "use1-az2", "use1-az4"]}[stack]
    assert zone_ids == expected


def test_extra_zone_ids_can_be_excluded_by_config() -> None:
    """An account may lack capacity for the instance types in one zone (EC2 InsufficientInstanceCapacity): the
    stack leaves it out by ID, the only name that means the same zone in every account."""
    rec = run_stack("dev", {"platform:network.excludeZoneIds": ["use1-az1"]}, zones=ACCOUNT_ZONES)
    assert _subnet_zone_ids(rec) == ["use1-az2", "use1-az4"]


# --- one node group per AZ ------------------------------------------------------------------------------------------


def test_one_node_group_per_zone_balanced_by_the_autoscaler(recording: Recording) -> None:
    """cluster-autoscaler cannot scale a multi-AZ ASG up in the zone a pending pod needs; with pods spread by zone
    (DoNotSchedule) it must have an ASG per AZ with --balance-similar-node-groups (kubernetes/autoscaler
    cluster-autoscaler/cloudprovider/aws/README.md, "Common Notes and Gotchas"; FAQ "I'm running cluster with nodes
    in multiple zones for HA purposes"), and it balances only groups with the same instance types and labels."""
    private = [s.id for s in recording.find(SUBNET) if re.search(r"-private-\d+$", s.name)]
    groups = recording.find(NODE_GROUP)
    assert [g.inputs["subnetIds"] for g in groups] == [[subnet] for subnet in private]
    assert len({(tuple(g.inputs["instanceTypes"]), tuple(sorted(g.inputs["labels"].items()))) for g in groups}) == 1
    (autoscaler,) = [
        r for r in recording.find("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "cluster-autoscaler"
    ]
    assert autoscaler.inputs["values"]["extraArgs"]["balance-similar-node-groups"] is True


# Values that only ever stand in for real ones: AWS's documentation account and the RFC 5737 documentation ranges.
PLACEHOLDER_ACCOUNT = "123456789012"
DOCUMENTATION_RANGES = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


def test_every_stack_file_keeps_to_one_endpoint_model_without_placeholders() -> None:
    """Every full stack file says where it is deployed from, as a value the program validates; what it cannot know
    (a deployer's ARN, the CIDRs it is deployed from) it leaves to derivation or to the fork, never to a placeholder
    that would fail `up` (an access entry for a role of AWS's documentation account; an endpoint open to a
    documentation range, RFC 5737, that no runner ever leaves from)."""
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        if config.get("platform:mode") == "preview":
            continue
        assert config.get("platform:cluster.deployFrom") in ("vpc", "cidrs"), path.name
        assert f":{PLACEHOLDER_ACCOUNT}:" not in str(config.get("platform:cluster.deployerRoleArn", "")), path.name
        for cidr in config.get("platform:cluster.publicAccessCidrs") or []:
            network = ipaddress.ip_network(cidr)
            assert not any(network.subnet_of(doc) for doc in DOCUMENTATION_RANGES), f"{path.name}: {cidr}"
