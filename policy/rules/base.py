"""What every rule module builds on: policy classes that carry their controls, and accessors for engine props.

Props arrive as the engine sends them: camelCase keys, numbers as floats, JSON documents as strings, and, during
`pulumi preview`, values not known yet as sentinels behind a proxy that raises `UnknownValueError` when read.
The accessors here read through that proxy, so a rule that needs an unknown value stops, and pulumi_policy
reports "can't run during preview" (advisory) instead of a violation. A rule therefore reads only the values it
judges, and a value it never touches may stay unknown.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

SECURITY = "security"
AVAILABILITY = "availability"
CATEGORIES = (SECURITY, AVAILABILITY)

# What a stack rule yields: a message and the URN of the resource it is about.
Findings = Iterator[tuple[str, str | None]]

Props = Mapping[str, Any]
Check = Callable[[Props, ResourceValidationArgs], Iterable[str]]
# Whether a resource of the rule's types is one the rule judges (an Ingress the ALB controller serves).
Applies = Callable[[Props, ResourceValidationArgs], bool]
# A stack check yields (message, urn of the resource at fault or None for the stack as a whole).
StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str | None]]]


class _Cited:
    """What every rule carries, resource or stack: a summary, the controls it implements, and its category, which
    sets its severity and its tag. Both rule classes take their policy arguments from `_cite`."""

    summary: str
    controls: tuple[str, ...]
    category: str

    def _cite(
        self,
        name: str,
        summary: str,
        controls: Sequence[str],
        category: str,
        config_schema: PolicyConfigSchema | None,
        validate: Callable[..., None],
    ) -> dict[str, Any]:
        if not controls:
            raise ValueError(f"policy {name} must cite at least one control")
        if category not in CATEGORIES:
            raise ValueError(f"policy {name}: category must be one of {CATEGORIES}, got {category!r}")
        self.summary = summary
        self.controls = tuple(controls)
        self.category = category
        return {
            "name": name,
            "description": f"{summary} Controls: {', '.join(controls)}.",
            "validate": validate,
            "enforcement_level": EnforcementLevel.MANDATORY,
            "config_schema": config_schema,
            "severity": Severity.HIGH if category == SECURITY else Severity.MEDIUM,
            "tags": [category],
        }


class ResourceRule(_Cited, ResourceValidationPolicy):
    """A resource policy for `types` (those of them `applies` accepts, when given), citing the controls it implements;
    `check` yields one message per fault."""

    def __init__(
        self,
        name: str,
        summary: str,
        *,
        controls: Sequence[str],
        types: Collection[str],
        check: Check,
        category: str = SECURITY,
        config_schema: PolicyConfigSchema | None = None,
        applies: Applies | None = None,
    ) -> None:
        self.types = frozenset(types)
        self.check = check
        self.applies = applies
        super().__init__(**self._cite(name, summary, controls, category, config_schema, self._validate))

    def _validate(self, args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in self._faults(args):
            report_violation(message, None)

    def _faults(self, args: ResourceValidationArgs) -> Iterable[str]:
        if args.resource_type in self.types and (self.applies is None or self.applies(args.props, args)):
            yield from self.check(args.props, args)

    def passes(self, resource: PolicyResource) -> bool:
        """Whether the rule, with its default config, finds no fault in `resource`: how a stack rule asks whether a
        companion (a bucket's versioning, say) is one this rule accepts, without saying so a second time."""
        args = ResourceValidationArgs(
            resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, resource.provider
        )
        return not any(self._faults(args))


class StackRule(_Cited, StackValidationPolicy):
    """A policy over the whole stack (what spans resources), citing the controls it implements."""

    def __init__(
        self,
        name: str,
        summary: str,
        *,
        controls: Sequence[str],
        check: StackCheck,
        category: str = SECURITY,
        config_schema: PolicyConfigSchema | None = None,
    ) -> None:
        self.check = check
        super().__init__(**self._cite(name, summary, controls, category, config_schema, self._validate))

    def _validate(self, args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in self.check(args):
            report_violation(message, urn)


Rule = ResourceRule | StackRule


def resource_rule(
    name: str,
    summary: str,
    *,
    controls: Sequence[str],
    types: Collection[str],
    category: str = SECURITY,
    config_schema: PolicyConfigSchema | None = None,
    applies: Applies | None = None,
) -> Callable[[Check], ResourceRule]:
    """Decorator: the function below becomes the `check` of a `ResourceRule`."""

    def wrap(check: Check) -> ResourceRule:
        return ResourceRule(
            name,
            summary,
            controls=controls,
            types=types,
            check=check,
            category=category,
            config_schema=config_schema,
            applies=applies,
        )

    return wrap


def stack_rule(
    name: str,
    summary: str,
    *,
    controls: Sequence[str],
    category: str = SECURITY,
    config_schema: PolicyConfigSchema | None = None,
) -> Callable[[StackCheck], StackRule]:
    """Decorator: the function below becomes the `check` of a `StackRule`."""

    def wrap(check: StackCheck) -> StackRule:
        return StackRule(name, summary, controls=controls, check=check, category=category, config_schema=config_schema)

    return wrap


# ------------------------------------------------------------------------------------------ accessors


def get(value: Any, path: str, default: Any = None) -> Any:
    """The value at dotted `path` ("vpcConfig.endpointPublicAccess"), or `default` if a step is missing or null."""
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return default if value is None else value


def items(value: Any) -> list[Any]:
    """A list property as a list ([] when absent); reading it raises if an element is unknown."""
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    return list(value)


def is_true(value: Any) -> bool:
    """True for `true` and for the string "true" (Helm values and annotations are strings)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def number(value: Any) -> float | None:
    """A number from a float, an int or a numeric string; None otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def is_zero(value: Any) -> bool:
    """True for an int-or-string quantity of zero: 0 (0.0 on the wire), "0" or "0%"."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return number(value.strip()[:-1]) == 0
    return number(value) == 0


def plain(value: Any) -> Any:
    """A deep copy as dicts and lists; raises if any value inside is unknown."""
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    return value


def json_document(value: Any) -> Any:
    """A JSON property (IAM and bucket policies, add-on configuration) as data; None if absent or malformed."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return plain(value)


def as_list(value: Any) -> list[Any]:
    """A scalar-or-list field of a policy document (Action, Resource, ...) as a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def matches_any(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def integer_setting(key: str, default: int, description: str) -> PolicyConfigSchema:
    """The config schema of a rule with one integer setting (a minimum it enforces); `config` reads it."""
    return PolicyConfigSchema(properties={key: {"type": "integer", "default": default, "description": description}})


def config(args: ResourceValidationArgs | StackValidationArgs, key: str, default: Any) -> Any:
    """A policy config property (set per stack with `--policy-pack-config`), else the rule's default."""
    value = args.get_config().get(key)
    return default if value is None else value


# ---------------------------------------------------------------------------------------- stack graph


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def referenced(resource: PolicyResource, prop: str, *types: str) -> list[PolicyResource]:
    """The resources whose outputs flow into `prop` of `resource` (the engine's property dependencies)."""
    found = resource.property_dependencies.get(prop) or []
    return [r for r in found if not types or r.resource_type in types]


def references(resource: PolicyResource, target: PolicyResource, prop: str) -> bool:
    return any(r.urn == target.urn for r in resource.property_dependencies.get(prop) or [])


def depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    """Whether `resource` waits for `target`, directly or through the resources it waits for."""
    seen: set[str] = set()
    stack = [resource]
    while stack:
        current = stack.pop()
        upstream = list(current.dependencies)
        for deps in current.property_dependencies.values():
            upstream.extend(deps)
        for dep in upstream:
            if dep.urn == target.urn:
                return True
            if dep.urn not in seen:
                seen.add(dep.urn)
                stack.append(dep)
    return False


def iter_pairs(annotation: str) -> Iterator[tuple[str, str]]:
    """`k1=v1,k2=v2` (ALB annotation syntax) as pairs."""
    for part in annotation.split(","):
        key, sep, val = part.partition("=")
        if sep:
            yield key.strip(), val.strip()


def linked(companion: PolicyResource, prop: str, target: PolicyResource, target_name_prop: str) -> bool:
    """Whether `companion.prop` is `target`: through a property dependency, else by the same physical name.

    Names are compared only when the property depends on no resource (a literal), so an output still unknown
    in preview is read only when it decides the link.
    """
    deps = companion.property_dependencies.get(prop)
    if deps:
        return any(d.urn == target.urn for d in deps)
    value = get(companion.props, prop)
    return value is not None and value == get(target.props, target_name_prop)
