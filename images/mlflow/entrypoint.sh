#!/bin/sh
# Runs `mlflow "$@"` after loading secrets from files: for each variable below, when <NAME>_FILE names a file
# (a mounted Kubernetes Secret), its content becomes <NAME>. `mlflow server` reads MLFLOW_BACKEND_STORE_URI as
# --backend-store-uri, so the URI never passes through the command line (where `ps` shows it), and the secrets
# never sit in the pod spec as environment values. In the cluster the URI holds no database password at all: it
# names libpq's password file, which the pgpass sidecar keeps (images/mlflow/pgpass.py).
set -eu

load_from_file() {
    name="$1"
    eval "file=\${${name}_FILE:-}"
    [ -n "$file" ] || return 0
    if [ ! -r "$file" ]; then
        echo "mlflow-entrypoint: ${name}_FILE=$file is not a readable file" >&2
        exit 64
    fi
    value="$(cat "$file")"
    if [ -z "$value" ]; then
        echo "mlflow-entrypoint: ${name}_FILE=$file is empty" >&2
        exit 64
    fi
    export "$name=$value"
}

for variable in MLFLOW_BACKEND_STORE_URI MLFLOW_FLASK_SERVER_SECRET_KEY; do
    load_from_file "$variable"
done

exec mlflow "$@"
