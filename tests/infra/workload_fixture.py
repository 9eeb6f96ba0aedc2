"""Until the cloud layer lands: the workload layer's recordings from tests/infra/workload_program.py."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS
from tests.infra.harness import ROOT, Recording, run_stack

PROGRAM = ROOT / "tests" / "infra" / "workload_program.py"


@pytest.fixture(scope="session")
def recordings() -> dict[str, Recording]:
    return {stack: run_stack(stack, program=PROGRAM) for stack in STACKS}
