"""Builds the policy pack. Nothing else: the rules live in `rules/` (importable, and tested, without a server)."""

from pulumi_policy import EnforcementLevel, PolicyPack

# The CLI runs this file with the pack's directory first on sys.path, so the rules import as `rules`.
from rules import POLICIES

PolicyPack(
    name="platform-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
    description="Security and reliability baseline of the ML inference platform.",
)
