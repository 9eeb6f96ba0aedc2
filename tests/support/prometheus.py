"""What tests read from a Prometheus exposition (the service's /metrics, in-process or under Gunicorn)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families


def sample_sum(exposition: str, name: str, labels: Mapping[str, str]) -> float:
    """The sum of the samples of `name` whose labels include `labels` (under Gunicorn: over all workers)."""
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
