"""Write every Kubernetes object a stack would create as YAML, one file per object, for review and scanning.

    python -m tests.infra.render_manifests prod [--out build/manifests]

The stack runs under the offline harness (no cloud, no cluster), so Secrets hold the mocks' stand-in values.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.infra.harness import ROOT, Recording, run_stack

# Objects in the order a reader (and `kubectl apply -f`) wants them: namespaces and policies first.
KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "Job",
    "CronJob",
)


def ordered(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stable order (registration order varies with how Outputs resolve), so renders diff cleanly."""

    def key(m: dict[str, Any]) -> tuple[int, str, str, str]:
        rank = KIND_ORDER.index(m["kind"]) if m["kind"] in KIND_ORDER else len(KIND_ORDER)
        return rank, m["kind"], m["metadata"].get("namespace") or "", m["metadata"]["name"]

    return sorted(manifests, key=key)


def manifest_filename(index: int, manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    parts = [f"{index:03d}", manifest["kind"], meta.get("namespace") or "cluster", meta["name"]]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(parts)).lower() + ".yaml"


def write_manifests(recording: Recording, out_dir: Path) -> list[Path]:
    """Replace `out_dir`'s contents with one YAML file per object, in registration order."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    written = []
    for index, manifest in enumerate(ordered(recording.kubernetes_manifests())):
        path = out_dir / manifest_filename(index, manifest)
        path.write_text(yaml.safe_dump(manifest, sort_keys=True))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="a stack with a Pulumi.<stack>.yaml: dev, staging, prod or your own")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "manifests", help="parent of <stack>/")
    ns = parser.parse_args(argv)
    written = write_manifests(run_stack(ns.stack), ns.out / ns.stack)
    print(f"wrote {len(written)} manifests to {ns.out / ns.stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
