#!/usr/bin/env python3
"""Pull-request preview stacks `pr-<N>`: write their config, destroy one, sweep the stale ones.

    preview_stacks.py config  --pr 42 [--image <registry>/mlp-dev/inference@sha256:<digest>]
    preview_stacks.py destroy --pr 42
    preview_stacks.py sweep   --ttl-hours 72 [--dry-run]

`config` regenerates `Pulumi.pr-<N>.yaml` from the template `Pulumi.preview.yaml` on every run instead of using
`pulumi stack init --copy-config-from`: that copies once, at creation, and needs a real `preview` stack, so a
change to the template would never reach a preview that already exists. A regenerated file cannot carry
`secure:` values (they are encrypted for one stack only), so the template must hold none: a preview stack reads
its secrets from the dev stack through its StackReference.

Without `--image` (what preview.yml runs) the preview's `pulumi up` builds the pull request's inference image and
pushes it to the dev stack's inference repository (platform:images.build, infra/images.py); `--image` instead
deploys a digest CI pushed, and turns the build off.

Run from the Pulumi project root, with the Pulumi CLI on PATH (or `--pulumi`) and logged in.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

TEMPLATE = "Pulumi.preview.yaml"
PR_NUMBER_KEY = "platform:preview.prNumber"
IMAGE_KEY = "platform:inference.image"
BUILD_KEY = "platform:images.build"
PREVIEW_STACK = re.compile(r"pr-(?P<number>[1-9][0-9]{0,8})")
# Only a digest: what the preview runs must be what was pushed, whatever happens to tags (infra/config/images.py).
DIGEST_REF = re.compile(r"[a-z0-9.-]+(:\d+)?/[a-z0-9._-]+(/[a-z0-9._-]+)*@sha256:[0-9a-f]{64}")


class PreviewStackError(ValueError):
    """A bad argument, template or CLI answer; the message names what is wrong."""


def parse_pr_number(raw: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,8}", raw.strip()):
        raise PreviewStackError(f"--pr must be a pull-request number (a positive integer), got {raw!r}")
    return int(raw)


def parse_ttl_hours(raw: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,4}", raw.strip()):
        raise PreviewStackError(f"--ttl-hours must be a positive whole number of hours, got {raw!r}")
    return int(raw)


def stack_name(pr: int) -> str:
    if pr < 1:
        raise PreviewStackError(f"a pull-request number must be >= 1, got {pr}")
    return f"pr-{pr}"


def validate_image(image: str) -> str:
    """A digest reference `<registry>/<repository>@sha256:<64 hex>`; a tag could be moved or expire."""
    if not DIGEST_REF.fullmatch(image):
        raise PreviewStackError(
            f"--image must be a digest reference <registry>/<repository>@sha256:<64 hex>, got {image!r}"
        )
    return image


def render_config(template: object, pr: int, image: str | None) -> dict[str, Any]:
    """The stack file of `pr-<pr>`: the template's config plus the PR number and, when given, the prebuilt image."""
    if not isinstance(template, Mapping) or not isinstance(template.get("config"), Mapping):
        raise PreviewStackError(f"{TEMPLATE} must be a mapping with a `config:` mapping")
    config: dict[str, Any] = {}
    for key, value in template["config"].items():
        if not isinstance(key, str):
            raise PreviewStackError(f"{TEMPLATE}: config key {key!r} must be a string")
        if isinstance(value, Mapping) and "secure" in value:
            raise PreviewStackError(
                f"{TEMPLATE}: {key} is a secret (secure:), which cannot be copied to another stack; "
                "read it from the dev stack through the StackReference instead"
            )
        config[key] = value
    config[PR_NUMBER_KEY] = str(pr)
    if image is not None:
        config[IMAGE_KEY] = validate_image(image)
        config[BUILD_KEY] = "false"
    rendered = {k: v for k, v in template.items() if k not in ("config", "encryptionsalt", "secretsprovider")}
    rendered["config"] = config
    return rendered


def write_config(root: Path, pr: int, image: str | None) -> Path:
    template_path = root / TEMPLATE
    if not template_path.is_file():
        raise PreviewStackError(f"{template_path} is missing: preview stacks are created from it")
    rendered = render_config(yaml.safe_load(template_path.read_text()), pr, image)
    target = root / f"Pulumi.{stack_name(pr)}.yaml"
    header = f"# Generated from {TEMPLATE} by .github/scripts/preview_stacks.py; not committed.\n"
    target.write_text(header + yaml.safe_dump(rendered, sort_keys=False))
    return target


@dataclass(frozen=True)
class StackSummary:
    """One row of `pulumi stack ls --json`."""

    name: str
    last_update: datetime | None
    update_in_progress: bool

    @property
    def pr_number(self) -> int | None:
        # Only a bare `pr-<N>`: the CLI qualifies (`org/pr-<N>`, `org/project/pr-<N>`) the stacks of other orgs
        # and projects, and those are not this repository's previews.
        match = PREVIEW_STACK.fullmatch(self.name)
        return int(match["number"]) if match else None


def parse_timestamp(what: str, raw: object) -> datetime:
    """An ISO 8601 timestamp (the CLI prints `2026-01-01T10:00:00.000Z`); one without a zone is UTC."""
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError as e:
        raise PreviewStackError(f"{what} must be an ISO 8601 timestamp, got {raw!r}") from e
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_stack_list(raw: str) -> list[StackSummary]:
    try:
        rows = json.loads(raw)
    except json.JSONDecodeError as e:
        raise PreviewStackError(f"`pulumi stack ls --json` did not print JSON: {e}") from e
    if not isinstance(rows, list):
        raise PreviewStackError("`pulumi stack ls --json` must print a list of stacks")
    stacks = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise PreviewStackError(f"`pulumi stack ls --json`: each stack needs a string `name`, got {row!r}")
        last_update = row.get("lastUpdate")
        parsed = None if last_update is None else parse_timestamp(f"stack {row['name']}: lastUpdate", last_update)
        stacks.append(
            StackSummary(name=row["name"], last_update=parsed, update_in_progress=bool(row.get("updateInProgress")))
        )
    return stacks


@dataclass(frozen=True)
class Decision:
    stack: StackSummary
    action: Literal["destroy", "keep"]
    reason: str


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}h"


def judge(stack: StackSummary, now: datetime, ttl: timedelta) -> Decision:
    """Destroy a `pr-<N>` stack only when idle and last updated longer than `ttl` ago; keep everything else."""
    if stack.pr_number is None:
        return Decision(stack, "keep", "not a preview stack")
    if stack.update_in_progress:
        return Decision(stack, "keep", "an update is in progress")
    if stack.last_update is None:
        # Created but never updated: it holds no resources, and it may be a preview about to run its first up.
        return Decision(stack, "keep", "never updated, holds no resources")
    age = now - stack.last_update
    if age > ttl:
        return Decision(stack, "destroy", f"last update {_hours(age)} ago, over the TTL {_hours(ttl)}")
    return Decision(stack, "keep", f"last update {_hours(age)} ago, within the TTL {_hours(ttl)}")


def decide(stacks: Sequence[StackSummary], now: datetime, ttl: timedelta) -> list[Decision]:
    if ttl <= timedelta(0):
        raise PreviewStackError(f"the TTL must be positive, got {ttl}")
    return [judge(stack, now, ttl) for stack in stacks]


class Pulumi:
    """The few Pulumi CLI commands this script runs, in the project root."""

    def __init__(self, executable: str, root: Path) -> None:
        self.executable = executable
        self.root = root

    def _run(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(
            [self.executable, *args, "--non-interactive"],
            cwd=self.root,
            check=False,
            text=True,
            stdout=subprocess.PIPE if capture else None,
        )
        if result.returncode != 0:
            raise PreviewStackError(f"`pulumi {' '.join(args)}` exited with {result.returncode}")
        return result.stdout if capture else ""

    def list_stacks(self) -> list[StackSummary]:
        return parse_stack_list(self._run("stack", "ls", "--json", capture=True))

    def destroy_and_remove(self, stack: StackSummary) -> None:
        pr = stack.pr_number
        if pr is None:
            raise PreviewStackError(f"refusing to destroy {stack.name}: not a preview stack")
        # Destroy runs no program, but the provider config of the template (region) must be there.
        write_config(self.root, pr, image=None)
        self._run("destroy", "--yes", "--skip-preview", "--stack", stack.name)
        self._run("stack", "rm", "--yes", "--stack", stack.name)


def _command_config(args: argparse.Namespace) -> int:
    pr = parse_pr_number(args.pr)
    path = write_config(Path(args.root), pr, args.image)
    print(f"wrote {path.name} for stack {stack_name(pr)}")
    return 0


def _command_destroy(args: argparse.Namespace) -> int:
    pr = parse_pr_number(args.pr)
    pulumi = Pulumi(args.pulumi, Path(args.root))
    matches = [s for s in pulumi.list_stacks() if s.pr_number == pr]
    if not matches:
        print(f"no stack {stack_name(pr)}: nothing to clean up")
        return 0
    for stack in matches:
        pulumi.destroy_and_remove(stack)
        print(f"destroyed and removed {stack.name}")
    return 0


def _command_sweep(args: argparse.Namespace) -> int:
    ttl_hours = parse_ttl_hours(args.ttl_hours)
    now = parse_timestamp("--now", args.now) if args.now else datetime.now(UTC)
    pulumi = Pulumi(args.pulumi, Path(args.root))
    failures = []
    for decision in decide(pulumi.list_stacks(), now, timedelta(hours=ttl_hours)):
        print(f"{decision.action:8} {decision.stack.name}: {decision.reason}")
        if decision.action != "destroy" or args.dry_run:
            continue
        try:
            pulumi.destroy_and_remove(decision.stack)
        except PreviewStackError as e:
            # One stuck stack (locked, say) must not keep the others alive; the run still fails at the end.
            print(f"failed   {decision.stack.name}: {e}", file=sys.stderr)
            failures.append(decision.stack.name)
    if failures:
        print(f"could not destroy: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".", help="the Pulumi project root (default: .)")
    parser.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI to run (default: pulumi on PATH)")
    commands = parser.add_subparsers(dest="command", required=True)

    config = commands.add_parser("config", help=f"write Pulumi.pr-<N>.yaml from {TEMPLATE}")
    config.add_argument("--pr", required=True, help="the pull-request number")
    config.add_argument(
        "--image",
        help=f"a prebuilt inference image for {IMAGE_KEY} (a digest); default: `pulumi up` builds it",
    )
    config.set_defaults(run=_command_config)

    destroy = commands.add_parser("destroy", help="destroy and remove stack pr-<N>, if it exists")
    destroy.add_argument("--pr", required=True, help="the pull-request number")
    destroy.set_defaults(run=_command_destroy)

    sweep = commands.add_parser("sweep", help="destroy and remove preview stacks idle for longer than the TTL")
    sweep.add_argument("--ttl-hours", required=True, help="how long a preview may go without an update")
    sweep.add_argument("--dry-run", action="store_true", help="print the decisions, destroy nothing")
    sweep.add_argument("--now", help="ISO timestamp to judge ages against (default: the current time)")
    sweep.set_defaults(run=_command_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except PreviewStackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
