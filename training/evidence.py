"""What the serving fleet measured about a challenger, and the rule a promotion to champion applies to it.

The inference service counts, per version, what its champion and its challenger did (shadow pairs and their
absolute differences, challenger failures, A/B requests and their failures). `promote --evidence-url URL` reads
those counters in Prometheus text format - the service's `/metrics` (one pod) or a Prometheus server's
`/federate?match[]={job="inference"}` (the whole fleet; samples of every pod are added up) - keeps the ones for
this exact pair (the champion now at the alias, the version being promoted) and refuses the promotion when:

1. the challenger has fewer than `min_samples` observations (shadow batches + A/B requests): not enough to judge;
2. its error rate exceeds the champion's by more than `max_error_rate_increase` (the champion's rate is over its
   own A/B-and-baseline requests; the challenger's over its shadow batches and A/B requests);
3. `max_mean_abs_diff` is set and its shadow pairs differ from the champion's answers by more on average.

`--force --reason` overrides a refusal, as it does the metric gate; the verdict is recorded either way.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from training.tracking import LifecycleError

FETCH_TIMEOUT_S = 10.0
# The service's metric names (service/core/shadow.py, service/core/variants.py).
PAIRS = "serving_shadow_abs_difference_count"
ABS_DIFF_SUM = "serving_shadow_abs_difference_sum"
SHADOW_BATCHES = "serving_shadow_challenger_duration_seconds_count"
SHADOW_ERRORS = "serving_shadow_challenger_errors_total"
VARIANT_REQUESTS = "serving_variant_requests_total"

Sample = tuple[str, Mapping[str, str], float]


@dataclass(frozen=True)
class EvidenceRule:
    min_samples: int = 100
    max_error_rate_increase: float = 0.0
    max_mean_abs_diff: float | None = None

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise LifecycleError(f"--min-samples must be >= 1 (got {self.min_samples})")
        if not 0 <= self.max_error_rate_increase <= 1:
            raise LifecycleError(f"--max-error-rate-increase must be in [0, 1] (got {self.max_error_rate_increase})")
        if self.max_mean_abs_diff is not None and self.max_mean_abs_diff < 0:
            raise LifecycleError(f"--max-mean-abs-diff must be >= 0 (got {self.max_mean_abs_diff})")


@dataclass(frozen=True)
class Evidence:
    """The counters of one (champion, challenger) pair, summed over every series the source holds."""

    source: str
    champion_version: str | None
    challenger_version: str
    shadow_pairs: float = 0.0
    shadow_abs_diff_sum: float = 0.0
    shadow_batches: float = 0.0
    shadow_errors: float = 0.0
    ab_requests: float = 0.0
    ab_errors: float = 0.0
    champion_requests: float = 0.0
    champion_errors: float = 0.0

    @property
    def samples(self) -> float:
        return self.shadow_batches + self.ab_requests

    @property
    def challenger_error_rate(self) -> float | None:
        return (self.shadow_errors + self.ab_errors) / self.samples if self.samples else None

    @property
    def champion_error_rate(self) -> float:
        return self.champion_errors / self.champion_requests if self.champion_requests else 0.0

    @property
    def mean_abs_diff(self) -> float | None:
        return self.shadow_abs_diff_sum / self.shadow_pairs if self.shadow_pairs else None


@dataclass(frozen=True)
class EvidenceResult:
    evidence: Evidence
    rule: EvidenceRule
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        e = self.evidence
        rate = "n/a" if e.challenger_error_rate is None else f"{e.challenger_error_rate:.4%}"
        diff = "n/a" if e.mean_abs_diff is None else f"{e.mean_abs_diff:.4f}"
        facts = (
            f"challenger v{e.challenger_version}: {e.samples:.0f} samples "
            f"({e.shadow_batches:.0f} shadow batches, {e.ab_requests:.0f} A/B requests), error rate {rate}; "
            f"champion v{e.champion_version}: error rate {e.champion_error_rate:.4%} over {e.champion_requests:.0f} "
            f"requests; {e.shadow_pairs:.0f} shadow pairs, mean |champion - challenger| {diff}"
        )
        return f"{facts}; refused: {'; '.join(self.reasons)}" if self.reasons else facts

    def summary(self) -> dict[str, Any]:
        e = self.evidence
        return {
            "source": e.source,
            "samples": e.samples,
            "challenger_error_rate": e.challenger_error_rate,
            "champion_error_rate": e.champion_error_rate,
            "shadow_pairs": e.shadow_pairs,
            "mean_abs_diff": e.mean_abs_diff,
            "passed": self.passed,
        }


def fetch(url: str, timeout: float = FETCH_TIMEOUT_S) -> str:
    """The Prometheus text at `url` (http or https only)."""
    if not url.startswith(("http://", "https://")):
        raise LifecycleError(f"--evidence-url must be an http(s) URL (got {url!r})")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            return str(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        raise LifecycleError(f"cannot read the evidence at {url}: HTTP {e.code}") from e
    except (urllib.error.URLError, OSError) as e:
        raise LifecycleError(f"cannot read the evidence at {url}: {getattr(e, 'reason', e)}") from e


def parse(text: str, source: str) -> list[Sample]:
    try:
        return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]
    except ValueError as e:
        raise LifecycleError(f"the evidence at {source} is not in Prometheus text format: {e}") from e


def evidence_for(samples: list[Sample], source: str, champion: str | None, challenger: str) -> Evidence:
    """Sum the pair's counters; series of other versions (earlier experiments, other champions) are left out."""

    def total(name: str, **labels: str) -> float:
        return sum(v for n, got, v in samples if n == name and all(got.get(k) == x for k, x in labels.items()))

    pair = {"challenger_version": challenger}
    if champion is not None:
        pair["champion_version"] = champion
    ab = {"variant": "challenger", "version": challenger}
    baseline = {"variant": "champion", "version": champion or ""}
    return Evidence(
        source=source,
        champion_version=champion,
        challenger_version=challenger,
        shadow_pairs=total(PAIRS, **pair),
        shadow_abs_diff_sum=total(ABS_DIFF_SUM, **pair),
        shadow_batches=total(SHADOW_BATCHES, challenger_version=challenger),
        shadow_errors=total(SHADOW_ERRORS, challenger_version=challenger),
        ab_requests=total(VARIANT_REQUESTS, **ab),
        ab_errors=total(VARIANT_REQUESTS, **ab, outcome="error"),
        champion_requests=total(VARIANT_REQUESTS, **baseline),
        champion_errors=total(VARIANT_REQUESTS, **baseline, outcome="error"),
    )


def judge(evidence: Evidence, rule: EvidenceRule) -> EvidenceResult:
    reasons = []
    if evidence.samples < rule.min_samples:
        reasons.append(f"{evidence.samples:.0f} samples < --min-samples {rule.min_samples}")
    rate = evidence.challenger_error_rate
    if rate is not None and rate > evidence.champion_error_rate + rule.max_error_rate_increase:
        reasons.append(
            f"challenger error rate {rate:.4%} > champion's {evidence.champion_error_rate:.4%} "
            f"+ {rule.max_error_rate_increase:.4%}"
        )
    diff = evidence.mean_abs_diff
    if rule.max_mean_abs_diff is not None and diff is not None and diff > rule.max_mean_abs_diff:
        reasons.append(f"mean |champion - challenger| {diff:.4f} > --max-mean-abs-diff {rule.max_mean_abs_diff:g}")
    return EvidenceResult(evidence, rule, passed=not reasons, reasons=reasons)


@dataclass(frozen=True)
class EvidenceCheck:
    """Evidence read once from `url`, judged for whichever pair the promotion turns out to be."""

    url: str
    rule: EvidenceRule
    samples: list[Sample]

    @classmethod
    def load(cls, url: str, rule: EvidenceRule) -> EvidenceCheck:
        # The URL may carry credentials (https://user:token@host); the audit trail keeps it without them.
        source = re.sub(r"//[^/@]*@", "//", url)
        return cls(source, rule, parse(fetch(url), source))

    def judge(self, champion: str | None, challenger: str) -> EvidenceResult:
        return judge(evidence_for(self.samples, self.url, champion, challenger), self.rule)
