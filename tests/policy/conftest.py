"""Policy tests: the findings the pack reports as advisory are listed at the end of the run."""

from __future__ import annotations

import pytest

from tests.policy.engine import Diagnostic

ADVISORY = pytest.StashKey[dict[str, list[Diagnostic]]]()


@pytest.fixture
def advisory_report(request: pytest.FixtureRequest) -> dict[str, list[Diagnostic]]:
    """Per stack, the advisory findings to list in the terminal summary."""
    return request.config.stash.setdefault(ADVISORY, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    report = config.stash.get(ADVISORY, {})
    if not report:
        return
    terminalreporter.write_sep("-", "policy pack: advisory findings (allowed by the stack's policy config)")
    for stack, findings in sorted(report.items()):
        terminalreporter.write_line(f"{stack}: {len(findings)} advisory finding(s)")
        for d in findings:
            terminalreporter.write_line(f"  [{d.policy}] {d.urn.rsplit('::', 1)[-1]}: {d.detail}")
