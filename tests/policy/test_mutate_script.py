"""scripts/mutate_policy.py makes the mutants it says it makes: one per violation site and one per comparison."""

from __future__ import annotations

import ast
import importlib.util
import sys
from types import ModuleType

from tests.policy.sites import RULES_DIR, violation_sites


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mutate_policy", RULES_DIR.parents[1] / "scripts" / "mutate_policy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutate_policy", module)
    spec.loader.exec_module(module)
    return module


def test_there_is_a_blank_mutant_for_every_violation_site_the_sweep_checks() -> None:
    script = _script()
    blanks = {
        (m.file, m.line)
        for path in RULES_DIR.glob("*.py")
        if path.name not in script.NOT_RULES
        for m in script.mutants(path.read_text(), path.name, {"blank"})
    }
    assert blanks == {(s.file, s.line) for s in violation_sites()}


def test_a_blank_mutant_empties_one_message_and_keeps_a_stack_rules_urn() -> None:
    script = _script()
    source = 'def check(a):\n    yield "first"\n    yield f"second {a}", a.urn\n'
    first, second = script.mutants(source, "x.py", {"blank"})
    assert "yield ''" in script.mutate(source, first) and "second" in script.mutate(source, first)
    assert "yield ('', a.urn)" in script.mutate(source, second) and "first" in script.mutate(source, second)


def test_a_flip_mutant_turns_one_comparison_into_its_opposite() -> None:
    script = _script()
    source = "ok = a < 1 and b in c and d is not None\n"
    flipped = [ast.unparse(ast.parse(script.mutate(source, m))) for m in script.mutants(source, "x.py", {"flip"})]
    assert sorted(flipped) == sorted(
        [
            "ok = a >= 1 and b in c and (d is not None)",
            "ok = a < 1 and b not in c and (d is not None)",
            "ok = a < 1 and b in c and (d is None)",
        ]
    )
