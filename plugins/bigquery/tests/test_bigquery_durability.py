"""The job's lifecycle around crashes and cancellation, against the BigQuery REST stand-in (whose
``hold`` knob keeps a job RUNNING): a recovered run re-attaches to the job it had started; Ctrl-C, a
timeout and a failing parent cancel it; submitting the same attempt twice adopts the first job."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import types
from pathlib import Path
from typing import Any

import bq_durable_app as app
import flyte
import pytest
from conftest import PROJECT, StandIn, journal_rows, spawn, wait_until
from flyteplugins.bigquery import BigQueryConfig, BigQueryConnector, BigQueryInvalidError, BigQueryTask

EXPECTED = [{"ds": "2024-01-01", "events": 2, "total": 8}]


@pytest.fixture
def durable(client: Any) -> str:
    """The dataset the durability app reads (shared by the tests of the session's server)."""
    client.create_dataset(app.DATASET, exists_ok=True)
    client.query(f"CREATE OR REPLACE TABLE {app.DATASET}.events (ds STRING, name STRING, n INT64)").result()
    client.query(
        f"INSERT INTO {app.DATASET}.events VALUES ('2024-01-01', 'ann', 3), ('2024-01-01', 'bob', 5)"
    ).result()
    return app.DATASET


def _start_main(run_name: str) -> Any:
    """``bq_durable_app.main`` as a run in its own process (which the tests kill or interrupt)."""
    code = "import flyte, bq_durable_app as a; "
    return spawn(code + f"flyte.with_runcontext(name={run_name!r}).run(a.main, ds='2024-01-01')")


def _held_job(bq: StandIn, run_name: str, proc: Any = None) -> dict[str, Any]:
    # 90 s: the run's process must start (imports of google-cloud-bigquery) before it submits the job
    jobs = wait_until(
        lambda: [j for j in bq.jobs(contains=run_name) if j["state"] == "RUNNING"], timeout=90, proc=proc
    )
    assert len(jobs) == 1 and jobs[0]["held"]
    return jobs[0]  # type: ignore[no-any-return]


def _cancelled(bq: StandIn, job_id: str) -> dict[str, Any]:
    job = wait_until(lambda: next((j for j in bq.jobs(job_id) if j["state"] == "DONE"), None), timeout=15)
    assert job["cancelled"] and job["errorResult"]["reason"] == "stopped", job
    return job  # type: ignore[no-any-return]


def test_recovered_run_reattaches_to_the_running_job(bq: StandIn, durable: str, flyte_home: Path) -> None:
    bq.hold()
    run_name = "bq-reattach"
    proc = _start_main(run_name)
    try:
        job = _held_job(bq, run_name, proc)
        sql = "SELECT meta FROM actions WHERE run=? AND task_name LIKE '%count_events' AND meta IS NOT NULL"
        rows = wait_until(lambda: journal_rows(flyte_home, sql, (run_name,)), proc=proc)
    finally:
        proc.kill()  # SIGKILL: no cleanup runs, the job is left RUNNING
        proc.wait(timeout=10)
    meta = json.loads(rows[0]["meta"])
    assert meta["kind"] == "bigquery_query_job" and meta["data"]["job_id"] == job["jobId"]
    assert bq.jobs(job["jobId"])[0]["state"] == "RUNNING"
    polls_before = len(bq.calls("get_job", job["jobId"]))

    result: dict[str, Any] = {}
    recover = threading.Thread(target=lambda: result.update(run=flyte.rerun(run_name, recover=True)))
    recover.start()
    try:
        wait_until(lambda: len(bq.calls("get_job", job["jobId"])) > polls_before)  # polling the same job
        assert "run" not in result  # ... which is still running
    finally:
        bq.release(job["jobId"])
        recover.join(timeout=60)
    run = result["run"]
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == EXPECTED
    assert [j["jobId"] for j in bq.jobs(contains=run_name)] == [job["jobId"]]  # no second job
    assert not bq.jobs(job["jobId"])[0]["cancelled"]


def test_ctrl_c_cancels_the_job(bq: StandIn, durable: str, flyte_home: Path) -> None:
    bq.hold()
    run_name = "bq-ctrl-c"
    proc = _start_main(run_name)
    try:
        job = _held_job(bq, run_name, proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _cancelled(bq, job["jobId"])
    assert (
        journal_rows(flyte_home, "SELECT status FROM runs WHERE name=?", (run_name,))[0]["status"]
        == "ABORTED"
    )


def test_ctrl_c_while_the_submission_is_in_flight_cancels_the_job(
    bq: StandIn, durable: str, flyte_home: Path
) -> None:
    """The job exists on the server but its creator has not had the reply yet when Ctrl-C comes: the
    submission is let finish and the job it created is cancelled, not left running."""
    bq.hold(insert_reply_delay=3.0)
    run_name = "bq-ctrl-c-in-flight"
    proc = _start_main(run_name)
    try:
        job = _held_job(bq, run_name, proc)
        proc.send_signal(signal.SIGINT)  # within the 3 s before the insert reply
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _cancelled(bq, job["jobId"])
    [cancel] = bq.calls("cancel_job", job["jobId"])
    assert cancel
    status = journal_rows(flyte_home, "SELECT status FROM runs WHERE name=?", (run_name,))[0]["status"]
    assert status == "ABORTED"


def test_timeout_cancels_the_job(bq: StandIn, durable: str) -> None:
    bq.hold()
    run = flyte.with_runcontext(name="bq-timeout").run(app.with_timeout, ds="2024-01-01")
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == "timed out: MaxRuntimeExceededError"
    [job] = bq.jobs(contains="bq-timeout")
    _cancelled(bq, job["jobId"])


def test_failing_parent_cancels_the_job(bq: StandIn, durable: str) -> None:
    bq.hold()
    with pytest.raises(Exception) as failed:
        flyte.with_runcontext(name="bq-parent-fails").run(app.fail_while_querying, ds="2024-01-01")
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and "the parent failed" in str(run.error)
    [job] = bq.jobs(contains="bq-parent-fails")
    _cancelled(bq, job["jobId"])


def _ctx(run_name: str, attempt: int = 0) -> Any:
    # what the connector reads from flyte.extend.ExecutionContext
    return types.SimpleNamespace(
        run_name=run_name, action_id="a" * 32, attempt=attempt, run_prefix="file:///x"
    )


def test_submitting_the_same_attempt_again_adopts_the_job(bq: StandIn, durable: str) -> None:
    """A crash between jobs.insert and the journal's record: the resubmission finds the job."""
    connector = BigQueryConnector()
    meta1 = asyncio.run(connector.create(app.count_events, {"ds": "2024-01-01"}, _ctx("bq-adopt")))
    meta2 = asyncio.run(connector.create(app.count_events, {"ds": "2024-01-01"}, _ctx("bq-adopt")))
    assert meta1 == meta2 and len(bq.jobs(contains="bq-adopt")) == 1
    # the same job ID with another query is refused, not adopted
    other = BigQueryTask(
        name="other",
        query_template="SELECT @ds AS ds",
        inputs={"ds": str},
        plugin_config=BigQueryConfig(ProjectID=PROJECT),
    )
    with pytest.raises(BigQueryInvalidError, match="already used by another query job"):
        asyncio.run(connector.create(other, {"ds": "2024-01-01"}, _ctx("bq-adopt")))
    # a failed earlier job of this attempt is not adopted: a new job runs
    broken = BigQueryTask(
        name="broken",
        query_template="SELECT * FROM nowhere.t",
        plugin_config=BigQueryConfig(ProjectID=PROJECT),
    )
    first = asyncio.run(connector.create(broken, {}, _ctx("bq-adopt-failed")))
    wait_until(lambda: bq.jobs(first.data["job_id"])[0]["state"] == "DONE")
    again = asyncio.run(connector.create(broken, {}, _ctx("bq-adopt-failed")))
    assert again.data["job_id"] != first.data["job_id"]
    assert again.data["job_id"].startswith(first.data["job_id"])


def test_delete_is_idempotent(bq: StandIn, durable: str) -> None:
    connector = BigQueryConnector()

    async def delete(meta: Any) -> None:
        await connector.delete(meta)

    done = asyncio.run(connector.create(app.count_events, {"ds": "2024-01-01"}, None))
    wait_until(lambda: bq.jobs(done.data["job_id"])[0]["state"] == "DONE")
    asyncio.run(delete(done))  # already finished: left as it is
    assert bq.jobs(done.data["job_id"])[0]["errorResult"] is None
    bq.hold()
    held = asyncio.run(connector.create(app.count_events, {"ds": "2024-01-01"}, None))
    asyncio.run(delete(held))
    asyncio.run(delete(held))
    _cancelled(bq, held.data["job_id"])
    gone = type(held)(kind=held.kind, data={**held.data, "job_id": "no_such_job"})
    asyncio.run(delete(gone))
