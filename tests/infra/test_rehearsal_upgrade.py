"""Deploy rehearsal of a Kubernetes minor upgrade: a stack walked from one offered version to
the next, as two runs of the program against the account the first run left behind.

Under mocks there is no engine to apply changes, so the order of an `up` is read from what Pulumi orders it by: a
resource is created, updated or replaced only after every resource it depends on (Pulumi docs, "Resource options:
dependsOn"; Outputs passed as inputs imply the same dependency).
"""

from __future__ import annotations

import pytest

from infra.config import ConfigError
from infra.versions import KUBERNETES_VERSIONS, RETIRED, release
from tests.infra.harness import GET_CLUSTER, GET_CLUSTERS, Recording, Resource, deployed_clusters, run_stack

EKS = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
# Oldest first: each upgrade step is a pair of neighbours in the table.
OFFERED = tuple(reversed(KUBERNETES_VERSIONS))


@pytest.fixture(scope="module")
def walk() -> tuple[Recording, Recording]:
    """prod created at the oldest offered version, then `up` with cluster.version one minor newer."""
    old, new = OFFERED[0], OFFERED[1]
    first = run_stack("prod", {"platform:cluster.version": old})
    second = run_stack("prod", {"platform:cluster.version": new}, clusters=deployed_clusters(first))
    return first, second


def addons(rec: Recording) -> dict[str, Resource]:
    return {str(r.inputs["addonName"]): r for r in rec.find(ADDON)}


def autoscaler(rec: Recording) -> Resource:
    (found,) = [r for r in rec.find(RELEASE) if r.inputs["name"] == "cluster-autoscaler"]
    return found


def test_the_table_offers_at_least_one_upgrade_step() -> None:
    """A walk needs two neighbouring minors in the table (infra/versions.py)."""
    assert len(OFFERED) >= 2
    major, minor = OFFERED[0].split(".")
    assert OFFERED[1] == f"{major}.{int(minor) + 1}"


def test_an_upgrade_moves_every_pinned_piece_to_the_new_version(walk: tuple[Recording, Recording]) -> None:
    """EKS user guide, "Update existing cluster to new Kubernetes version": control plane, then nodes to the same
    minor, then the add-ons at the builds EKS lists for the new version; the autoscaler image minor must equal the
    cluster's (kubernetes/autoscaler cluster-autoscaler/README.md, "Releases")."""
    first, second = walk
    old, new = OFFERED[0], OFFERED[1]
    assert first.one(EKS).inputs["version"] == old
    assert second.one(EKS).inputs["version"] == new
    for rec, version in ((first, old), (second, new)):
        pins = release(version).addons
        assert {name: r.inputs["addonVersion"] for name, r in addons(rec).items()} == pins
        assert {r.inputs["version"] for r in rec.find(NODE_GROUP)} == {version}
        assert autoscaler(rec).inputs["values"]["image"]["tag"] == release(version).autoscaler_image_tag


def test_an_upgrade_runs_control_plane_then_addons_then_node_groups_then_autoscaler(
    walk: tuple[Recording, Recording],
) -> None:
    """The order EKS requires of an in-place upgrade (EKS user guide, "Update existing cluster to new Kubernetes
    version"; "Update a managed node group": a node group's version must not be newer than the control plane's).
    vpc-cni and kube-proxy go before the nodes roll (kube-proxy may be older than the API server, never newer:
    Kubernetes "Version Skew Policy"), CoreDNS after, as on a first deploy it needs nodes to schedule on; the
    autoscaler release at the new image goes last, once the nodes it simulates run the new minor."""
    _, rec = walk
    eks = rec.one(EKS)
    by_name = addons(rec)
    for addon in by_name.values():
        assert rec.depends_on(addon, eks)
    groups = rec.find(NODE_GROUP)
    assert groups
    for group in groups:
        assert rec.depends_on(group, eks)
        for name in ("vpc-cni", "kube-proxy"):
            assert rec.depends_on(group, by_name[name]), (group.name, name)
        assert rec.depends_on(by_name["coredns"], group)
    release_ = autoscaler(rec)
    for earlier in (*groups, *by_name.values()):
        assert rec.depends_on(release_, earlier), earlier.name


def test_the_running_version_is_read_from_eks_without_failing_a_first_deploy(
    walk: tuple[Recording, Recording],
) -> None:
    """DescribeCluster of a cluster that does not exist fails (EKS API reference, DescribeCluster:
    ResourceNotFoundException), which would fail a first deploy: the program lists the clusters first and describes
    its own only once it exists."""
    first, second = walk
    assert [i.token for i in first.invokes if i.token in (GET_CLUSTERS, GET_CLUSTER)] == [GET_CLUSTERS]
    described = [i.args["name"] for i in second.invokes if i.token == GET_CLUSTER]
    assert described == [second.one(EKS).inputs["name"]]


def test_re_running_at_the_running_version_is_accepted(walk: tuple[Recording, Recording]) -> None:
    """A no-op `up` at the version EKS already runs is not an upgrade and must pass the step check."""
    _, second = walk
    again = run_stack("prod", {"platform:cluster.version": OFFERED[1]}, clusters=deployed_clusters(second))
    assert again.one(EKS).inputs["version"] == OFFERED[1]


def test_skipping_a_minor_is_refused_naming_the_key(walk: tuple[Recording, Recording]) -> None:
    """EKS user guide, "Update existing cluster to new Kubernetes version": "you can only update one minor version at
    a time"; UpdateClusterVersion refuses a skip, half-way through an `up`. The program refuses it up front."""
    newest = KUBERNETES_VERSIONS[0]
    major, minor = (int(part) for part in newest.split("."))
    two_back = f"{major}.{minor - 2}"
    assert two_back in RETIRED or two_back in KUBERNETES_VERSIONS
    with pytest.raises(ConfigError, match=r"platform:cluster\.version is .* but the cluster runs") as refused:
        run_stack("prod", {"platform:cluster.version": newest}, clusters={walk[0].one(EKS).inputs["name"]: two_back})
    assert f"set platform:cluster.version to {major}.{minor - 1}" in str(refused.value)


def test_a_downgrade_is_refused_naming_the_key(walk: tuple[Recording, Recording]) -> None:
    """EKS never downgrades a control plane (UpdateClusterVersion accepts only the next minor)."""
    with pytest.raises(ConfigError, match=r"platform:cluster\.version"):
        run_stack("prod", {"platform:cluster.version": OFFERED[0]}, clusters=deployed_clusters(walk[1]))
