"""The connector loop: create, poll, and cancel the remote job when the caller is cancelled, even while
the submission is still in flight (the race behind a job left running after Ctrl-C)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from flyte._runtime import connector_loop
from flyte.extend import Resource, ResourceMeta, run_connector


class SlowCreateConnector:
    """An in-memory remote service: ``create`` makes the job at once but replies only after
    ``reply_after`` seconds; jobs run until ``finish`` or ``delete``."""

    def __init__(self, reply_after: float = 0.0, fail_create: bool = False) -> None:
        self.reply_after = reply_after
        self.fail_create = fail_create
        self.jobs: dict[str, str] = {}
        self.deleted: list[str] = []

    async def create(self, task: Any, inputs: dict[str, Any], ctx: Any) -> ResourceMeta:
        job_id = f"job-{len(self.jobs)}"
        self.jobs[job_id] = "RUNNING"
        await asyncio.sleep(self.reply_after)
        if self.fail_create:
            raise RuntimeError("quota exceeded")
        return ResourceMeta(kind="job", data={"id": job_id})

    async def get(self, meta: ResourceMeta) -> Resource:
        state = self.jobs[meta.data["id"]]
        return Resource(phase=state, outputs=42 if state == "SUCCEEDED" else None, message=state)

    async def delete(self, meta: ResourceMeta) -> None:
        self.deleted.append(meta.data["id"])
        self.jobs[meta.data["id"]] = "ABORTED"


async def test_outputs_once_the_job_succeeds() -> None:
    c = SlowCreateConnector()
    seen: list[ResourceMeta] = []

    async def on_created(meta: ResourceMeta) -> None:
        seen.append(meta)
        asyncio.get_running_loop().call_later(0.1, c.jobs.__setitem__, meta.data["id"], "SUCCEEDED")

    assert await run_connector(c, None, {}, None, on_created=on_created) == 42
    assert [m.data["id"] for m in seen] == ["job-0"] and c.deleted == []


async def test_failed_job_raises_its_message() -> None:
    c = SlowCreateConnector()
    c.jobs["job-9"] = "FAILED"
    with pytest.raises(RuntimeError, match="FAILED"):
        await run_connector(c, None, {}, None, meta=ResourceMeta(kind="job", data={"id": "job-9"}))
    assert c.jobs == {"job-9": "FAILED"}  # re-attached: nothing new created


async def test_cancel_while_polling_deletes_the_job() -> None:
    c = SlowCreateConnector()
    task = asyncio.ensure_future(run_connector(c, None, {}, None))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert c.deleted == ["job-0"] and c.jobs["job-0"] == "ABORTED"


async def test_cancel_while_create_is_in_flight_deletes_what_it_created() -> None:
    c = SlowCreateConnector(reply_after=0.5)
    task = asyncio.ensure_future(run_connector(c, None, {}, None))
    await asyncio.sleep(0.1)
    assert c.jobs == {"job-0": "RUNNING"}  # created remotely, reply not yet back
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert c.deleted == ["job-0"]


async def test_timeout_while_create_is_in_flight_deletes_what_it_created() -> None:
    c = SlowCreateConnector(reply_after=0.5)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await run_connector(c, None, {}, None)
    assert c.deleted == ["job-0"]


async def test_cancel_while_a_failing_create_is_in_flight_deletes_nothing() -> None:
    c = SlowCreateConnector(reply_after=0.3, fail_create=True)
    task = asyncio.ensure_future(run_connector(c, None, {}, None))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert c.deleted == []


async def test_a_submission_that_outlasts_the_grace_period_is_given_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(connector_loop, "CREATE_GRACE_S", 0.1)
    c = SlowCreateConnector(reply_after=10)
    task = asyncio.ensure_future(run_connector(c, None, {}, None))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert c.deleted == [] and "may be left" in caplog.text


async def test_failing_to_record_the_job_deletes_it() -> None:
    c = SlowCreateConnector()

    async def on_created(meta: ResourceMeta) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await run_connector(c, None, {}, None, on_created=on_created)
    assert c.deleted == ["job-0"]
