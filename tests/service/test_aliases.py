"""One registry alias rule for the service's settings, the stack config and the training CLI.

MLflow's rule (mlflow/utils/validation.py@v3.17.2, `_validate_model_alias_name` and
`_validate_model_alias_name_reserved`): word characters and '-', at most 255, not `latest` in any case, not
`v<N>`. The service and the stack used to accept `latest` and `v3`, which MLflow refuses to set, so a service
told to follow `@latest` would wait for an alias no promotion can ever create.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.core.aliases import is_alias
from service.settings import Settings
from training.registry import LifecycleError, validate_alias

ALIASES = [
    ("production", True),
    ("champion-2", True),
    ("a_b", True),
    ("x" * 255, True),
    ("v", True),
    ("version3", True),
    ("latest", False),
    ("Latest", False),
    ("v3", False),
    ("V12", False),
    ("", False),
    ("a b", False),
    ("a/b", False),
    ("a@b", False),
    ("x" * 256, False),
]


def training_accepts(alias: str) -> bool:
    try:
        validate_alias(alias)
    except LifecycleError:
        return False
    return True


def service_accepts(alias: str) -> bool:
    try:
        Settings(registry_uri="http://127.0.0.1:5000", model_alias=alias)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("alias", "valid"), ALIASES)
def test_the_service_and_the_training_cli_apply_mlflows_alias_rule(alias: str, valid: bool) -> None:
    assert is_alias(alias) is valid
    assert training_accepts(alias) is valid
    assert service_accepts(alias) is valid
