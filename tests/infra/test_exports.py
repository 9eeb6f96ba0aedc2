"""No secret leaves a stack in an export (shared/SECURITY-BASELINE.md: "no secret in plain text or in an export").

Stack outputs are readable by whoever reads the stack, and previews and brought-cluster stacks read them through
StackReferences. So every export of every kind of stack is scanned for every value the program handles as a secret:
each input the engine received marked secret, each generated password, each config value set with --secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.harness import DOCKER_IMAGE, Recording, Resource, mark_secret, plain, run_stack, secret_leaves
from tests.infra.test_existing_cluster import BY_KUBECONFIG

# Generated secrets are 32-64 characters. Below this, a value inside a secret input is a name riding along (a
# username in a Secret's data, a namespace) that other, public, inputs carry too.
MIN_SECRET = 16


def leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    elif value is not None:
        yield str(value)


def secret_inputs(r: Resource) -> dict[str, Any]:
    """The inputs of `r` that hold a secret.

    An image's `registries` reach the engine secret as a whole (the SDK merges a list input into one Output, secret
    if any part is), but only each entry's password is: its address is the registry's public host name, in every
    repository URL, and its username is ECR's fixed "AWS".
    """
    if r.type != DOCKER_IMAGE:
        return r.raw_inputs
    registries = plain(r.raw_inputs.get("registries")) or []
    return {**r.raw_inputs, "registries": mark_secret([entry.get("password") for entry in registries])}


def secrets_of(rec: Recording) -> set[str]:
    found = {str(v) for r in rec.resources for v in secret_leaves(secret_inputs(r))}
    found |= {r.outputs["result"] for r in rec.find("random:index/randomPassword:RandomPassword")}
    found |= {rec.config[key] for key in rec.secret_config}
    return {s for s in found if len(s) >= MIN_SECRET}


def assert_no_secret_exported(rec: Recording) -> None:
    # The kubeconfig alone may be exported, as a secret output: previews build their provider from it.
    assert rec.secret_exports <= {"kubeconfig"}
    secrets = secrets_of(rec)
    assert secrets, "a stack without secrets scans nothing"
    for key, value in rec.exports.items():
        if key in rec.secret_exports:
            continue
        for leaf in leaves(value):
            assert leaf not in secrets, f"export {key} carries a secret"
            for secret in secrets:
                assert secret not in leaf, f"export {key} embeds a secret"


def test_no_full_stack_exports_a_secret(recording: Recording) -> None:
    assert_no_secret_exported(recording)


def test_no_preview_exports_a_secret(preview: Recording) -> None:
    assert_no_secret_exported(preview)


def test_a_brought_cluster_stack_exports_no_secret() -> None:
    rec = run_stack("prod", BY_KUBECONFIG)
    assert rec.secret_config == {"platform:cluster.kubeconfig"}
    assert_no_secret_exported(rec)


def test_the_scan_finds_a_secret_in_an_export(tmp_path: Path) -> None:
    """The scan itself: a program exporting its Redis AUTH token in plain text is caught."""
    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi\nfrom infra.config import load_config\nfrom infra.stack import build\n"
        "platform = build(load_config())\n"
        "for k, v in platform.exports().items():\n    pulumi.export(k, v)\n"
        "pulumi.export('leak', pulumi.Output.unsecret(platform.cache.auth_token))\n"
    )
    rec = run_stack("staging", program=program)
    with pytest.raises(AssertionError, match="export leak carries a secret"):
        assert_no_secret_exported(rec)
