"""Preview stacks: config from the template, and which stacks the janitor destroys (.github/scripts/preview_stacks.py).

No Pulumi CLI runs here, so the CLI is a small stand-in executable that answers `stack ls --json` with the samples
in tests/delivery/data (the CLI's JSON shape) and records every other command it is given.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".github" / "scripts" / "preview_stacks.py"
DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
TEMPLATE = {
    "config": {
        "aws:region": "us-east-1",
        "platform:mode": "preview",
        "platform:preview.baseStack": "acme/platform/dev",
        "platform:preview.modelAlias": "staging",
    }
}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("preview_stacks", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


ps: Any = _load_script()


def _sample(name: str) -> list[Any]:
    return list(ps.parse_stack_list((DATA / name).read_text()))


def _actions(decisions: list[Any]) -> dict[str, str]:
    return {d.stack.name: d.action for d in decisions}


# --- which stacks go ---------------------------------------------------------------------------------------------


def test_sweep_destroys_only_idle_preview_stacks_past_the_ttl() -> None:
    actions = _actions(ps.decide(_sample("stack_ls_cloud.json"), NOW, timedelta(hours=72)))
    assert {name for name, action in actions.items() if action == "destroy"} == {"pr-12", "pr-9"}
    assert set(actions) == {
        "acme-fork/pr-12",
        "dev",
        "pr-12",
        "pr-15",
        "pr-17",
        "pr-20",
        "pr-9",
        "preview",
        "prod",
        "staging",
    }


def test_environment_stacks_and_other_orgs_are_kept_however_old() -> None:
    decisions = ps.decide(_sample("stack_ls_cloud.json"), NOW, timedelta(hours=1))
    reasons = {d.stack.name: (d.action, d.reason) for d in decisions}
    for name in ("dev", "staging", "prod", "preview", "acme-fork/pr-12"):
        assert reasons[name] == ("keep", "not a preview stack"), name


def test_a_running_update_and_a_never_updated_stack_are_kept() -> None:
    decisions = {d.stack.name: d for d in ps.decide(_sample("stack_ls_cloud.json"), NOW, timedelta(hours=1))}
    assert decisions["pr-17"].action == "keep" and "in progress" in decisions["pr-17"].reason
    assert decisions["pr-20"].action == "keep" and "never updated" in decisions["pr-20"].reason


def test_a_longer_ttl_keeps_what_a_shorter_one_destroys() -> None:
    stacks = _sample("stack_ls_cloud.json")
    assert _actions(ps.decide(stacks, NOW, timedelta(hours=72)))["pr-12"] == "destroy"  # idle 90.3 h
    assert _actions(ps.decide(stacks, NOW, timedelta(hours=100)))["pr-12"] == "keep"
    assert _actions(ps.decide(stacks, NOW, timedelta(hours=1)))["pr-15"] == "destroy"  # idle 1.9 h


def test_a_stack_exactly_at_the_ttl_is_kept() -> None:
    stack = ps.StackSummary(name="pr-4", last_update=NOW - timedelta(hours=72), update_in_progress=False)
    assert ps.decide([stack], NOW, timedelta(hours=72))[0].action == "keep"
    older = ps.StackSummary(name="pr-4", last_update=NOW - timedelta(hours=72, seconds=1), update_in_progress=False)
    assert ps.decide([older], NOW, timedelta(hours=72))[0].action == "destroy"


def test_self_managed_backend_output_without_progress_field() -> None:
    actions = _actions(ps.decide(_sample("stack_ls_filestate.json"), NOW, timedelta(hours=72)))
    assert actions == {"dev": "keep", "pr-3": "destroy"}


@pytest.mark.parametrize("name", ["pr-0", "pr-01", "pr-", "pr-12a", "pr-12/x", "org/platform/pr-12", "PR-12", "dev"])
def test_only_bare_pr_numbers_count_as_preview_stacks(name: str) -> None:
    assert ps.StackSummary(name=name, last_update=None, update_in_progress=False).pr_number is None


def test_timestamps_are_read_in_the_clis_format_and_zone() -> None:
    (stack,) = ps.parse_stack_list('[{"name": "pr-1", "lastUpdate": "2026-10-06T17:40:02.000Z"}]')
    assert stack.last_update == datetime(2026, 10, 6, 17, 40, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "did not print JSON"),
        ('{"name": "pr-1"}', "must print a list of stacks"),
        ('[{"lastUpdate": "2026-10-06T17:40:02.000Z"}]', "each stack needs a string `name`"),
        ('[{"name": "pr-1", "lastUpdate": "yesterday"}]', "stack pr-1: lastUpdate must be an ISO 8601 timestamp"),
    ],
)
def test_unreadable_stack_lists_fail_saying_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(ps.PreviewStackError, match=message):
        ps.parse_stack_list(raw)


def test_a_non_positive_ttl_is_refused() -> None:
    with pytest.raises(ps.PreviewStackError, match="TTL must be positive"):
        ps.decide([], NOW, timedelta(0))


# --- config of pr-<N> from the template ----------------------------------------------------------------------------


def test_config_is_the_template_plus_pr_number() -> None:
    """What preview.yml writes: the preview's `pulumi up` builds its own image (images.build, default true)."""
    template = {**TEMPLATE, "encryptionsalt": "v1:abc"}
    assert ps.render_config(template, 42, None) == {"config": {**TEMPLATE["config"], "platform:preview.prNumber": "42"}}


def test_a_prebuilt_image_is_deployed_with_the_build_turned_off() -> None:
    image = "123.dkr.ecr.us-east-1.amazonaws.com/mlp-dev/inference@sha256:" + "a" * 64
    rendered = ps.render_config(TEMPLATE, 42, image)
    assert rendered == {
        "config": {
            **TEMPLATE["config"],
            "platform:preview.prNumber": "42",
            "platform:inference.image": image,
            "platform:images.build": "false",
        }
    }


def test_the_pr_number_overrides_one_left_in_the_template() -> None:
    template = {"config": {**TEMPLATE["config"], "platform:preview.prNumber": "1"}}
    assert ps.render_config(template, 7, None)["config"]["platform:preview.prNumber"] == "7"


def test_a_secret_in_the_template_is_refused_naming_the_key() -> None:
    template = {"config": {**TEMPLATE["config"], "platform:redis.authToken": {"secure": "v1:AAAA"}}}
    with pytest.raises(ps.PreviewStackError, match=r"platform:redis\.authToken is a secret \(secure:\)"):
        ps.render_config(template, 42, None)


@pytest.mark.parametrize("template", [None, [], {"config": ["a"]}, {"environment": ["x"]}])
def test_a_template_without_a_config_mapping_is_refused(template: object) -> None:
    with pytest.raises(ps.PreviewStackError, match="must be a mapping with a `config:` mapping"):
        ps.render_config(template, 42, None)


@pytest.mark.parametrize(
    "image",
    [
        "registry.example:5000/team/inference@sha256:" + "0" * 64,
        "123.dkr.ecr.us-east-1.amazonaws.com/mlp-dev/inference@sha256:" + "a" * 64,
    ],
)
def test_digest_references_are_accepted(image: str) -> None:
    assert ps.validate_image(image) == image


@pytest.mark.parametrize(
    "image",
    [
        "mlp-dev/inference:0a1b2c3",
        "registry.example/inference:latest",
        "registry.example/inference",
        "registry.example/inference@sha256:abc",
        "registry.example/inference:1@sha256:" + "a" * 64,
        "",
        "a b@sha256:" + "a" * 64,
    ],
)
def test_anything_but_a_digest_reference_is_refused(image: str) -> None:
    with pytest.raises(ps.PreviewStackError, match="--image must be a digest reference"):
        ps.validate_image(image)


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "1.5", "", "12 13", "1234567890"])
def test_bad_pr_numbers_are_refused_naming_the_flag(raw: str) -> None:
    with pytest.raises(ps.PreviewStackError, match="--pr must be a pull-request number"):
        ps.parse_pr_number(raw)


@pytest.mark.parametrize("raw", ["0", "-1", "2.5", "a day", ""])
def test_bad_ttls_are_refused_naming_the_flag(raw: str) -> None:
    with pytest.raises(ps.PreviewStackError, match="--ttl-hours must be a positive whole number"):
        ps.parse_ttl_hours(raw)


# --- the script as the workflows run it ----------------------------------------------------------------------------

FAKE_PULUMI = """\
import json, os, pathlib, sys
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
if args[:3] == ["stack", "ls", "--json"]:
    sys.stdout.write(pathlib.Path(os.environ["FAKE_STACKS"]).read_text())
    sys.exit(0)
entry = {"args": args}
if args[0] == "destroy":
    stack = args[args.index("--stack") + 1]
    config = pathlib.Path(f"Pulumi.{stack}.yaml")
    entry["config"] = __import__("yaml").safe_load(config.read_text())["config"] if config.exists() else None
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")
sys.exit(1 if " ".join(args) == os.environ.get("FAKE_FAIL") else 0)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root holding the template, and a stand-in `pulumi` beside it."""
    (tmp_path / "Pulumi.preview.yaml").write_text(yaml.safe_dump(TEMPLATE))
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\n{FAKE_PULUMI}")
    fake.chmod(0o755)
    return tmp_path


def _run(project: Path, *args: str, fail: str = "") -> tuple[int, str, list[dict[str, Any]]]:
    """Run the script as the workflows do; returns its exit code, output and the CLI commands it ran."""
    log = project / "pulumi.log"
    env = {**os.environ, "FAKE_STACKS": str(DATA / "stack_ls_cloud.json"), "FAKE_LOG": str(log), "FAKE_FAIL": fail}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(project), "--pulumi", str(project / "bin" / "pulumi"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result.returncode, result.stdout + result.stderr, calls


def test_sweep_destroys_then_removes_each_stale_stack_with_its_config_in_place(project: Path) -> None:
    code, output, calls = _run(project, "sweep", "--ttl-hours", "72", "--now", NOW.isoformat())
    assert code == 0, output
    assert [c["args"] for c in calls] == [
        ["destroy", "--yes", "--skip-preview", "--stack", "pr-12"],
        ["stack", "rm", "--yes", "--stack", "pr-12"],
        ["destroy", "--yes", "--skip-preview", "--stack", "pr-9"],
        ["stack", "rm", "--yes", "--stack", "pr-9"],
    ]
    # destroy ran with the template's provider config and the stack's own PR number
    assert calls[0]["config"] == {**TEMPLATE["config"], "platform:preview.prNumber": "12"}
    assert calls[2]["config"]["platform:preview.prNumber"] == "9"
    assert "keep     prod: not a preview stack" in output


def test_sweep_dry_run_destroys_nothing(project: Path) -> None:
    code, output, calls = _run(project, "sweep", "--ttl-hours", "72", "--dry-run", "--now", NOW.isoformat())
    assert code == 0, output
    assert calls == []
    assert "destroy  pr-12: last update 90.3h ago, over the TTL 72.0h" in output


def test_one_failed_destroy_does_not_spare_the_others_but_fails_the_run(project: Path) -> None:
    code, output, calls = _run(
        project,
        "sweep",
        "--ttl-hours",
        "72",
        "--now",
        NOW.isoformat(),
        fail="destroy --yes --skip-preview --stack pr-12",
    )
    assert code == 1
    assert ["destroy", "--yes", "--skip-preview", "--stack", "pr-9"] in [c["args"] for c in calls]
    assert ["stack", "rm", "--yes", "--stack", "pr-12"] not in [c["args"] for c in calls]
    assert "could not destroy: pr-12" in output


def test_destroy_of_a_closed_pr_removes_its_stack(project: Path) -> None:
    code, output, calls = _run(project, "destroy", "--pr", "15")
    assert code == 0, output
    assert [c["args"] for c in calls] == [
        ["destroy", "--yes", "--skip-preview", "--stack", "pr-15"],
        ["stack", "rm", "--yes", "--stack", "pr-15"],
    ]


def test_destroy_of_a_pr_without_a_stack_does_nothing(project: Path) -> None:
    code, output, calls = _run(project, "destroy", "--pr", "404")
    assert (code, calls) == (0, [])
    assert "no stack pr-404: nothing to clean up" in output


def test_config_writes_the_stack_file_the_cli_reads(project: Path) -> None:
    image = "123.dkr.ecr.us-east-1.amazonaws.com/mlp-dev/inference@sha256:" + "b" * 64
    code, output, _ = _run(project, "config", "--pr", "42", "--image", image)
    assert code == 0, output
    written = yaml.safe_load((project / "Pulumi.pr-42.yaml").read_text())
    assert written["config"]["platform:inference.image"] == image
    assert written["config"]["platform:images.build"] == "false"
    assert written["config"]["platform:preview.prNumber"] == "42"


def test_config_without_a_template_fails_naming_it(tmp_path: Path) -> None:
    code, output, _ = _run(tmp_path, "config", "--pr", "42")
    assert code == 2
    assert "Pulumi.preview.yaml is missing" in output


def test_cli_errors_fail_the_command_with_a_message(project: Path) -> None:
    code, output, calls = _run(project, "destroy", "--pr", "12x")
    assert (code, calls) == (2, [])
    assert "error: --pr must be a pull-request number" in output
