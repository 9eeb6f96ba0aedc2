"""The MLflow tracking server and model registry: RDS backend, proxied S3 artifacts, basic auth.

Clients (the inference service, the training Job) reach it only at its in-cluster URL and fetch artifacts
through it (`--serve-artifacts`), so only this server's role may touch the artifact prefix in S3. Basic auth
is on: an admin whose password is generated here, and one non-admin user per client, created by a Job that
calls MLflow's auth REST API (images/mlflow/bootstrap_users.py).

Schema migrations run once per image and database, in a Job the Deployment waits for
(images/mlflow/migrate_db.py); the server pods only check, in an init container, that the schemas are at their
image's head, so no serving replica ever migrates (docs/first-deploy.d/bootstrap.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import db_passfile, kube, mlflow_schema
from infra.config import MlflowConfig, MonitoringConfig
from infra.db_passfile import DatabaseEndpoint, database_uri
from infra.identity import OidcIdentity, irsa_role
from infra.mlflow_auth import basic_auth_ini
from infra.mlflow_iam import artifact_access_policy, merged_policy
from infra.mlflow_metrics import METRICS_DIR, METRICS_PORT, METRICS_PORT_NAME, metrics_listener, scrape_annotations

NAME = "mlflow"
PORT = 5000
LABELS = kube.pod_labels(NAME, "tracking-server")
BOOTSTRAP_LABELS = kube.pod_labels(NAME, "bootstrap-users")
SECRETS_DIR = "/var/run/secrets/mlflow"
ADMIN_DIR = "/var/run/secrets/mlflow-admin"
USERS_DIR = "/var/run/secrets/mlflow-users"
ENTRYPOINT = "/usr/local/bin/mlflow-entrypoint"
BOOTSTRAP_SCRIPT = "/opt/mlflow/bootstrap_users.py"
PRE_STOP_SLEEP_SECONDS = 5
DRAIN_SECONDS = 25


@dataclass(frozen=True)
class ArtifactLocation:
    """The S3 bucket MLflow proxies artifacts to, and the KMS key its objects are encrypted with."""

    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class MlflowArgs:
    config: MlflowConfig
    namespace: str
    image: pulumi.Input[str]
    # The cluster whose OIDC provider the server's IAM role (IRSA) trusts.
    cluster: OidcIdentity
    region: str
    artifacts: ArtifactLocation
    database: DatabaseEndpoint
    tags: Mapping[str, str]
    # Non-admin users to create, one per client (e.g. "inference"); their passwords are generated here.
    users: Sequence[str] = ()
    # The internal ALB for the UI, when config.ingress_enabled.
    alb: kube.AlbSettings | None = None
    # With a Prometheus named (monitoring.prometheusNamespace), the metrics listener runs beside the server.
    monitoring: MonitoringConfig | None = None


def service_hosts(namespace: str) -> list[str]:
    """Host headers the server accepts: its in-cluster names, and localhost for `kubectl port-forward`."""
    return [
        f"{NAME}.{namespace}.svc.cluster.local:{PORT}",
        f"{NAME}.{namespace}.svc:{PORT}",
        f"{NAME}.{namespace}:{PORT}",
        "localhost:*",
        "127.0.0.1:*",
    ]


def server_pre_stop_seconds(args: MlflowArgs) -> int:
    """How long a terminating server pod keeps serving. Behind the UI's ALB it keeps serving until the target has
    drained (the ALB's deregistration delay); only in-cluster clients, whose Service endpoints update within seconds,
    need just the short sleep."""
    if args.config.ingress_enabled and args.alb is not None:
        return max(PRE_STOP_SLEEP_SECONDS, args.alb.deregistration_delay_seconds)
    return PRE_STOP_SLEEP_SECONDS


def server_args(args: MlflowArgs) -> list[pulumi.Input[str]]:
    """`mlflow server`'s arguments: basic auth, proxied artifacts under the prefix, the allowed hosts, metrics."""
    cfg = args.config
    result: list[pulumi.Input[str]] = [
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--workers",
        str(cfg.workers),
        "--app-name",
        "basic-auth",
        "--serve-artifacts",
        "--artifacts-destination",
        pulumi.Output.concat("s3://", args.artifacts.bucket_name, "/", cfg.artifact_prefix),
        "--allowed-hosts",
        ",".join(service_hosts(args.namespace) + ([cfg.ingress_host] if cfg.ingress_host else [])),
        # /metrics; its workers' counts are files the metrics listener serves (infra/mlflow_metrics.py).
        "--expose-prometheus",
        METRICS_DIR,
        # Stop taking connections on SIGTERM and give in-flight requests this long.
        "--uvicorn-opts",
        f"--timeout-graceful-shutdown {DRAIN_SECONDS}",
    ]
    if cfg.ingress_enabled and cfg.ingress_host:
        # The UI's own state-changing calls come from this origin; MLflow blocks other origins.
        scheme = "https" if cfg.ingress_certificate_arn else "http"
        result += ["--cors-allowed-origins", f"{scheme}://{cfg.ingress_host}"]
    return result


def server_container(args: MlflowArgs, pre_stop_sleep: int) -> k8s.core.v1.ContainerArgsDict:
    """The tracking server's container."""
    return {
        "name": NAME,
        "image": args.image,
        "image_pull_policy": "IfNotPresent",
        # The entrypoint (images/mlflow/entrypoint.sh) loads each <NAME>_FILE below into <NAME>: the backend
        # store URI becomes MLFLOW_BACKEND_STORE_URI, which is --backend-store-uri; it names the password
        # file the pgpass sidecar keeps (infra/db_passfile.py), so no password is in the URI at all.
        "command": [ENTRYPOINT],
        "args": server_args(args),
        "env": [
            {"name": "MLFLOW_BACKEND_STORE_URI_FILE", "value": f"{SECRETS_DIR}/backend-store-uri"},
            {"name": "MLFLOW_FLASK_SERVER_SECRET_KEY_FILE", "value": f"{SECRETS_DIR}/flask-secret-key"},
            {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": f"{SECRETS_DIR}/basic-auth.ini"},
            # Server-side job execution would run arbitrary jobs inside this pod; not needed here.
            {"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "value": "false"},
            *kube.aws_env(args.region),
            *kube.tmp_env(),
        ],
        "ports": [{"name": "http", "container_port": PORT, "protocol": "TCP"}],
        "startup_probe": kube.http_probe("/health", "http", period=5, failures=60),
        "readiness_probe": kube.http_probe("/health", "http", period=10, failures=3, timeout=3),
        "liveness_probe": kube.http_probe("/health", "http", period=20, failures=3, timeout=5),
        "lifecycle": {"pre_stop": {"sleep": {"seconds": pre_stop_sleep}}},
        "resources": kube.resources(args.config.resources),
        "security_context": kube.container_security_context(),
        "volume_mounts": [
            kube.tmp_mount(),
            {"name": "server-secrets", "mount_path": SECRETS_DIR, "read_only": True},
            db_passfile.mount(),
        ],
    }


class Mlflow(pulumi.ComponentResource):
    """MLflow server Deployment + Service + PDB, its secrets, the schema migration and user bootstrap Jobs, an
    optional internal UI."""

    url: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    user_passwords: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Mlflow", name, None, opts)
        cfg = args.config
        child = kube.child_options(self, opts)
        labels = kube.object_labels(NAME, "tracking-server")
        name = f"{name}-{NAME}"

        role, migrate_role = self._roles(name, args, child)
        self.role_arn = role.arn
        self.url = pulumi.Output.from_input(f"http://{NAME}.{args.namespace}.svc.cluster.local:{PORT}")
        server_secret = self._secrets(name, args, labels, child)
        sa = self._service_account(name, args, labels, role, child)
        # The metrics listener only where a Prometheus scrapes it (its namespace is what the NetworkPolicies admit).
        scraped = args.monitoring is not None and args.monitoring.prometheus_namespace is not None
        migration = mlflow_schema.migration_job(
            f"{name}-migrate-db",
            mlflow_schema.MigrationArgs(
                namespace=args.namespace,
                image=args.image,
                database=(args.database.host, args.database.port, args.database.name),
                server_secret=server_secret.metadata.name,
                secrets_dir=SECRETS_DIR,
                passfile_writer=db_passfile.writer(args.image, args.database.secret, args.region, sidecar=False),
                role_arn=migrate_role.arn,
                instance_identifier=args.database.instance_identifier,
                tags=dict(args.tags),
            ),
            child,
        )
        deployment = self._deployment(name, args, labels, server_secret, sa, scraped, migration, child)
        service = kube.cluster_ip_service(
            f"{name}-service",
            name=NAME,
            namespace=args.namespace,
            labels=labels,
            selector=LABELS,
            port=PORT,
            extra_ports={METRICS_PORT_NAME: METRICS_PORT} if scraped else {},
            opts=child,
        )
        kube.disruption_budget(
            f"{name}-pdb", name=NAME, namespace=args.namespace, labels=LABELS, metadata_labels=labels, opts=child
        )
        bootstrap = self._bootstrap_users(name, args, self.admin_password, after=[deployment, service], opts=opts)
        if cfg.ingress_enabled:
            self._ingress(name, args, labels, service, child)

        # What a client Job waits for: the server rolled out, and its users made.
        self.ready: list[pulumi.Resource] = [deployment, service]
        if bootstrap is not None:
            self.ready.append(bootstrap)
        self.migration_job_name = migration.metadata.name

        self.service_name = service.metadata.name
        self.register_outputs({"url": self.url, "serviceName": self.service_name, "roleArn": self.role_arn})

    def _roles(self, name: str, args: MlflowArgs, child: pulumi.ResourceOptions) -> tuple[aws.iam.Role, aws.iam.Role]:
        """The server's AWS identity (artifacts in S3 under the configured prefix only, and the database's secret)
        and the migration Job's (the database's secret only)."""
        db = args.database
        role = irsa_role(
            f"{name}-role",
            namespace=args.namespace,
            service_account=NAME,
            cluster=args.cluster,
            policy=merged_policy(
                artifact_access_policy(
                    args.artifacts.bucket_arn, args.config.artifact_prefix, args.artifacts.kms_key_arn, args.region
                ),
                db_passfile.read_policy(db.secret, args.region),
            ),
            tags=dict(args.tags),
            opts=child,
        )
        migrate_role = irsa_role(
            f"{name}-migrate-db-role",
            namespace=args.namespace,
            service_account=mlflow_schema.SERVICE_ACCOUNT,
            cluster=args.cluster,
            policy=db_passfile.read_policy(db.secret, args.region),
            tags=dict(args.tags),
            opts=child,
        )
        return role, migrate_role

    def _secrets(
        self, name: str, args: MlflowArgs, labels: dict[str, str], child: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret:
        """The generated admin and user passwords, and the server's Secret: the password-less backend store URI,
        basic auth's ini (the admin's login) and the Flask key."""
        cfg = args.config
        admin = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        # Signs the auth app's CSRF tokens; every replica must share it.
        flask_key = random.RandomPassword(f"{name}-flask-secret-key", length=64, special=False, opts=child)
        self.admin_password = admin.result
        self.user_passwords = {
            user: random.RandomPassword(f"{name}-user-{user}-password", length=32, special=False, opts=child).result
            for user in args.users
        }
        uri = database_uri(args.database)
        return k8s.core.v1.Secret(
            f"{name}-server",
            metadata={"namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data={
                "backend-store-uri": uri,
                "basic-auth.ini": pulumi.Output.all(uri, admin.result).apply(
                    lambda v: basic_auth_ini(v[0], cfg.admin_username, v[1])
                ),
                "flask-secret-key": flask_key.result,
            },
            opts=child,
        )

    def _service_account(
        self, name: str, args: MlflowArgs, labels: dict[str, str], role: aws.iam.Role, child: pulumi.ResourceOptions
    ) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={
                "name": NAME,
                "namespace": args.namespace,
                "labels": labels,
                # IRSA: the EKS webhook projects an STS-audience token for this role into the pods.
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
            # No Kubernetes API access is needed; the IRSA token is projected separately.
            automount_service_account_token=False,
            opts=child,
        )

    def _deployment(
        self,
        name: str,
        args: MlflowArgs,
        labels: dict[str, str],
        server_secret: k8s.core.v1.Secret,
        sa: k8s.core.v1.ServiceAccount,
        scraped: bool,
        migration: pulumi.Resource,
        child: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.Deployment:
        """The server's pods: the pgpass sidecar, the schema check, the metrics listener (when scraped), the server."""
        cfg = args.config
        pre_stop_sleep = server_pre_stop_seconds(args)
        return k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": cfg.replicas,
                "revision_history_limit": 5,
                "selector": {"match_labels": LABELS},
                "strategy": kube.rolling_update(),
                "template": {
                    "metadata": {"labels": labels, "annotations": scrape_annotations(args.monitoring)},
                    "spec": kube.pod_spec(
                        [server_container(args, pre_stop_sleep)],
                        [
                            kube.tmp_volume(cfg.resources.ephemeral_storage_limit),
                            kube.secret_volume("server-secrets", server_secret.metadata.name),
                            db_passfile.volume(),
                        ],
                        service_account=sa.metadata.name,
                        spread_labels=LABELS,
                        grace_seconds=kube.termination_grace_seconds(pre_stop_sleep, DRAIN_SECONDS),
                        # The server would migrate an empty or behind schema by itself, in every replica at once
                        # (mlflow 3.17.2 SqlAlchemyStore.__init__, auth migrate_if_needed): refuse to start instead.
                        # The pgpass sidecar first: its startup probe holds the check and the server until the
                        # password file exists.
                        init_containers=[
                            db_passfile.writer(args.image, args.database.secret, args.region, sidecar=True),
                            mlflow_schema.tool("schema-check", args.image, "check", SECRETS_DIR),
                        ]
                        + ([metrics_listener(args.image)] if scraped else []),
                    ),
                },
            },
            # New pods of an image start only once its migration Job has completed.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[migration])),
        )

    def _bootstrap_users(
        self,
        name: str,
        args: MlflowArgs,
        admin_password: pulumi.Output[str],
        after: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None,
    ) -> k8s.batch.v1.Job | None:
        """A Job that makes the clients' users exist with their current passwords (create or update)."""
        if not args.users:
            return None
        child = kube.child_options(self, opts)
        namespace = args.namespace
        labels = kube.object_labels(NAME, "bootstrap-users")
        admin_secret = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata={"namespace": namespace, "labels": labels},
            type="Opaque",
            string_data={"username": args.config.admin_username, "password": admin_password},
            opts=child,
        )
        users_secret = k8s.core.v1.Secret(
            f"{name}-users",
            metadata={"namespace": namespace, "labels": labels},
            type="Opaque",
            # One file per user, named after it, holding its password.
            string_data=dict(self.user_passwords),
            opts=child,
        )
        account = kube.service_account(f"{name}-bootstrap-sa", f"{NAME}-bootstrap-users", namespace, labels, child)
        return k8s.batch.v1.Job(
            f"{name}-bootstrap-users",
            metadata={"namespace": namespace, "labels": labels, "annotations": kube.RERUN_UNLESS_COMPLETE},
            spec={
                "backoff_limit": 4,
                "active_deadline_seconds": 600,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": kube.pod_spec(
                        [
                            {
                                "name": "bootstrap-users",
                                "image": args.image,
                                "image_pull_policy": "IfNotPresent",
                                "command": ["python", BOOTSTRAP_SCRIPT],
                                "env": [
                                    {"name": "MLFLOW_TRACKING_URI", "value": self.url},
                                    {"name": "MLFLOW_ADMIN_DIR", "value": ADMIN_DIR},
                                    {"name": "MLFLOW_USERS_DIR", "value": USERS_DIR},
                                ],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                                    "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
                                },
                                "security_context": kube.container_security_context(),
                                "volume_mounts": [
                                    kube.tmp_mount(),
                                    {"name": "admin", "mount_path": ADMIN_DIR, "read_only": True},
                                    {"name": "users", "mount_path": USERS_DIR, "read_only": True},
                                ],
                            }
                        ],
                        [
                            kube.tmp_volume("64Mi"),
                            kube.secret_volume("admin", admin_secret.metadata.name),
                            kube.secret_volume("users", users_secret.metadata.name),
                        ],
                        restart_policy="OnFailure",
                        service_account=account.metadata.name,
                    ),
                },
            },
            # The users are created through the running server, so it must be up first.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=after)),
        )

    def _ingress(
        self,
        name: str,
        args: MlflowArgs,
        labels: dict[str, str],
        service: k8s.core.v1.Service,
        child: pulumi.ResourceOptions,
    ) -> None:
        """The UI through an internal ALB only: MLflow is never internet-facing."""
        cfg = args.config
        namespace = args.namespace
        if args.alb is None:
            raise ValueError("mlflow.ingressEnabled needs ALB settings")
        if args.alb.scheme != "internal":
            raise ValueError("the MLflow ALB must be internal")
        if args.alb.certificate_arn is None:
            pulumi.log.warn(
                "mlflow.ingressCertificateArn is not set: the internal MLflow ALB serves plain HTTP on port 80",
                resource=self,
            )
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={
                "name": NAME,
                "namespace": namespace,
                "labels": labels,
                "annotations": kube.alb_annotations(args.alb),
            },
            spec={
                "ingress_class_name": "alb",
                "rules": [
                    {
                        "host": cfg.ingress_host,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "path_type": "Prefix",
                                    "backend": {"service": {"name": service.metadata.name, "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
            opts=child,
        )
