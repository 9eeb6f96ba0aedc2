"""Start and stop the real servers of the local edition, each on loopback, with its state and log in a folder.

Used by `make demo` (local/__main__.py, local/stack.py) and by the test fixtures (tests/servers.py), so tests run
exactly what the demo runs. The process plumbing (spawn, PID files, readiness waits) lives in local/processes.py.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from local.processes import (
    HOST,
    VENV_BIN,
    Process,
    StartError,
    free_port,
    http_ok,
    port_in_use,
    require_free,
    spawn,
    wait_until,
)

# ----------------------------------------------------------------------------------------------- Redis


@dataclass(frozen=True)
class TlsFiles:
    """A CA, and a server certificate + key signed by it, for `rediss://` in tests."""

    ca_cert: Path
    cert: Path
    key: Path


@dataclass
class RedisServer:
    process: Process
    port: int
    password: str
    tls: TlsFiles | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://:{self.password}@{HOST}:{self.port}/0"

    def stop(self) -> None:
        self.process.stop()


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise StartError("redis-server is not installed; run `make system-deps` as root (Debian package redis-server)")
    return found


def start_redis(
    state_dir: Path, port: int, password: str | None = None, tls: TlsFiles | None = None, name: str = "redis"
) -> RedisServer:
    """Redis with AUTH, bound to loopback, no persistence (it is a cache), optionally TLS-only."""
    require_free(port, "Redis", "REDIS_PORT")
    password = password or secrets.token_urlsafe(24)
    data = state_dir / name
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "redis.conf"
    lines = [
        f"bind {HOST}",
        "protected-mode yes",
        f"dir {data}",
        'save ""',
        "appendonly no",
        "maxmemory 256mb",
        "maxmemory-policy allkeys-lru",
        f"requirepass {password}",
    ]
    if tls:
        lines += [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {tls.cert}",
            f"tls-key-file {tls.key}",
            f"tls-ca-cert-file {tls.ca_cert}",
            "tls-auth-clients no",
        ]
    else:
        lines.append(f"port {port}")
    # The password is in a 0600 file, never on a command line that `ps` shows.
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o600)
    proc = spawn(name, [redis_server_binary(), str(conf)], state_dir)
    server = RedisServer(process=proc, port=port, password=password, tls=tls)
    wait_until(proc, lambda: _redis_ping(server), 15, f"redis-server on {HOST}:{port}")
    return server


def _redis_ping(server: RedisServer) -> bool:
    import redis

    client = redis.Redis.from_url(
        server.url,
        socket_timeout=1,
        socket_connect_timeout=1,
        **({"ssl_ca_certs": str(server.tls.ca_cert)} if server.tls else {}),
    )
    try:
        return bool(client.ping())
    finally:
        client.close()


def make_tls_files(directory: Path, common_name: str = HOST) -> TlsFiles:
    """A self-signed CA and a server certificate for `common_name` (IP SAN), with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text(f"subjectAltName=IP:{common_name},DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=local-test-ca",
        "-keyout", str(ca_key), "-out", str(ca_cert))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    for path in (ca_key, key):
        path.chmod(0o600)
    return TlsFiles(ca_cert=ca_cert, cert=cert, key=key)


# ------------------------------------------------------------------------------------- S3 (SeaweedFS)


@dataclass
class S3Server:
    process: Process
    port: int
    access_key: str
    secret_key: str
    bucket: str

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client_env(self) -> dict[str, str]:
        """What an S3 client (boto3, MLflow's artifact repo) needs to reach this store."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        self.process.stop()


def _port_pair() -> tuple[int, int]:
    """An HTTP port and its gRPC twin at +10000 (SeaweedFS's convention), both free."""
    for _ in range(50):
        port = free_port()
        if port + 10000 < 65536 and not port_in_use(port + 10000):
            return port, port + 10000
    raise StartError("could not find a free port pair for SeaweedFS")


def start_seaweedfs(
    state_dir: Path, s3_port: int, bucket: str = "mlflow", access_key: str | None = None, secret_key: str | None = None
) -> S3Server:
    """SeaweedFS all-in-one (`weed mini`) with only loopback listeners, telemetry and admin UI off, bucket made."""
    require_free(s3_port, "the S3 store (SeaweedFS)", "S3_PORT")
    access_key = access_key or "local" + secrets.token_hex(6)
    secret_key = secret_key or secrets.token_urlsafe(24)
    data = state_dir / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    ports: dict[str, tuple[int, int]] = {c: _port_pair() for c in ("master", "volume", "filer", "admin")}
    argv = [
        str(VENV_BIN / "weed"),
        "mini",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        f"-bucket={bucket}",
        f"-s3.port={s3_port}",
        *(f"-{c}.port={http}" for c, (http, _) in ports.items()),
        *(f"-{c}.port.grpc={grpc}" for c, (_, grpc) in ports.items()),
    ]
    # `weed mini` creates its first S3 identity from these, so the store never accepts anonymous writes.
    env = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    # `weed mini` also opens Iceberg and Lance listeners with no flag for their ports: it probes from 8181 and
    # 9101 upwards, and another store starting at the same moment can take the port between probe and bind.
    # That loses a race, not a configuration: start again (the ports it probes are then taken for certain).
    for attempt in range(3):
        proc = spawn("seaweedfs", argv, state_dir, env=env)
        server = S3Server(process=proc, port=s3_port, access_key=access_key, secret_key=secret_key, bucket=bucket)
        try:
            wait_until(proc, functools.partial(_bucket_exists, server), 60, f"weed mini with S3 on {HOST}:{s3_port}")
        except StartError as e:
            if attempt == 2 or "address already in use" not in str(e) or port_in_use(s3_port):
                raise
            proc.stop()
            continue
        return server
    raise AssertionError("unreachable")


def _bucket_exists(server: S3Server) -> bool:
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    s3.head_bucket(Bucket=server.bucket)
    return True


# ------------------------------------------------------------------------------------------ PostgreSQL


@dataclass
class PostgresServer:
    process: Process
    port: int
    user: str
    password: str
    database: str

    @property
    def uri(self) -> str:
        """libpq form, for psql and psycopg2."""
        return f"postgresql://{self.user}:{self.password}@{HOST}:{self.port}/{self.database}"

    @property
    def sqlalchemy_uri(self) -> str:
        """MLflow's backend-store form: SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URI."""
        return self.uri.replace("postgresql://", "postgresql+psycopg2://", 1)

    def stop(self) -> None:
        self.process.stop()


def postgres_bin(tool: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True):
        return str(candidate)
    found = shutil.which(tool)
    if found is None:
        raise StartError(f"PostgreSQL's {tool} is not installed; run `make system-deps` as root (package postgresql)")
    return found


def start_postgres(state_dir: Path, port: int, database: str = "mlflow", user: str = "mlflow") -> PostgresServer:
    """A PostgreSQL cluster of our own under `state_dir`, loopback only, password (scram) auth."""
    require_free(port, "PostgreSQL", "PG_PORT")
    # PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` system user and lives
    # where that user can reach it (a root-only parent such as /root or pytest's tmp would lock it out);
    # `<state_dir>/postgres` then links to it, so the path is the same either way.
    run_as = "postgres" if os.geteuid() == 0 else None
    link = state_dir / "postgres"
    state_dir.mkdir(parents=True, exist_ok=True)
    if run_as and not link.exists():
        digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
        home = Path(tempfile.gettempdir()) / f"platform-postgres-{digest}"
        home.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(home, run_as, run_as)
        link.unlink(missing_ok=True)
        link.symlink_to(home)
    data = link.resolve() / "data" if run_as else link
    password_file = state_dir / "postgres.password"
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        data.mkdir(parents=True, exist_ok=True)
        password_file.write_text(secrets.token_urlsafe(24))
        password_file.chmod(0o600)
        pwfile = data.parent / "initdb.pw" if run_as else password_file
        if run_as:
            shutil.copy(password_file, pwfile)
            for path in (data, pwfile):
                shutil.chown(path, run_as, run_as)
        initdb = [postgres_bin("initdb"), "-D", str(data), "-U", user, f"--pwfile={pwfile}",
                  "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions"]  # fmt: skip
        if run_as:
            initdb = ["runuser", "-u", run_as, "--", *initdb]
        done = subprocess.run(initdb, capture_output=True, text=True)
        if run_as:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise StartError(f"initdb failed: {done.stderr.strip()[-2000:]}")
    password = password_file.read_text().strip()
    argv = [postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-c", f"listen_addresses={HOST}",
            "-c", f"unix_socket_directories={data}"]  # fmt: skip
    proc = spawn("postgres", argv, state_dir, user=run_as, cwd=Path(tempfile.gettempdir()))
    server = PostgresServer(process=proc, port=port, user=user, password=password, database=database)
    wait_until(proc, lambda: _pg_ready(server), 30, f"postgres on {HOST}:{port}")
    if fresh:
        _pg_create_database(server)
    return server


def _pg_ready(server: PostgresServer) -> bool:
    import psycopg2

    conn = psycopg2.connect(
        host=HOST, port=server.port, user=server.user, password=server.password, dbname="postgres", connect_timeout=1
    )
    conn.close()
    return True


def _pg_create_database(server: PostgresServer) -> None:
    import psycopg2

    conn = psycopg2.connect(host=HOST, port=server.port, user=server.user, password=server.password, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (server.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{server.database}"')
    conn.close()


# ---------------------------------------------------------------------------------------------- MLflow


@dataclass
class MlflowServer:
    process: Process
    port: int
    backend_store_uri: str
    admin_username: str | None = None
    admin_password: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # `--expose-prometheus`: the workers' multiprocess files, which the metrics listener sums (local/prometheus.py).
    metrics_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self.process.stop()


def start_mlflow(
    state_dir: Path,
    port: int,
    s3: S3Server,
    backend_store_uri: str | None = None,
    artifacts_prefix: str = "artifacts",
    workers: int = 1,
    basic_auth: bool = False,
    default_permission: str = "NO_PERMISSIONS",
    auth_cache_ttl_s: int = 0,
) -> MlflowServer:
    """`mlflow server` with proxied artifacts on the S3 store, one worker, job execution off, loopback only, and
    its Prometheus metrics on `/metrics` (behind basic auth when that is on, as every route but /health), which
    the metrics listener serves on a port of its own (local/prometheus.py start_mlflow_metrics_listener).

    With `basic_auth`, MLflow's basic-auth app is on and the admin password is generated (clients then need
    MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD); `default_permission` is what a non-admin user has on
    what it did not create (the cloud's server uses READ, infra/mlflow.py). `auth_cache_ttl_s` is MLflow's
    `auth_cache_ttl_seconds`: 0 (MLflow's default) checks the password hash on every request, a second or more
    per request on a busy machine; above 0 a worker remembers a successful login that long.
    """
    require_free(port, "the MLflow server", "MLFLOW_PORT")
    data = state_dir / "mlflow"
    data.mkdir(parents=True, exist_ok=True)
    backend = backend_store_uri or f"sqlite:///{data / 'mlflow.db'}"
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--host", HOST,
        "--port", str(port),
        "--workers", str(workers),
        "--backend-store-uri", backend,
        "--artifacts-destination", f"s3://{s3.bucket}/{artifacts_prefix}",
        "--serve-artifacts",
        "--allowed-hosts", f"{HOST}:{port},localhost:{port}",
        # /metrics for Prometheus (prometheus-flask-exporter), summed over the workers through this directory.
        "--expose-prometheus", str(metrics_dir := _metrics_dir(data)),
    ]  # fmt: skip
    env = {**s3.client_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1"}
    admin_user = admin_password = None
    if basic_auth:
        admin_user, admin_password = "admin", _auth_password(data)
        auth_ini = data / "basic_auth.ini"
        auth_ini.write_text(
            "[mlflow]\n"
            f"default_permission = {default_permission}\n"
            f"database_uri = sqlite:///{data / 'mlflow-auth.db'}\n"
            f"admin_username = {admin_user}\n"
            f"admin_password = {admin_password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            f"auth_cache_ttl_seconds = {auth_cache_ttl_s}\n"
        )
        auth_ini.chmod(0o600)
        argv += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(auth_ini)
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)
    proc = spawn("mlflow", argv, state_dir, env=env)
    server = MlflowServer(
        process=proc,
        port=port,
        backend_store_uri=backend,
        admin_username=admin_user,
        admin_password=admin_password,
        metrics_dir=metrics_dir,
    )
    wait_until(proc, lambda: http_ok(f"{server.url}/health"), 90, f"mlflow server on {HOST}:{port}")
    return server


def _metrics_dir(data: Path) -> Path:
    """Emptied at each start: the multiprocess files of a previous run's workers would add to this run's counts."""
    path = data / "prometheus-metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _auth_password(state_dir: Path) -> str:
    """The admin password persists with the auth database: a re-run must be able to log in again."""
    path = state_dir / "mlflow-admin.password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def remove_state(state_dir: Path) -> None:
    """Delete a stopped stack's state, including a PostgreSQL cluster kept outside it (see start_postgres)."""
    link = state_dir / "postgres"
    if link.is_symlink():
        shutil.rmtree(link.resolve(), ignore_errors=True)
    shutil.rmtree(state_dir, ignore_errors=True)
