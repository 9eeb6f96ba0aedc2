"""The harness itself: secrets stay marked, Output-implied dependencies are seen, exports resolve."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.infra.harness import run_stack

PROGRAM = """
import pulumi, pulumi_random as random, pulumi_aws as aws
pw = random.RandomPassword("pw", length=32, special=False)
param = aws.ssm.Parameter("param", type="SecureString", value=pw.result)
other = aws.ssm.Parameter("other", type="String", value="x", opts=pulumi.ResourceOptions(depends_on=[param]))
pulumi.export("password", pw.result)
pulumi.export("count", 3)
"""


def test_harness_records_secrets_dependencies_and_exports(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(PROGRAM)
    rec = run_stack("dev", program=program)
    pw = rec.one("random:index/randomPassword:RandomPassword")
    param = rec.one("aws:ssm/parameter:Parameter", "param")
    other = rec.one("aws:ssm/parameter:Parameter", "other")
    assert param.is_secret("value") and not param.is_secret("type")
    assert param.inputs["value"] == pw.outputs["result"]
    assert param.property_dependencies["value"] == [pw.urn]
    assert rec.depends_on(other, pw) and not rec.depends_on(pw, other)
    assert rec.exports == {"password": pw.outputs["result"], "count": 3}
    assert isinstance(rec.exports["count"], int)
    assert rec.secret_exports == {"password"}


def test_a_runs_seconds_are_its_own_not_a_busy_threads() -> None:
    """`Recording.seconds` (test_wiring's five-second budget) counts the program's thread and the engine calls it
    makes, per thread (time.thread_time, CLOCK_THREAD_CPUTIME_ID), not a busy server thread of another test in the
    same process, which process_time would bill to the program."""
    stop = threading.Event()
    burned: list[float] = []

    def spin() -> None:
        started = time.thread_time()
        while not stop.is_set():
            sum(range(1000))
        burned.append(time.thread_time() - started)

    busy = threading.Thread(target=spin)
    before = time.process_time()
    busy.start()
    try:
        rec = run_stack("dev")
    finally:
        stop.set()
        busy.join()
    process = time.process_time() - before
    assert burned[0] > 0.1, "the spinner hardly ran: nothing to tell apart"
    # What the process spent, less the spinner's own thread, bounds the run's cost from above.
    assert 0 < rec.seconds <= process - burned[0], (rec.seconds, process, burned[0])
