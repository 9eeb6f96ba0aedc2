"""The app factory's process set-up (service/app.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from service.app import _worker_model_dir


def test_each_app_downloads_into_its_own_directory_and_removes_dead_workers_ones(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"worker-{dead.pid}-0a1b2c3d"
    sibling = tmp_path / f"worker-{os.getpid()}-deadbeef"
    for directory in (stale, sibling):
        (directory / "model-v1").mkdir(parents=True)
    own = _worker_model_dir(tmp_path)
    assert own.is_dir() and own.name.startswith(f"worker-{os.getpid()}-") and own != sibling
    assert not stale.exists(), "left by a worker that is gone"
    assert sibling.exists(), "another app in a live process keeps its downloads"
