"""The stacks the infra and policy tests run, and the pull request the preview stack is run for."""

from __future__ import annotations

STACKS = ("dev", "staging", "prod")
# The pull request the preview stack is run for (the delivery workflow sets platform:preview.prNumber).
PREVIEW_PR = 42
