"""The stack files as the Pulumi CLI reads them: the committed ones, and a preview's as its workflow writes it.

`.github/workflows/preview.yml` runs `preview_stacks.py config --pr <N>`, which renders `Pulumi.pr-<N>.yaml` from
the template `Pulumi.preview.yaml` (the preview's `up` builds its own image); `preview_config` runs that same code.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import yaml

from tests.infra.harness import ROOT

SCRIPT = ROOT / ".github" / "scripts" / "preview_stacks.py"


def delivery_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("preview_stacks", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def stack_file(stack: str) -> dict[str, Any]:
    """The `config:` of a committed `Pulumi.<stack>.yaml`."""
    return dict(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])


def preview_file(pr: int, image: str | None = None) -> dict[str, Any]:
    """The whole `Pulumi.pr-<pr>.yaml` the preview workflow writes (rendered by the delivery script itself); with
    `image` (a digest), as `--image` writes it for a prebuilt image."""
    script = delivery_script()
    template = yaml.safe_load((ROOT / script.TEMPLATE).read_text())
    rendered: dict[str, Any] = script.render_config(template, pr, image)
    return rendered


def preview_config(pr: int, image: str | None = None) -> dict[str, Any]:
    """The `config:` of the preview stack `pr-<pr>` as its workflow writes it."""
    return dict(preview_file(pr, image)["config"])
