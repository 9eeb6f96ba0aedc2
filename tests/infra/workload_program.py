"""A Pulumi program running only the workload layer, with realistic stand-ins for the cloud layer's outputs."""

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config import load_config
from infra.inference import RedisEndpoint
from infra.mlflow import DatabaseEndpoint
from infra.network import subnet_cidrs
from infra.workloads import WorkloadsArgs, build_workloads

cfg = load_config()
provider = k8s.Provider("k8s", kubeconfig="{}")
db_password = random.RandomPassword("db-password", length=32, special=True)
redis_token = random.RandomPassword("redis-token", length=64, special=False)
registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
workloads = build_workloads(
    cfg.name,
    WorkloadsArgs(
        config=cfg,
        kubernetes_version="1.33",
        repositories={k: f"{registry}/{cfg.name}-{k}" for k in ("inference", "mlflow", "training")},
        vpc_cidr=cfg.network.vpc_cidr,
        private_subnet_cidrs=subnet_cidrs(cfg.network.vpc_cidr, cfg.network.az_count)[1],
        redis=RedisEndpoint(
            host=f"master.{cfg.name}-redis.abc123.use1.cache.amazonaws.com", port=6379, auth_token=redis_token.result
        ),
        database=DatabaseEndpoint(
            host=f"{cfg.name}-mlflow.abc123.us-east-1.rds.amazonaws.com",
            port=5432,
            name="mlflow",
            username="mlflow",
            password=db_password.result,
        ),
        artifact_bucket=f"{cfg.name}-mlflow-artifacts",
        mlflow_role_arn=f"arn:aws:iam::123456789012:role/{cfg.name}-mlflow",
    ),
    opts=pulumi.ResourceOptions(provider=provider),
)
pulumi.export("inferenceUrl", workloads.inference.url)
pulumi.export("mlflowUrl", workloads.mlflow.url)
pulumi.export("namespaces", workloads.namespaces)
