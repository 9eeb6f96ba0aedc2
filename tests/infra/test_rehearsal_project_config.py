"""Deploy rehearsal: the Pulumi CLI's project-config check, which runs before the program and which the offline
harness (tests/infra/harness.py) does not do.

Emulated from pulumi/pulumi (read at HEAD 1b5949891b, Aug 2026; the same code at tag v3.259.0):
- `pkg/workspace/config.go` `ValidateStackConfigAndApplyProjectConfig` -> `mergeConfig`: every key of the
  project's namespace declared in `Pulumi.yaml` `config:` with neither `default` nor `value` must be set in the
  stack's config, else "Stack '<stack>' is missing configuration value(s) '<key>'"; then
  `validateStackConfigValues` / `validateStackConfigValue`: each explicitly typed key's value (the stack's, or the
  default applied by `createConfigValue`) must pass `ValidateConfigValue`, else "Stack '<stack>' with
  configuration key '<key>' must be of type '<type>'".
- `sdk/go/common/workspace/project.go` `ValidateConfigValue` (string; integer: an int, a whole float or a string
  `strconv.Atoi` parses; boolean: true/false or the strings "true"/"false"; array: a list whose items pass) and
  `Project.Validate` (an array declares `items`; a default has the declared type).
- `sdk/go/common/resource/config/object.go` `MarshalString`: a stack file's scalar becomes its text (YAML `3` is
  "3", `true` is "true"), a list or map becomes a JSON object value.
Expected messages are those of `pkg/workspace/config_project_test.go`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.infra.harness import PROJECT, ROOT
from tests.infra.stack_files import preview_config, stack_file
from tests.support.stacks import PREVIEW_PR

STACKS = ("dev", "staging", "prod")
PREVIEW = f"pr-{PREVIEW_PR}"


class _GoYamlLoader(yaml.SafeLoader):
    """YAML as the CLI's Go decoder reads it: only true/false are booleans (PyYAML also takes yes/no/on/off)."""


_GoYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_GoYamlLoader)  # noqa: S506 - a SafeLoader subclass


def project_config() -> dict[str, dict[str, Any]]:
    return dict(load_yaml((ROOT / "Pulumi.yaml").read_text())["config"])


def _full_key(key: str, project_name: str = PROJECT) -> str:
    return key if ":" in key else f"{project_name}:{key}"


def _type_name(decl: dict[str, Any]) -> str:
    """workspace.InferFullTypeName: array<item type>."""
    items = decl.get("items")
    return f"array<{_type_name(items)}>" if items else str(decl.get("type"))


def validate_value(type_name: str, items: dict[str, Any] | None, value: Any) -> bool:
    """workspace.ValidateConfigValue."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):  # Go's value.(int) is false for a bool; Python's bool is an int
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value) is not None  # strconv.Atoi
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(validate_value(str(items["type"]), items.get("items"), item) for item in value)


def config_value(raw: Any) -> tuple[str, bool]:
    """A stack file's value as config.Value holds it: (text, is_object) (object.go MarshalString)."""
    if isinstance(raw, bool):
        return ("true" if raw else "false"), False
    if isinstance(raw, int | float):
        return json.dumps(raw), False
    if isinstance(raw, str):
        return raw, False
    return json.dumps(raw), True


def default_value(raw: Any) -> tuple[str, bool]:
    """A project default as createConfigValue stores it: a string/int/bool by fmt %v, anything else as JSON."""
    if isinstance(raw, bool):
        return ("true" if raw else "false"), False
    if isinstance(raw, str | int):
        return str(raw), False
    return json.dumps(raw), True


def validate_project(project: dict[str, dict[str, Any]]) -> list[str]:
    """Project.Validate for the keys of the project's namespace."""
    errors = []
    for key, decl in project.items():
        if decl.get("type") == "array" and decl.get("items") is None:
            errors.append(f"The configuration key '{key}' declares an array but does not specify the underlying type")
        if (
            "type" in decl
            and "default" in decl
            and not validate_value(decl["type"], decl.get("items"), decl["default"])
        ):
            errors.append(
                f"The default value specified for configuration key '{key}' is not of the expected type "
                f"'{_type_name(decl)}'"
            )
    return errors


def validate_stack_config(
    stack: str, project: dict[str, dict[str, Any]], config: dict[str, Any], project_name: str = PROJECT
) -> list[str]:
    """ValidateStackConfigAndApplyProjectConfig: the CLI's errors for `config` (a stack file's `config:`)."""
    missing = sorted(
        key
        for key, decl in project.items()
        if _full_key(key, project_name).split(":")[0] == project_name
        and _full_key(key, project_name) not in config
        and "default" not in decl
        and "value" not in decl
    )
    if missing:
        quoted = [f"'{k}'" for k in missing]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        return [f"Stack '{stack}' is missing configuration value{'s' if len(missing) > 1 else ''} {listed}"]
    errors = []
    for key, decl in sorted(project.items()):
        if "type" not in decl:
            continue
        full = _full_key(key, project_name)
        text, is_object = config_value(config[full]) if full in config else default_value(decl.get("default"))
        if isinstance(config.get(full), dict) and "secure" in config[full]:
            continue  # decrypted only by the CLI; the program's own check reads it
        content = json.loads(text) if is_object else text
        if not validate_value(decl["type"], decl.get("items"), content):
            errors.append(f"Stack '{stack}' with configuration key '{key}' must be of type '{_type_name(decl)}'")
    return errors


def stack_configs() -> dict[str, dict[str, Any]]:
    """Each committed stack file, and the preview's as .github/scripts/preview_stacks.py writes it."""
    configs = {stack: stack_file(stack) for stack in STACKS}
    configs[PREVIEW] = preview_config(PREVIEW_PR)
    return configs


def _required_cases() -> list[Any]:
    """(stack, key) for every key the CLI requires."""
    required = [k for k, d in project_config().items() if "default" not in d and "value" not in d]
    return [pytest.param(stack, key, id=f"{stack}-{key}") for stack in (*STACKS, PREVIEW) for key in required]


@pytest.mark.parametrize(("stack", "key"), _required_cases())
def test_every_key_without_a_default_is_set_in_every_stack(stack: str, key: str) -> None:
    """Else `pulumi up` stops before the program runs: "Stack 'pr-N' is missing configuration value '<key>'"."""
    config = stack_configs()[stack]
    assert _full_key(key) in config, f"Stack '{stack}' is missing configuration value '{key}'"


@pytest.mark.parametrize("stack", [*STACKS, PREVIEW])
def test_every_value_has_its_declared_type(stack: str) -> None:
    """Stack values and the defaults the CLI applies must pass ValidateConfigValue (e.g. integer "2", boolean
    "true", arrays of strings); missing keys are the test above's."""
    config = stack_configs()[stack]
    present = {k: v for k, v in project_config().items() if "default" in v or _full_key(k) in config}
    assert validate_stack_config(stack, present, config) == []


def test_the_project_declarations_are_valid() -> None:
    """Project.Validate: every array names its items' type, every default has the declared type."""
    assert validate_project(project_config()) == []


# ------------------------------------------------------------------------------------ the emulation's own


PROJECT_FIXTURE = {
    "hello": {"type": "integer"},
    "values": {"type": "array", "items": {"type": "string"}},
    "world": {"type": "string"},
    "flag": {"type": "boolean", "default": False},
}


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({}, "Stack 'dev' is missing configuration values 'hello', 'values' and 'world'"),
        ({"test:hello": 1, "test:world": "w"}, "Stack 'dev' is missing configuration value 'values'"),
        (
            {"test:hello": 1, "test:world": "w", "test:values": "x"},
            "Stack 'dev' with configuration key 'values' must be of type 'array<string>'",
        ),
        (
            {"test:hello": "1.5", "test:world": "w", "test:values": ["x"]},
            "Stack 'dev' with configuration key 'hello' must be of type 'integer'",
        ),
        (
            {"test:hello": "2", "test:world": "w", "test:values": ["x"], "test:flag": "yes"},
            "Stack 'dev' with configuration key 'flag' must be of type 'boolean'",
        ),
    ],
)
def test_the_emulation_gives_the_clis_messages(config: dict[str, Any], error: str) -> None:
    """The messages asserted by pulumi/pulumi pkg/workspace/config_project_test.go (project "test")."""
    assert validate_stack_config("dev", PROJECT_FIXTURE, config, project_name="test")[:1] == [error]


def test_the_clis_yaml_reads_only_true_and_false_as_booleans() -> None:
    assert load_yaml("a: yes\nb: true\nc: '3'\nd: 3") == {"a": "yes", "b": True, "c": "3", "d": 3}
    assert config_value(load_yaml("v: 3")["v"]) == ("3", False)
    assert config_value(["m6i.large"]) == ('["m6i.large"]', True)
