"""Tear a stack down so that `pulumi destroy` completes (docs/operations.md, "Teardown").

    python scripts/teardown.py STACK [--yes]      (or: make teardown STACK=...)

1. The pull-request previews on STACK's cluster (stacks `pr-*` whose preview.baseStack is STACK) are destroyed
   and removed first: their ALBs and security groups live in STACK's VPC, and the LB controller that deletes them
   runs on STACK's cluster.
2. Deletion protection is lifted: `teardown.releaseProtection` (and `database.applyImmediately`) is set and applied
   to the RDS instance and the Ingresses only (`pulumi up --target`), so the ALBs' attribute and RDS's flag are
   off. A protected database still leaves its final snapshot.
3. STACK is destroyed. Buckets and ECR repositories are emptied only where `teardown.allowDataLoss` is true (dev);
   elsewhere the destroy stops at the first non-empty one, and says so.

Nothing happens before the operator types the stack's name (or passes --yes). Runs the `pulumi` on PATH.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PREVIEW_PREFIX = "pr-"
# What carries deletion protection in a full stack (infra/database.py, infra/kube.py alb_annotations).
PROTECTED_TYPES = ("aws:rds/instance:Instance", "kubernetes:networking.k8s.io/v1:Ingress")


class TeardownError(RuntimeError):
    """A step failed; the message says which and what to do."""


@dataclass(frozen=True)
class Pulumi:
    """The `pulumi` CLI, one call at a time; output captured, failures raised with the command line."""

    executable: str = "pulumi"

    def run(self, *args: str, capture: bool = True) -> str:
        command = [self.executable, *args]
        print("+ " + " ".join(command), flush=True)
        done = subprocess.run(command, capture_output=capture, text=True, check=False)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout or "").strip() if capture else ""
            said = f": {detail}" if detail else ""
            raise TeardownError(f"`{' '.join(command)}` failed (exit {done.returncode}){said}")
        return done.stdout or ""

    def config(self, stack: str, key: str) -> str | None:
        """A config value of `stack`, or None when the key is not set (pulumi exits non-zero then)."""
        try:
            return self.run("config", "get", key, "--stack", stack).strip()
        except TeardownError:
            return None


def previews_of(pulumi: Pulumi, stack: str) -> list[str]:
    """The `pr-*` stacks whose preview.baseStack names `stack` (bare or organization/project/stack)."""
    stacks = json.loads(pulumi.run("stack", "ls", "--json"))
    found = []
    for entry in stacks:
        name = str(entry["name"]).rsplit("/", 1)[-1]
        if not name.startswith(PREVIEW_PREFIX):
            continue
        base = pulumi.config(name, "preview.baseStack")
        if base is not None and base.rsplit("/", 1)[-1] == stack:
            found.append(name)
    return sorted(found)


def protected_urns(pulumi: Pulumi, stack: str) -> list[str]:
    """URNs of what refuses deletion while protected, from the stack's state."""
    state = json.loads(pulumi.run("stack", "export", "--stack", stack))
    resources = state.get("deployment", {}).get("resources") or []
    return [str(r["urn"]) for r in resources if r.get("type") in PROTECTED_TYPES]


def teardown(stack: str, *, pulumi: Pulumi, confirm: Callable[[str], str] | None) -> None:
    if stack.startswith(PREVIEW_PREFIX):
        # A preview has no protection to lift and no previews of its own.
        plan_previews: list[str] = []
    else:
        plan_previews = previews_of(pulumi, stack)
    print(f"Teardown of stack {stack!r}:")
    for preview in plan_previews:
        print(f"  - destroy and remove preview stack {preview!r} (its ALB is in {stack}'s VPC)")
    if not stack.startswith(PREVIEW_PREFIX):
        print("  - set teardown.releaseProtection=true and apply it to the database and the Ingresses (up --target)")
    print(f"  - destroy {stack!r} (buckets and repositories are emptied only if teardown.allowDataLoss is true)")
    if confirm is not None and confirm(f"Type the stack name ({stack}) to go on: ").strip() != stack:
        raise TeardownError("not confirmed: nothing was changed")

    for preview in plan_previews:
        pulumi.run("destroy", "--stack", preview, "--yes", "--skip-preview", capture=False)
        pulumi.run("stack", "rm", preview, "--yes")
    if not stack.startswith(PREVIEW_PREFIX):
        pulumi.run("config", "set", "teardown.releaseProtection", "true", "--stack", stack)
        # Not queued for a maintenance window that comes after the destroy.
        pulumi.run("config", "set", "database.applyImmediately", "true", "--stack", stack)
        targets = protected_urns(pulumi, stack)
        if targets:
            pulumi.run(
                "up",
                "--stack",
                stack,
                "--yes",
                "--skip-preview",
                *[arg for urn in targets for arg in ("--target", urn)],
                capture=False,
            )
    try:
        pulumi.run("destroy", "--stack", stack, "--yes", "--skip-preview", capture=False)
    except TeardownError as e:
        raise TeardownError(
            f"{e}. If a bucket or an ECR repository was not empty, this stack keeps its data on destroy "
            "(teardown.allowDataLoss is false): empty them (or set teardown.allowDataLoss only if the data may go), "
            "then run this again."
        ) from e


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("stack", help="the stack to destroy (dev, staging, prod, pr-<N>)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    try:
        teardown(args.stack, pulumi=Pulumi(), confirm=None if args.yes else input)
    except (TeardownError, EOFError) as e:
        print(f"teardown stopped: {e}", file=sys.stderr)
        return 1
    print(f"teardown of {args.stack!r} complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
