"""Shadow traffic: the challenger answers a sample off the request path; each row pair's difference counted."""

from __future__ import annotations

import anyio
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from service.core.loader import LoadedModel
from service.core.shadow import Shadow, ShadowJob
from training import data


def shadow_of(queue_size: int) -> tuple[Shadow, CollectorRegistry]:
    """A shadow sending every request (fraction 1), logging none, counting into its own registry."""
    registry = CollectorRegistry()
    return Shadow(fraction=1.0, queue_size=queue_size, log_sample=0.0, registry=registry), registry


def test_a_full_shadow_queue_drops_and_counts_without_waiting(
    champion: LoadedModel, challenger: LoadedModel, split: data.Split
) -> None:
    """No consumer runs here: a submit that waited for room in the full queue would never return."""
    shadow, registry = shadow_of(queue_size=3)
    rows = split.x_test.to_numpy()[:4]
    answer = champion.predictor.predict(rows).tolist()
    accepted = [shadow.submit(rows, champion, answer, challenger) for _ in range(5)]
    assert accepted == [True, True, True, False, False]
    assert registry.get_sample_value("serving_shadow_dropped_total") == 2
    assert shadow.describe()["queued"] == 3


def test_the_shadow_consumer_compares_each_row_pair(
    champion: LoadedModel, challenger: LoadedModel, split: data.Split
) -> None:
    shadow, registry = shadow_of(queue_size=8)
    rows = split.x_test.to_numpy()[:10]
    answer = champion.predictor.predict(rows).tolist()
    expected = np.abs(np.asarray(answer) - challenger.predictor.predict(rows))

    async def run() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(shadow.run)
            shadow.submit(rows, champion, answer, challenger)
            shadow.submit(rows[:3], champion, answer[:3], challenger)
            with anyio.fail_after(10):
                while (
                    registry.get_sample_value(
                        "serving_shadow_challenger_duration_seconds_count", {"challenger_version": "2"}
                    )
                    != 2
                ):
                    await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()

    anyio.run(run)
    labels = {"champion_version": "1", "challenger_version": "2"}
    assert registry.get_sample_value("serving_shadow_abs_difference_count", labels) == 13
    total = registry.get_sample_value("serving_shadow_abs_difference_sum", labels)
    assert total == pytest.approx(expected.sum() + expected[:3].sum(), rel=1e-9)
    assert not registry.get_sample_value("serving_shadow_challenger_errors_total", {"challenger_version": "2"})


def test_a_challenger_answer_of_the_wrong_length_is_an_error_not_a_pair(
    champion: LoadedModel, challenger: LoadedModel, split: data.Split
) -> None:
    shadow, registry = shadow_of(queue_size=8)
    rows = split.x_test.to_numpy()[:4]
    shadow.compare(ShadowJob(rows, champion, [1.0, 2.0], challenger, None))
    assert registry.get_sample_value("serving_shadow_challenger_errors_total", {"challenger_version": "2"}) == 1
    assert (
        registry.get_sample_value(
            "serving_shadow_abs_difference_count", {"champion_version": "1", "challenger_version": "2"}
        )
        is None
    )
