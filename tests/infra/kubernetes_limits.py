"""The name rules of Kubernetes (v1.33), Helm and the AWS Load Balancer Controller's Ingress annotations, and how
pulumi-kubernetes names an object the program leaves unnamed; each rule cites where it is written. Read by
tests/infra/test_rehearsal_names.py."""

from __future__ import annotations

from tests.infra.aws_limits import Autoname, Rule

K8S_VALIDATION = "kubernetes/apimachinery pkg/util/validation/validation.go"

# Kubernetes (validation.go at kubernetes v1.33) and Helm.
DNS1123_LABEL = Rule(
    "Kubernetes DNS-1123 label",
    f"{K8S_VALIDATION} (IsDNS1123Label)",
    63,
    pattern=r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?",
)
DNS1035_LABEL = Rule(
    "Kubernetes DNS-1035 label (Service name)",
    f"{K8S_VALIDATION} (IsDNS1035Label); Services: kubernetes pkg/apis/core/validation ValidateServiceName",
    63,
    pattern=r"[a-z](?:[-a-z0-9]*[a-z0-9])?",
)
DNS1123_SUBDOMAIN = Rule(
    "Kubernetes DNS-1123 subdomain",
    f"{K8S_VALIDATION} (IsDNS1123Subdomain)",
    253,
    pattern=r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*",
)
# The Job controller labels its pods job-name=<name> (a label value: 63); the CronJob controller appends 11
# characters to the CronJob's name for each Job.
JOB_NAME = Rule(
    "Kubernetes Job name",
    "kubernetes pkg/apis/batch/validation (job-name label value)",
    63,
    pattern=DNS1123_SUBDOMAIN.pattern,
)
CRONJOB_NAME = Rule(
    "Kubernetes CronJob name",
    "kubernetes pkg/apis/batch/validation ValidateCronJob (52)",
    52,
    pattern=DNS1123_SUBDOMAIN.pattern,
)
LABEL_VALUE = Rule(
    "Kubernetes label value",
    f"{K8S_VALIDATION} (IsValidLabelValue)",
    63,
    min_length=0,
    pattern=r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?",
)
QUALIFIED_NAME = Rule(
    "Kubernetes label or annotation key (name part)",
    f"{K8S_VALIDATION} (IsQualifiedName)",
    63,
    pattern=r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?",
)
PORT_NAME = Rule(
    "Kubernetes port name",
    f"{K8S_VALIDATION} (IsValidPortName: IANA_SVC_NAME)",
    15,
    pattern=r"(?=.*[a-z])[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*",
    pattern_says="lowercase letters, digits and single inner hyphens, with a letter",
)
HELM_RELEASE = Rule(
    "Helm release name",
    "helm/helm pkg/chartutil/validate_name.go (ValidateReleaseName: 53, DNS-1123 subdomain)",
    53,
    pattern=DNS1123_SUBDOMAIN.pattern,
)

# AWS Load Balancer Controller v2.14.1 Ingress annotations (docs/guide/ingress/annotations.md) and the ELBv2 API.
LBC_DOCS = "kubernetes-sigs/aws-load-balancer-controller docs/guide/ingress/annotations.md@v2.14.1"
ALB_GROUP_NAME = Rule(
    "ALB IngressGroup name (alb.ingress.kubernetes.io/group.name)",
    f"{LBC_DOCS} (group.name)",
    63,
    pattern=r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?",
)
ALB_NAME = Rule(
    "ALB name (alb.ingress.kubernetes.io/load-balancer-name)",
    f"{LBC_DOCS} (load-balancer-name: 32); "
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html (Name)",
    32,
    pattern=r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
    forbidden_starts=("internal-",),
)
# Ingress annotations whose value is a name with a rule; `alb.ingress.kubernetes.io/tags` is checked as tags.
ANNOTATION_RULES = {
    "alb.ingress.kubernetes.io/group.name": ALB_GROUP_NAME,
    "alb.ingress.kubernetes.io/load-balancer-name": ALB_NAME,
}
ALB_TAGS_ANNOTATION = "alb.ingress.kubernetes.io/tags"

# Kubernetes object names by kind; kinds not listed are DNS-1123 subdomains.
KIND_NAME_RULES = {
    "Namespace": DNS1123_LABEL,
    "Service": DNS1035_LABEL,
    "Job": JOB_NAME,
    "CronJob": CRONJOB_NAME,
}

# pulumi-kubernetes names an object without metadata.name `<logical name>-<8 hex digits>`, with no maximum
# (provider/pkg/metadata/naming.go AssignNameIfAutonamable: NewUniqueName(seed, prefix, 0, 0, nil)).
KUBERNETES_AUTONAME = Autoname("metadata.name", 0, random=8)

# (resource type, input) -> rule, for inputs the program sets.
INPUT_RULES = {("kubernetes:helm.sh/v3:Release", "name"): HELM_RELEASE}
