"""Cluster add-ons installed with Helm: the AWS Load Balancer Controller (ALBs from Ingresses), metrics-server (the
HPA's metrics) and the cluster autoscaler (nodes follow pending pods)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.cluster import Cluster
from infra.identity import irsa_role
from infra.versions import AUTOSCALER_CHART_VERSION
from infra.versions import release as kubernetes_release


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to a version in its official repository."""

    name: str
    repo: str
    version: str


@dataclass(frozen=True)
class VendoredFile:
    """A file copied byte for byte from a public repository at a tag; `blob` is its git blob id there, which
    tests/infra/test_rehearsal_addons.py recomputes from the copy (`git hash-object`)."""

    repository: str
    tag: str
    path: str
    blob: str


# Chart 1.14.1 ships controller v2.14.1, whose published IAM policy is infra/policies/aws-load-balancer-controller.json:
# bump both together.
LOAD_BALANCER_CONTROLLER = Chart("aws-load-balancer-controller", "https://aws.github.io/eks-charts", "1.14.1")
LOAD_BALANCER_CONTROLLER_POLICY = VendoredFile(
    repository="kubernetes-sigs/aws-load-balancer-controller",
    tag="v2.14.1",
    path="docs/install/iam_policy.json",
    blob="761d0e733c41089c91ea009dd29faf71918085e5",
)
METRICS_SERVER = Chart("metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "3.13.0")
# Chart and image versions come from the version table (infra/versions.py): the image's minor follows the cluster's.
CLUSTER_AUTOSCALER = Chart("cluster-autoscaler", "https://kubernetes.github.io/autoscaler", AUTOSCALER_CHART_VERSION)

NAMESPACE = "kube-system"
LOAD_BALANCER_CONTROLLER_SA = "aws-load-balancer-controller"
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"
POLICY_DIR = Path(__file__).parent / "policies"


def load_balancer_controller_policy(partition: str) -> str:
    """The controller's IAM policy exactly as AWS publishes it for the pinned version (LOAD_BALANCER_CONTROLLER_POLICY).

    The one policy in this stack with broad resources (`*` on EC2/ELB describe, create and tag-conditioned
    modify actions): the controller creates load balancers, target groups and security groups whose ARNs
    cannot be known in advance, and AWS scopes the mutations by the `elbv2.k8s.aws/cluster` tag instead.
    Kept verbatim so upgrades are a diff against the upstream file, not a re-derivation. Its ARNs name the
    `aws` partition; upstream's GovCloud and China variants differ from it only in that, so other partitions
    get the same document with theirs.
    """
    text = (POLICY_DIR / "aws-load-balancer-controller.json").read_text()
    if partition != "aws":
        text = text.replace('"arn:aws:', f'"arn:{partition}:')
    return json.dumps(json.loads(text), separators=(",", ":"))


def cluster_autoscaler_policy(partition: str, region: str, account_id: str, cluster_name: str) -> str:
    """Scale only the node groups EKS tagged as this cluster's; discovery calls take no resource scoping."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ScaleOwnNodeGroups",
                    "Effect": "Allow",
                    "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    "Resource": f"arn:{partition}:autoscaling:{region}:{account_id}:autoScalingGroup:*",
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
                    },
                },
                {
                    "Sid": "DiscoverNodeGroups",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "DescribeOwnNodeGroups",
                    "Effect": "Allow",
                    "Action": ["eks:DescribeNodegroup"],
                    "Resource": f"arn:{partition}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*/*",
                },
            ],
        }
    )


@dataclass(frozen=True)
class AddonsArgs:
    cluster: Cluster
    region: str
    vpc_id: pulumi.Input[str]
    tags: dict[str, str]


class Addons(pulumi.ComponentResource):
    """Helm releases at pinned chart versions, each waiting for the node groups. The Kubernetes provider comes
    from `opts.providers` (the cluster's); this component creates none."""

    load_balancer_controller: k8s.helm.v3.Release
    metrics_server: k8s.helm.v3.Release
    cluster_autoscaler: k8s.helm.v3.Release

    def __init__(self, name: str, args: AddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Addons", name, None, opts)
        cluster = args.cluster
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition(opts=invoke).partition
        account_id = aws.get_caller_identity(opts=invoke).account_id

        lb_role = irsa_role(
            f"{name}-lb-controller",
            namespace=NAMESPACE,
            service_account=LOAD_BALANCER_CONTROLLER_SA,
            cluster=cluster,
            policy=load_balancer_controller_policy(partition),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        autoscaler_role = irsa_role(
            f"{name}-cluster-autoscaler",
            namespace=NAMESPACE,
            service_account=CLUSTER_AUTOSCALER_SA,
            cluster=cluster,
            policy=cluster.cluster_name.apply(
                lambda cluster_name: cluster_autoscaler_policy(partition, args.region, account_id, cluster_name)
            ),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

        def release(chart: Chart, values: dict[str, Any]) -> k8s.helm.v3.Release:
            return k8s.helm.v3.Release(
                f"{name}-{chart.name}",
                name=chart.name,
                chart=chart.name,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
                namespace=NAMESPACE,
                values=values,
                # Explicit as well as through the provider: a release needs nodes to become ready.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(cluster.node_groups)),
            )

        def service_account(sa_name: str, role: aws.iam.Role) -> dict[str, Any]:
            return {"create": True, "name": sa_name, "annotations": {"eks.amazonaws.com/role-arn": role.arn}}

        self.load_balancer_controller = release(
            LOAD_BALANCER_CONTROLLER,
            {
                "clusterName": cluster.cluster_name,
                # IMDS hop limit 1 hides the region and VPC from the controller's pods: say them here.
                "region": args.region,
                "vpcId": args.vpc_id,
                "serviceAccount": service_account(LOAD_BALANCER_CONTROLLER_SA, lb_role),
                # The chart's Service mutator webhook (failurePolicy Fail, every namespace) makes this controller
                # the default for LoadBalancer Services, which the platform has none of. Left on, every Service
                # created while the controller has no ready pod is refused, metrics-server's and the
                # autoscaler's included, which install alongside it.
                "enableServiceMutatorWebhook": False,
            },
        )
        self.metrics_server = release(METRICS_SERVER, {})
        self.cluster_autoscaler = release(
            CLUSTER_AUTOSCALER,
            {
                "cloudProvider": "aws",
                "awsRegion": args.region,
                # Managed node groups carry the k8s.io/cluster-autoscaler/<cluster> tags EKS sets on their ASGs.
                "autoDiscovery": {"clusterName": cluster.cluster_name},
                "image": {"tag": kubernetes_release(cluster.version).autoscaler_image_tag},
                "rbac": {"serviceAccount": service_account(CLUSTER_AUTOSCALER_SA, autoscaler_role)},
                # One node group per AZ (infra/cluster.py): balancing keeps the zones level on scale-up.
                "extraArgs": {"balance-similar-node-groups": True, "skip-nodes-with-system-pods": False},
            },
        )
        self.register_outputs(
            {
                "loadBalancerControllerRoleArn": lb_role.arn,
                "clusterAutoscalerRoleArn": autoscaler_role.arn,
            }
        )
