"""Mutation run over the policy rules: break each rule one way at a time and see whether the policy suite notices.

    python scripts/mutate_policy.py [--kinds blank,flip] [--file aws_iam.py] [--fast] [--json results.json]
    (or: make mutate-policy)

Mutants, one at a time, in every rule module of policy/rules/ (base.py, k8s.py and __init__.py are the shared
machinery, not rules):
  blank  a violation message becomes "" (each `yield` of a message, or of a stack rule's (message, urn), and each
         returned message literal): a suite that never reads the message cannot see it go.
  flip   a comparison turns into its opposite (== and !=, < and >=, > and <=, in and not in, is and is not).

Each mutant is written into a scratch copy of the repository (the working tree is never touched) and the fast
policy suite (tests/policy/test_rules.py and test_sweep.py) runs on it in this process, the policy modules
re-imported each time. A mutant the fast suite leaves green is run again under the whole policy suite
(test_pack.py and test_stacks.py too, which run the Pulumi program under mocks) unless --fast is given. A mutant
still green is a survivor: a change to a rule no test notices. Some survivors are equivalent mutants (the
changed comparison cannot change the outcome); each is listed with its line so a reader can tell which.

The score is killed / all; docs/architecture.md records the last run's.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = Path("policy") / "rules"
NOT_RULES = ("__init__.py", "base.py", "k8s.py")
FAST = ["tests/policy/test_rules.py", "tests/policy/test_sweep.py"]
FULL = [*FAST, "tests/policy/test_pack.py", "tests/policy/test_stacks.py"]
OPPOSITE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    file: str
    line: int
    kind: str
    index: int  # the n-th node of its kind in the file, in ast.walk order
    detail: str


@dataclass
class Result:
    mutant: Mutant
    killed_by: str  # "fast", "full" or "" (survived)
    seconds: float


def _is_message(node: ast.expr | None) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _sites(tree: ast.AST) -> Iterator[ast.Yield | ast.Return]:
    """Where a rule module hands on a violation message (the same places tests/policy/sites.py sweeps)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Yield) and node.value is not None:
            yield node
        elif isinstance(node, ast.Return) and _is_message(node.value):
            yield node


def _comparisons(tree: ast.AST) -> Iterator[tuple[ast.Compare, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in OPPOSITE:
                    yield node, i


def mutants(source: str, file: str, kinds: set[str]) -> list[Mutant]:
    tree = ast.parse(source)
    found: list[Mutant] = []
    if "blank" in kinds:
        for i, site in enumerate(_sites(tree)):
            found.append(Mutant(file, site.lineno, "blank", i, ast.unparse(site)[:100]))
    if "flip" in kinds:
        for i, (compare, op) in enumerate(_comparisons(tree)):
            flipped = OPPOSITE[type(compare.ops[op])].__name__
            detail = f"{ast.unparse(compare)[:80]}  [op {op} -> {flipped}]"
            found.append(Mutant(file, compare.lineno, "flip", i, detail))
    return found


def mutate(source: str, mutant: Mutant) -> str:
    tree = ast.parse(source)
    if mutant.kind == "blank":
        site = list(_sites(tree))[mutant.index]
        blank = ast.Constant("")
        if isinstance(site.value, ast.Tuple) and site.value.elts:
            site.value.elts[0] = blank
        else:
            site.value = blank
    else:
        compare, op = list(_comparisons(tree))[mutant.index]
        compare.ops[op] = OPPOSITE[type(compare.ops[op])]()
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def scratch_copy() -> Path:
    """The repository's tracked files, as they are in the working tree, in a temporary directory."""
    target = Path(tempfile.mkdtemp(prefix="mutate-policy-"))
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in listed.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run_suite(tests: list[str]) -> bool:
    """Run `tests` in this process on freshly imported policy modules; True when all pass."""
    import pytest

    for name in [m for m in sys.modules if m == "policy" or m.startswith(("policy.", "tests.policy"))]:
        del sys.modules[name]
    args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--no-header", "-W", "ignore"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = pytest.main(args)
    return code == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--kinds", default="blank,flip", help="comma-separated: blank, flip")
    parser.add_argument("--file", action="append", help="only this rule module (repeatable), e.g. aws_iam.py")
    parser.add_argument("--fast", action="store_true", help="judge survivors of the fast suite without the full one")
    parser.add_argument("--json", type=Path, help="write every mutant and its fate here")
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))

    copy = scratch_copy()
    os.chdir(copy)
    sys.path.insert(0, str(copy))
    sys.dont_write_bytecode = True
    try:
        if not run_suite(FAST):
            print("the fast policy suite fails on the unmutated code: fix that first", file=sys.stderr)
            return 2
        files = sorted(p for p in (copy / RULES).glob("*.py") if p.name not in NOT_RULES)
        if args.file:
            files = [p for p in files if p.name in args.file]
        results: list[Result] = []
        for path in files:
            original = path.read_text()
            for mutant in mutants(original, path.name, kinds):
                started = time.monotonic()
                path.write_text(mutate(original, mutant))
                try:
                    killed = "" if run_suite(FAST) else "fast"
                    if not killed and not args.fast:
                        killed = "" if run_suite(FULL) else "full"
                finally:
                    path.write_text(original)
                results.append(Result(mutant, killed, time.monotonic() - started))
                mark = "killed" if killed else "SURVIVED"
                print(f"{mark:8} {mutant.kind:5} policy/rules/{mutant.file}:{mutant.line}  {mutant.detail}", flush=True)
    finally:
        os.chdir(ROOT)
        shutil.rmtree(copy, ignore_errors=True)

    survivors = [r for r in results if not r.killed_by]
    print(f"\n{len(results) - len(survivors)}/{len(results)} mutants killed", end="")
    for kind in sorted(kinds):
        of_kind = [r for r in results if r.mutant.kind == kind]
        print(f"; {kind}: {sum(1 for r in of_kind if r.killed_by)}/{len(of_kind)}", end="")
    print(f" ({'fast suite only' if args.fast else 'survivors of the fast suite rerun under the full one'})")
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r.mutant), "killed_by": r.killed_by} for r in results], indent=1))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
