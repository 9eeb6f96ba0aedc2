"""The case type and the values every service's cases share.

Passing and failing cases for every resource rule are built from realistic props (camelCase, as the engine sends
them): each compliant resource is what the platform's components register; each failing case changes the one thing
a rule guards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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
    config: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None
    id: str = field(default="")

    @property
    def label(self) -> str:
        outcome = "passes" if self.expect is None else "fails"
        return f"{self.rule}-{outcome}{'-' + self.id if self.id else ''}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
