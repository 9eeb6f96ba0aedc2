"""`python -m bench profile`: each py-spy sample is counted under the stage that owns it.

py-spy's raw format (`py-spy record --format raw`, py-spy 0.4.1) is one line per distinct stack: frames root
first as `function (file:line)` joined by `;`, then a space and the number of samples.
"""

from __future__ import annotations

import pytest

from bench.profile import shares, stage_of

LOOP = "<module> (gunicorn:8);run (asyncio/runners.py:118)"
APP = f"{LOOP};run_asgi (uvicorn/protocols/http/httptools_impl.py:422);__call__ (service/middleware.py:79)"
LANE = f"{APP};__call__ (service/fastlane.py:77);predict (service/dataplane.py:176)"


@pytest.mark.parametrize(
    ("stack", "stage"),
    [
        # Work: the innermost frame of a stage names it.
        (f"{LANE};_parse (service/dataplane.py:262);_matrix (service/core/fastdecode.py:113)", "decode"),
        (f"{LANE};run_model (service/core/predict.py:161);predict (service/core/predictors.py:63)", "model"),
        (f"{LANE};_all (numpy/_core/_methods.py:70)", "lane"),
        (f"{APP};send_with_id (service/middleware.py:76);send (uvicorn/protocols/http/httptools_impl.py:524)", "http"),
        (f"{LANE};render (service/dataplane.py:68)", "encode"),
        # Bookkeeping wherever it is: the metrics a cache call writes, the input check the drift window makes.
        (f"{LANE};wanted (service/core/cache.py:253);inc (prometheus_client/metrics.py:342)", "metrics"),
        (f"{LANE};observe (service/core/drift.py:216);numeric_view (service/core/validation.py:479)", "drift"),
        (f"{LANE};lookup (service/core/cache.py:296);mget (redis/commands/core.py:3772)", "cache"),
        (f"{APP};accept_request_id (service/logs.py:24)", "logging"),
        ("_bootstrap (threading.py:1002);run (some/other.py:1)", "other"),
    ],
)
def test_a_sample_is_counted_under_the_stage_that_owns_it(stack: str, stage: str) -> None:
    assert stage_of(stack.split(";")) == stage


def test_shares_add_up_the_samples_of_each_stage() -> None:
    raw = "\n".join(
        [
            f"{LANE};render (service/dataplane.py:68) 3",
            f"{LANE};_parse (service/dataplane.py:262);_loads (service/core/fastdecode.py:80) 1",
            f"{APP};send (uvicorn/protocols/http/httptools_impl.py:524) 4",
            "",
        ]
    )
    assert shares(raw) == ({"http": 0.5, "encode": 0.375, "decode": 0.125}, 8)
