"""The training Job's image: pinned base, non-root UID >= 10000, the package's own pins, hadolint-clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "training" / "Dockerfile"


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_pinned_runs_as_non_root_and_installs_the_training_pins() -> None:
    text = DOCKERFILE.read_text()
    [base] = re.findall(r"^FROM (\S+)", text, re.M)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    [user] = re.findall(r"^USER (\d+):(\d+)", text, re.M)
    assert int(user[0]) >= 10000 and int(user[1]) >= 10000
    assert "pip install --no-cache-dir -r /opt/app/training/requirements.txt" in text
    assert 'ENTRYPOINT ["python", "-m", "training"]' in text
