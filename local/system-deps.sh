#!/usr/bin/env bash
# Installs the Debian packages the tests and the local edition run as real servers
# (redis-server; PostgreSQL for the production backend-store path; Prometheus, whose promtool tests the alert
# rules, and the Redis exporter it scrapes in `make demo`) and the load generator of the reliability suite and
# the benchmark (wrk), when run as root and missing.
# Not root: says what is missing and carries on, so a developer can install it their own way.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# Debian's prometheus package ships /usr/bin/prometheus and /usr/bin/promtool.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-redis-exporter >/dev/null 2>&1 || missing+=(prometheus-redis-exporter)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services on install; the project runs its own on free ports instead.
for svc in redis-server postgresql prometheus prometheus-redis-exporter; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
