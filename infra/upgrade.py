"""Kubernetes minor upgrades of a cluster the stack created: which version EKS runs, and whether the configured one
is a step EKS can take from there (the runbook: docs/operations.md, "Upgrading Kubernetes")."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config.keys import ConfigError
from infra.versions import KUBERNETES_VERSIONS


def running_version(cluster_name: str, invoke: pulumi.InvokeOptions) -> str | None:
    """The Kubernetes version EKS runs `cluster_name` at, or None before the first deploy.

    Read from EKS itself, the one authority on what runs: ListClusters first, because DescribeCluster of a missing
    cluster fails the invoke (ResourceNotFoundException) and with it a first deploy. Pulumi offers a program no view
    of its own previous state, and a StackReference to the stack itself reads the outputs of the last *completed*
    update, which a failed upgrade leaves behind the cluster's real version.
    """
    if cluster_name not in aws.eks.get_clusters(opts=invoke).names:
        return None
    return aws.eks.get_cluster(name=cluster_name, opts=invoke).version


def check_upgrade_step(running: str | None, wanted: str, key: str = "platform:cluster.version") -> None:
    """Refuse a version EKS cannot move `running` to in one `pulumi up`.

    UpdateClusterVersion moves the control plane one minor at a time and never back (EKS user guide, "Update
    existing cluster to new Kubernetes version": "you can only update one minor version at a time"; EKS API
    reference, UpdateClusterVersion), and the node groups and add-ons follow in the same run. Checked before the
    cluster's resources are registered, so a skip fails `pulumi preview` instead of half an `up`.
    """
    if running is None or running == wanted:
        return
    major, minor = (int(part) for part in running.split("."))
    step = f"{major}.{minor + 1}"
    if wanted == step:
        return
    offered = "" if step in KUBERNETES_VERSIONS else f" ({step} is no longer offered: see docs/operations.md)"
    raise ConfigError(
        f"{key} is {wanted} but the cluster runs {running}: EKS upgrades one minor at a time and never "
        f"downgrades, so set {key} to {step} and run `pulumi up` first{offered}"
    )
