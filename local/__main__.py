"""`python -m local up|down|clean|status`: the one-command local edition (what `make demo` runs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from local.demo_models import DEMO_MODELS
from local.processes import StartError
from local.stack import ALIAS, REPO, LocalStack, Ports


def _stack(db: str = "sqlite", model: str = "diabetes") -> LocalStack:
    state = Path(os.environ.get("LOCAL_STATE_DIR", REPO / ".local"))
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    if not workers.isdigit() or int(workers) < 1:
        raise StartError(f"WEB_CONCURRENCY must be a positive whole number (got {workers!r})")
    return LocalStack(
        state_dir=state,
        ports=Ports.from_env(),
        db="postgres" if db == "postgres" else "sqlite",
        workers=int(workers),
        demo=DEMO_MODELS[model],
    )


def up(db: str, model: str) -> int:
    stack = _stack(db, model)
    print(f"Starting the local edition ({db} backend store, {model} model), state and logs in {stack.state_dir}")
    urls = stack.up()
    service, mlflow = urls["service"], urls["mlflow"]
    name = stack.demo.model_name
    row = json.dumps(dict(stack.demo.sample_row))
    data = " ".join(stack.demo.data_args(stack.state_dir))
    print(
        f"""
ready.
  sample prediction    {urls["sample"]}
  inference service    {service}   (serves models:/{name}@{ALIAS}, reloads on promotion)
  API docs             {service}/docs
  health, metrics      {service}/health   {service}/metrics
  MLflow UI + registry {mlflow}
  Prometheus           {urls["prometheus"]}/graph   (the service, Redis, alerts: {urls["prometheus"]}/alerts)
  S3 store (SeaweedFS) {urls["s3"]}

try it:
  curl -s {service}/predict -H 'Content-Type: application/json' \\
       -d '{{"instances": [{row}]}}'

train and promote a new version (the service switches within seconds, no restart):
  MLFLOW_TRACKING_URI={mlflow} .venv/bin/python -m training train --model-name {name} {data}
  MLFLOW_TRACKING_URI={mlflow} .venv/bin/python -m training promote <version> --model-name {name} --alias {ALIAS}

stop:  make demo-down      (make demo-clean also deletes {stack.state_dir})
"""
    )
    return 0


def down() -> int:
    stopped = _stack().down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def clean() -> int:
    stack = _stack()
    stack.clean()
    print(f"stopped everything and removed {stack.state_dir}")
    return 0


def status() -> int:
    running = _stack().running()
    print("running: " + (", ".join(running) if running else "nothing"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start the whole local topology")
    up_parser.add_argument("--db", choices=["sqlite", "postgres"], default=os.environ.get("DB") or "sqlite")
    up_parser.add_argument(
        "--model", choices=sorted(DEMO_MODELS), default=os.environ.get("DEMO_MODEL") or "diabetes",
        help="the demo model: diabetes (a regressor) or iris (a classifier answering class names)",
    )  # fmt: skip
    for name in ("down", "clean", "status"):
        sub.add_parser(name)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up(args.db, args.model)
        return {"down": down, "clean": clean, "status": status}[args.command]()
    except StartError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        print("hint: `make demo-down` stops anything left; logs are in the state folder", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
