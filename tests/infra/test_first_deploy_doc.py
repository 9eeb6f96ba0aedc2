"""docs/first-deploy.md states what the code does: the durations are the critical paths
(tests/infra/critical_path.py) of the stacks as they are, the naming limit is the config's, and the README's
"Deploying for real" leads to it."""

from __future__ import annotations

import re

from infra.config.keys import MAX_FULL_STACK_NAME
from tests.infra.critical_path import critical_path
from tests.infra.harness import ROOT, Recording

DOC = ROOT / "docs" / "first-deploy.md"


def test_the_durations_are_the_critical_paths_of_the_stacks(
    recordings: dict[str, Recording], preview: Recording
) -> None:
    """Regenerate the numbers with `python -m tests.infra.critical_path` after changing the graph."""
    text = DOC.read_text()
    block = text.split("<!-- BEGIN durations", 1)[1].split("<!-- END durations -->", 1)[0]
    stated = dict(re.findall(r"^\| (\w+)[^|]* \| ~(\d+) min \|$", block, flags=re.MULTILINE))
    actual = {stack: round(critical_path(rec).minutes) for stack, rec in {**recordings, "preview": preview}.items()}
    assert {stack: int(minutes) for stack, minutes in stated.items()} == actual


def test_the_naming_limit_it_states_is_the_configs() -> None:
    assert f"at most {MAX_FULL_STACK_NAME} characters" in DOC.read_text()


def test_the_readme_deploying_for_real_section_leads_to_it() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploying for real", 1)[1].split("\n## ", 1)[0]
    assert "(docs/first-deploy.md)" in section.split("```", 1)[0]
