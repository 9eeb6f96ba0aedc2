"""The one table of Kubernetes versions the platform offers, each with the versions pinned for it.

A version is offered only while it is in EKS *standard* support: past its end, EKS bills extended support per
cluster hour, or, with the cluster's upgrade policy STANDARD (infra/cluster.py), upgrades the control plane on its
own. Supporting a new version means adding its row here, nowhere else; dropping one means moving it to RETIRED.

Sources (checked 2026-12-06):
- EKS release calendar, "Understand the Kubernetes version lifecycle on EKS" (kubernetes-versions.html): standard
  support lasts 14 months from the EKS release; 1.33 ended 2026-07-29 and 1.34 ended 2026-12-02. 1.35 was released
  on EKS 2026-01-27, so its standard support runs to 2027-03-27.
- EKS add-on tables, "Manage kube-proxy" (managing-kube-proxy.html) and "Manage CoreDNS" (managing-coredns.html):
  latest add-on build per Kubernetes version, 1.36 and 1.35 rows. VPC CNI: v1.22.3-eksbuild.1 is the build EKS
  offered for every version in standard support in July 2026 (`aws eks describe-addon-versions --addon-name vpc-cni
  --kubernetes-version <v>`; the VPC CNI is released independently of Kubernetes minors).
- cluster-autoscaler: kubernetes/autoscaler tags cluster-autoscaler-1.35.2 and cluster-autoscaler-1.36.1 (the image
  minor must equal the cluster's: its scheduler simulation is built from that Kubernetes release); the Helm chart
  is versioned apart from the image, chart tag cluster-autoscaler-chart-9.59.0
  (cluster-autoscaler/charts/cluster-autoscaler/Chart.yaml), with the image tag set per cluster version.
Re-check each row with `aws eks describe-addon-versions --kubernetes-version <v>` before adding a version.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

AUTOSCALER_CHART_VERSION = "9.59.0"


@dataclass(frozen=True)
class KubernetesRelease:
    """One Kubernetes minor as EKS runs it, with everything pinned per minor."""

    version: str
    # EKS managed add-ons: name -> add-on version.
    addons: dict[str, str]
    # registry.k8s.io/autoscaling/cluster-autoscaler tag; its minor equals `version`.
    autoscaler_image_tag: str
    # From the EKS release calendar; None while AWS has not published the date.
    end_of_standard_support: datetime.date | None


RELEASES: dict[str, KubernetesRelease] = {
    release.version: release
    for release in (
        KubernetesRelease(
            version="1.36",
            addons={
                "vpc-cni": "v1.22.3-eksbuild.1",
                "kube-proxy": "v1.36.0-eksbuild.14",
                "coredns": "v1.14.3-eksbuild.3",
            },
            autoscaler_image_tag="v1.36.1",
            end_of_standard_support=None,
        ),
        KubernetesRelease(
            version="1.35",
            addons={
                "vpc-cni": "v1.22.3-eksbuild.1",
                "kube-proxy": "v1.35.3-eksbuild.13",
                "coredns": "v1.14.3-eksbuild.3",
            },
            autoscaler_image_tag="v1.35.2",
            end_of_standard_support=datetime.date(2027, 3, 27),
        ),
    )
}
# Versions once offered, with the day EKS standard support ended (release calendar): never offered again.
RETIRED: dict[str, datetime.date] = {
    "1.33": datetime.date(2026, 7, 29),
    "1.34": datetime.date(2026, 12, 2),
}
# Newest first: the first is Pulumi.yaml's default for cluster.version.
KUBERNETES_VERSIONS: tuple[str, ...] = tuple(RELEASES)
EKS_ADDONS = ("vpc-cni", "kube-proxy", "coredns")


def release(version: str) -> KubernetesRelease:
    """The pinned release of `version`; config validation only lets offered versions through."""
    return RELEASES[version]
