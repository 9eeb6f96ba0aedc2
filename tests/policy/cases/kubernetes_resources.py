"""Compliant Kubernetes resources (props as the engine sends them), the starting point of the Kubernetes rule cases."""

from __future__ import annotations

import json
from typing import Any

from tests.policy.cases.common import ACCOUNT
from tests.policy.support import changed

DEPLOYMENT_T = "kubernetes:apps/v1:Deployment"
CRON_JOB_T = "kubernetes:batch/v1:CronJob"
NAMESPACE_T = "kubernetes:core/v1:Namespace"
SERVICE_T = "kubernetes:core/v1:Service"
INGRESS_T = "kubernetes:networking.k8s.io/v1:Ingress"
NETPOL_T = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB_T = "kubernetes:policy/v1:PodDisruptionBudget"
HPA_T = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
RELEASE_T = "kubernetes:helm.sh/v3:Release"

LABELS = {"app.kubernetes.io/name": "inference", "app.kubernetes.io/part-of": "mlp"}
CERTIFICATE_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/1a2b3c4d-0000-1111-2222-333344445555"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/mlp-prod/inference:1.4.2"
RESOURCES = {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "256Mi"}
CONTAINER = {
    "name": "inference",
    "image": IMAGE,
    "imagePullPolicy": "IfNotPresent",
    "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "resources": {"requests": RESOURCES, "limits": {**RESOURCES, "cpu": "2"}},
    "startupProbe": {"httpGet": {"path": "/health/live", "port": "http"}, "periodSeconds": 5, "failureThreshold": 60},
    "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 5},
    "livenessProbe": {"httpGet": {"path": "/health/live", "port": "http"}, "periodSeconds": 10},
    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "10"]}}},
    "env": [{"name": "INFERENCE_MODEL_NAME", "valueFrom": {"configMapKeyRef": {"name": "inference", "key": "model"}}}],
    "volumeMounts": [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "secrets", "mountPath": "/var/run/secrets/platform", "readOnly": True},
    ],
}
POD_SPEC: dict[str, Any] = {
    "serviceAccountName": "inference",
    "automountServiceAccountToken": False,
    "terminationGracePeriodSeconds": 45,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [CONTAINER],
    "volumes": [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "secrets", "secret": {"secretName": "inference"}},
    ],
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": LABELS},
        },
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": LABELS},
        },
    ],
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "inference", "namespace": "inference", "labels": LABELS},
    "spec": {
        "selector": {"matchLabels": LABELS},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": LABELS}, "spec": POD_SPEC},
    },
}
C = "spec.template.spec.containers.0."
POD = "spec.template.spec."
CRON_JOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "train", "namespace": "training"},
    "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": {
            "spec": {
                "template": {
                    "spec": {
                        **{k: v for k, v in POD_SPEC.items() if k != "topologySpreadConstraints"},
                        "restartPolicy": "Never",
                        "serviceAccountName": "training",
                        "containers": [{**CONTAINER, "name": "train", "image": IMAGE.replace("inference", "training")}],
                    }
                }
            }
        },
    },
}
JOB_C = "spec.jobTemplate.spec.template.spec.containers.0."
NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
        "name": "inference",
        "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "inference", "namespace": "inference"},
    "spec": {"type": "ClusterIP", "selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
}
ALB_ANNOTATIONS = {
    "alb.ingress.kubernetes.io/scheme": "internet-facing",
    "alb.ingress.kubernetes.io/target-type": "ip",
    "alb.ingress.kubernetes.io/healthcheck-path": "/health/ready",
    "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
    "alb.ingress.kubernetes.io/certificate-arn": CERTIFICATE_ARN,
    "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "alb.ingress.kubernetes.io/ssl-redirect": "443",
    "alb.ingress.kubernetes.io/load-balancer-attributes": ",".join(
        [
            "routing.http.drop_invalid_header_fields.enabled=true",
            "routing.http.desync_mitigation_mode=defensive",
            "deletion_protection.enabled=true",
            "access_logs.s3.enabled=true",
            "access_logs.s3.bucket=mlp-prod-alb-logs",
            "access_logs.s3.prefix=inference",
        ]
    ),
}
INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "inference", "namespace": "inference", "annotations": ALB_ANNOTATIONS},
    "spec": {
        "ingressClassName": "alb",
        "rules": [
            {
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "inference", "port": {"name": "http"}}},
                        }
                    ]
                }
            }
        ],
    },
}


def ingress(**annotations: str | None) -> dict[str, Any]:
    """The inference Ingress with ALB annotations changed (None removes one); keys without the prefix."""
    merged = dict(ALB_ANNOTATIONS)
    for key, value in annotations.items():
        full = "alb.ingress.kubernetes.io/" + key.replace("_", "-")
        if value is None:
            merged.pop(full, None)
        else:
            merged[full] = value
    return changed(INGRESS, {"metadata.annotations": merged})


def lb_attributes(**attributes: str | None) -> str:
    current = dict(
        pair.split("=", 1) for pair in ALB_ANNOTATIONS["alb.ingress.kubernetes.io/load-balancer-attributes"].split(",")
    )
    for key, value in attributes.items():
        full = key.replace("__", ".")
        if value is None:
            current.pop(full, None)
        else:
            current[full] = value
    return ",".join(f"{k}={v}" for k, v in current.items())


NETPOL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "inference-allow", "namespace": "inference"},
    "spec": {
        "podSelector": {"matchLabels": LABELS},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"port": 8000, "protocol": "TCP"}]}],
        "egress": [
            {
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}],
                "ports": [{"port": 5000}],
            },
            {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]},
        ],
    },
}
PDB = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "inference", "namespace": "inference"},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}, "unhealthyPodEvictionPolicy": "AlwaysAllow"},
}
HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "inference", "namespace": "inference"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "inference"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
            }
        ],
    },
}
LB_CONTROLLER = {
    "name": "aws-load-balancer-controller",
    "chart": "aws-load-balancer-controller",
    "version": "1.14.1",
    "repositoryOpts": {"repo": "https://aws.github.io/eks-charts"},
    "namespace": "kube-system",
    "values": {
        "clusterName": "mlp-prod",
        "region": "us-east-1",
        "vpcId": "vpc-0a1b2c3d4e5f60718",
        "serviceAccount": {
            "create": True,
            "name": "aws-load-balancer-controller",
            "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/mlp-prod-lb-controller"},
        },
    },
}
