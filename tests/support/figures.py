"""Figures the reliability scenarios record, merged into build/reliability/results.json at the session's end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.reliability.report import RESULTS


class Figures:
    """Figures of this session's scenarios, merged into RESULTS at the end (other scenarios' stay)."""

    def __init__(self) -> None:
        self.scenarios: dict[str, dict[str, Any]] = {}

    def record(self, scenario: str, **figures: Any) -> None:
        self.scenarios.setdefault(scenario, {}).update(figures)

    def save(self, path: Path = RESULTS) -> None:
        if not self.scenarios:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = json.loads(path.read_text()) if path.exists() else {}
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for scenario, figures in self.scenarios.items():
            saved[scenario] = {**figures, "recorded_at": stamp}
        path.write_text(json.dumps(dict(sorted(saved.items())), indent=2) + "\n")
