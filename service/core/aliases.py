"""The registry alias rule: the one the service's settings, the stack config (infra/config/workload.py) and the
training CLI (training/registry.py `validate_alias`, which ships in its own image without this package) apply.

MLflow's own rule (mlflow/utils/validation.py@v3.17.2): an alias is word characters and '-', at most 255, and
neither `latest` (any case) nor `v<N>`, which would shadow `models:/<name>/latest` and version references.
tests/service/test_aliases.py holds the three to the same table.
"""

from __future__ import annotations

import re

ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
_VERSION_REFERENCE = re.compile(r"[vV]\d+")
RULE = "letters, digits, '_' or '-', not 'latest' or 'v<N>'"


def is_alias(value: str) -> bool:
    """Whether `value` may name a registry alias."""
    return (
        bool(ALIAS_PATTERN.fullmatch(value)) and value.lower() != "latest" and not _VERSION_REFERENCE.fullmatch(value)
    )
