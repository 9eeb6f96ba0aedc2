"""The case type, the tables the case modules are written as, and the values every service's cases share.

Cases are built from realistic props (camelCase, as the engine sends them): each compliant resource is what the
platform's components register, written once (`aws_resources.py`, `kubernetes_resources.py`). A case module is a
table per compliant resource: for each rule, the changes that break it, each one change (one path set or removed)
with the messages the rule must then report, and the changes it must still accept. `table` expands it into cases;
the compliant resource passing every rule of its table comes for free.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.policy.support import Path, changed

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
TAGS = {"Project": "mlp", "Environment": "prod", "ManagedBy": "pulumi", "Name": "mlp-prod-x"}
OIDC = "oidc.eks.us-east-1.amazonaws.com/id/5E1A2B3C4D5E6F708192A3B4C5D6E7F8"


@dataclass(frozen=True)
class Case:
    """`rule` on a resource of `type` with `props`: passes when `expect` is None, else reports a message
    containing `expect`."""

    rule: str
    type: str
    props: dict[str, Any]
    expect: str | None = None
    config: Mapping[str, Any] | None = None
    provider: Mapping[str, Any] | None = None
    id: str = field(default="")
    # Every message the one change makes the rule report, `expect` first; the test requires exactly these.
    expects: tuple[str, ...] = ()
    # The paths of `props` changed from the compliant resource the case starts from.
    changes: tuple[Path, ...] = ()

    @property
    def label(self) -> str:
        outcome = "passes" if self.expect is None else "fails"
        return f"{self.rule}-{outcome}{'-' + self.id if self.id else ''}"


Resource = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Change:
    """One row of a rule's table: what changes from the compliant resource, and what the rule then reports."""

    changes: Mapping[Path, Any]
    expects: tuple[str, ...]
    id: str = ""
    on: Resource | None = None
    config: Mapping[str, Any] | None = None
    provider: Mapping[str, Any] | None = None


def fails(
    path: Path | None,
    value: Any = None,
    *expects: str,
    id: str = "",
    on: Resource | None = None,
    config: Mapping[str, Any] | None = None,
    provider: Mapping[str, Any] | None = None,
) -> Change:
    """The rule reports `expects` (substrings, one per message, all of them) once `path` is set to `value` (or
    removed, with DELETE). `path=None` changes no prop: the one change is then the policy `config` or the
    `provider`, or the compliant resource is `on`, another kind the rule governs."""
    assert expects, "a failing change names the message it must produce"
    return Change({} if path is None else {path: value}, expects, id, on, config, provider)


def passes(
    changes: Mapping[Path, Any] | None = None,
    *,
    id: str,
    on: Resource | None = None,
    config: Mapping[str, Any] | None = None,
    provider: Mapping[str, Any] | None = None,
) -> Change:
    """The rule still accepts the compliant resource with `changes` (any number: a passing variant)."""
    return Change(dict(changes or {}), (), id, on, config, provider)


def _name(row: Change, kind: str) -> str:
    """A row's id when it has none: the last key its change sets, else the kind of resource it is on."""
    if not row.changes:
        return kind.rsplit(":", 1)[-1]
    path = next(iter(row.changes))
    last = path if isinstance(path, str) else path[-1]
    return re.split(r"[./]", last)[-1]


def table(type_: str, base: Mapping[str, Any], rules: Mapping[str, Sequence[Change]]) -> list[Case]:
    """The cases of one compliant resource's table: for each rule, the compliant resource (and any other one its
    rows are `on`) passing, then each row."""
    found: list[Case] = []
    for rule, rows in rules.items():
        bases: list[Resource] = [(type_, base)]
        for row in rows:
            if row.on is not None and not any(row.on[0] == kind and row.on[1] is props for kind, props in bases):
                bases.append(row.on)
        for i, (kind, props) in enumerate(bases):
            same_kind = [k for k, _ in bases[:i] if k == kind]
            suffix = kind.rsplit(":", 1)[-1] + (f"-{len(same_kind) + 1}" if same_kind else "")
            found.append(Case(rule, kind, dict(props), id="" if i == 0 else suffix))
        ids: dict[str, int] = {}
        for row in rows:
            kind, props = row.on or (type_, base)
            name = row.id or _name(row, kind)
            ids[name] = ids.get(name, 0) + 1
            found.append(
                Case(
                    rule,
                    kind,
                    changed(props, row.changes),
                    row.expects[0] if row.expects else None,
                    row.config,
                    row.provider,
                    name if ids[name] == 1 else f"{name}-{ids[name]}",
                    row.expects,
                    tuple(row.changes),
                )
            )
    return found


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
