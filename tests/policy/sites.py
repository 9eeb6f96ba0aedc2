"""Where the rules report violations, and which of those places a run of a rule reached and with what message.

A violation site is a `yield` in a rule module (the message a check reports, or a helper's message that a check
passes on) or a `return` of a message literal (helpers such as `image_fault` that a check then yields). The sites
are found in the source, so a new rule's sites are swept without anyone listing them.

A site inside a rule's own check belongs to that rule; a site inside a check that a factory builds for several
rules (`flag_rule`, `minimum_rule`, `data_store_rule`, ...) belongs to each of them, and the sweep wants it
asserted once per rule. A site in a helper that checks call belongs to none of them and wants one asserting case.

A run is watched with `sys.setprofile`: a generator's `yield` and a function's `return` are both "return" events
whose argument is the value handed back, at the line of the statement. The profiler is not the tracer, so a run
under coverage is watched the same way.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from policy.rules import Rule

RULES_DIR = Path(__file__).resolve().parents[2] / "policy" / "rules"
# Shared machinery, not rules: the policy classes and accessors, and the Kubernetes helpers.
NOT_RULES = ("__init__.py", "base.py", "k8s.py")


@dataclass(frozen=True)
class Site:
    """A statement that hands a violation message on: its file, function and line span."""

    file: str
    function: str
    line: int
    end_line: int

    def __str__(self) -> str:
        return f"policy/rules/{self.file}:{self.line} ({self.function})"


def _is_message(node: ast.expr | None) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _sites_of(path: Path) -> list[Site]:
    found: list[Site] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            is_yield = isinstance(child, ast.Yield) and child.value is not None
            is_return = isinstance(child, ast.Return) and _is_message(child.value)
            if is_yield or is_return:
                assert isinstance(child, ast.Yield | ast.Return)
                found.append(Site(path.name, function, child.lineno, child.end_lineno or child.lineno))
            visit(child, name)

    visit(ast.parse(path.read_text(), str(path)), "<module>")
    return found


def rule_files() -> list[Path]:
    return sorted(p for p in RULES_DIR.glob("*.py") if p.name not in NOT_RULES)


def violation_sites() -> list[Site]:
    return [site for path in rule_files() for site in _sites_of(path)]


def owners(sites: list[Site], rules: Iterable[Rule]) -> dict[Site, set[str]]:
    """For each site, the names of the rules whose own check holds it: one for a rule written as a function, each
    rule a factory built for a site in the factory's check, none for a site in a helper."""
    found: dict[Site, set[str]] = {site: set() for site in sites}
    for rule in rules:
        code = rule.check.__code__
        path = Path(code.co_filename)
        if path.parent != RULES_DIR:
            continue
        lines = [line for _, _, line in code.co_lines() if line is not None]
        for site in sites:
            if site.file == path.name and min(lines) <= site.line <= max(lines):
                found[site].add(rule.name)
    return found


def message_of(value: Any) -> str | None:
    """The message in a value a site hands on: a resource rule's string, a stack rule's (message, urn)."""
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return value[0]
    return value if isinstance(value, str) else None


@contextmanager
def watching(sites: list[Site]) -> Iterator[list[tuple[Site, str]]]:
    """Record (site, message) each time a site hands on a message while the block runs."""
    by_file: dict[str, list[Site]] = {}
    for site in sites:
        by_file.setdefault(str(RULES_DIR / site.file), []).append(site)
    reached: list[tuple[Site, str]] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "return":
            return
        candidates = by_file.get(frame.f_code.co_filename)
        message = message_of(arg) if candidates else None
        if candidates and message is not None:
            for site in candidates:
                if site.line <= frame.f_lineno <= site.end_line:
                    reached.append((site, message))

    previous: Callable[..., Any] | None = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield reached
    finally:
        sys.setprofile(previous)


def overlaps(expect: str, part: str, whole: str) -> bool:
    """Whether `expect`, found in the reported message `whole`, covers some of `part` (a site's own message).

    Blanking the site's message would then change what `expect` looks for, so a case asserting `expect` sees it.
    """
    start, at = whole.find(expect), whole.find(part)
    if start < 0 or at < 0 or not part or not expect:
        return False
    return start < at + len(part) and at < start + len(expect)
