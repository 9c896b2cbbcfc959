"""Storage faults in the middle of runs, against a real S3 server on 127.0.0.1: throttling and 5xx
retried by the runtime (not by the task's retries), short outages ridden out, a long outage failing
the run with StorageError while everything recorded is kept, and ``--recover`` finishing it once the
server is back (paused and resumed, or killed and restarted on the same port)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flyte
import flyte.errors
import pytest
import s3_flows as flows
from flyteplugins.s3.testing import MotoServer
from s3_testkit import S3Env, count, s3_env, start_server, wait_for


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as s:
        yield s


@pytest.fixture
def s3(server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    yield from s3_env(server, tmp_path, monkeypatch, retry_deadline=2)


def rows(s3: S3Env, run_name: str) -> list[sqlite3.Row]:
    con = sqlite3.connect(s3.home / "journal.db")
    con.row_factory = sqlite3.Row
    try:
        return list(con.execute("SELECT * FROM actions WHERE run=? ORDER BY started_at", (run_name,)))
    finally:
        con.close()


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Runs ``fn`` on a thread; ``out`` gets its run (a failed run's, from the error it raised)."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(fn())
        except Exception as e:
            out.append(getattr(e, "flyte_run", e))

    t = threading.Thread(target=target)
    t.start()
    return t, out


def test_throttling_and_5xx_are_retried_without_using_task_retries(s3: S3Env, tmp_path: Path) -> None:
    s3.server.inject_faults(3, status=503, code="SlowDown")
    run = flyte.run(flows.pipeline, n=2, workdir=str(tmp_path))
    assert run.status == "SUCCEEDED" and run.outputs()[0] == 2 * flows.BIG
    s3.server.inject_faults(2, status=500, code="InternalError")
    run = flyte.run(flows.files_and_dirs, text="t", n=2)
    assert run.outputs()[0] == "t|T|1"
    assert {r["attempts"] for r in rows(s3, run.name)} == {1}  # retries=0 tasks, one attempt each


def test_a_short_outage_is_ridden_out(s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte._runtime.store import clear_store_cache

    monkeypatch.setenv("FLYTE_STORAGE_RETRY_DEADLINE", "30")
    flyte.init(raw_data_path=s3.raw, storage=s3.server.storage_options())  # the env deadline applies
    clear_store_cache()
    s3.server.pause()  # connection refused from the first request on
    t, out = in_thread(lambda: flyte.run(flows.pipeline, n=2, workdir=str(tmp_path)))
    time.sleep(1.5)
    s3.server.resume()
    t.join(60)
    run = out[0]
    assert run.status == "SUCCEEDED", run.error
    assert count(tmp_path, "step-0") == 1 and {r["attempts"] for r in rows(s3, run.name)} == {1}


def test_a_long_outage_fails_the_run_and_recover_finishes_it(s3: S3Env, tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    gate = tmp_path / "gate"
    t, out = in_thread(lambda: flyte.run(flows.pipeline, n=4, workdir=str(work), gate=str(gate)))
    wait_for(work / "at-gate")  # steps 0 and 1 are recorded, their outputs in S3; step 2 is running
    s3.server.pause()
    gate.touch()  # step 2 ends; storing its output fails until the retry deadline (2 s)
    t.join(60)
    run = out[0]
    assert run.status == "FAILED"
    assert isinstance(run.error, flyte.errors.StorageError), run.error
    assert "still failing after" in str(run.error) and "--recover" in str(run.error)
    recorded = [(r["task_name"], r["status"]) for r in rows(s3, run.name)]
    assert recorded == [  # steps 0 and 1 are kept; step 2's output never reached S3
        ("s3flows.pipeline", "FAILED"),
        ("s3flows.step", "SUCCEEDED"),
        ("s3flows.step", "SUCCEEDED"),
        ("s3flows.step", "FAILED"),  # the failure is recorded on the step whose output it was (issue 18)
    ]
    for r in rows(s3, run.name):
        if r["status"] == "FAILED":
            error = json.loads(r["error"])
            assert error["code"] == "StorageError" and error["kind"] == "system"

    s3.server.resume()
    again = flyte.rerun(run.name, recover=True)
    assert again.status == "SUCCEEDED", again.error
    assert again.outputs()[0] == 4 * flows.BIG
    assert [count(work, f"step-{i}") for i in range(4)] == [1, 1, 2, 1]  # only step 2 ran again
    record = json.loads(s3.get(f"data/runs/{run.name}/_record/run.json"))
    assert record["run"]["status"] == "SUCCEEDED" and record["final"]


def test_server_killed_and_restarted_on_the_same_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MotoServer() as server:
        port = server.port
        env = s3_env(server, tmp_path, monkeypatch, retry_deadline=2)
        s3 = next(env)
        try:
            work = tmp_path / "w"
            work.mkdir()
            gate = tmp_path / "gate"
            t, out = in_thread(
                lambda: flyte.run(flows.upload_pipeline, n=4, workdir=str(work), gate=str(gate))
            )
            wait_for(work / "at-gate")
            server.kill()  # a crash: the port is closed and the server's in-memory objects are gone
            gate.touch()  # upload 2 cannot reach S3 until the deadline
            t.join(60)
            run = out[0]
            assert run.status == "FAILED" and isinstance(run.error, flyte.errors.StorageError)

            restarted = MotoServer(port=port).start()  # a new server process on the same port
            try:
                restarted.create_bucket(s3.bucket)
                again = flyte.rerun(run.name, recover=True)
                assert again.status == "SUCCEEDED", again.error
                assert again.outputs()[0] == sum(i * i + i for i in range(4))
                # what had finished was in the local journal: not redone, though S3 lost its copies
                assert [count(work, f"small-{i}") for i in range(4)] == [1, 1, 1, 1]
                # upload 2 failed in its body: 1 attempt + FLYTE_SYSTEM_RETRIES (2) system retries
                # during the outage (its retries=0 untouched), then once more on recovery
                assert [count(work, f"upload-{i}") for i in range(4)] == [1, 1, 4, 1]
                record = json.loads(
                    restarted.client()
                    .get_object(Bucket=s3.bucket, Key=f"data/runs/{run.name}/_record/run.json")["Body"]
                    .read()
                )
                assert record["run"]["status"] == "SUCCEEDED"  # the record is complete again
            finally:
                restarted.stop()
        finally:
            env.close()


def test_seaweedfs_crash_and_restart_is_ridden_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real object store SIGKILLed while a step is running and started again on the same ports
    with its data on disk: the runtime's storage retries ride the outage out, nothing that finished
    runs again, and what was stored before the crash is still there."""
    monkeypatch.setenv("FLYTE_STORAGE_RETRY_DEADLINE", "60")
    with start_server("seaweedfs") as server:
        env = s3_env(server, tmp_path, monkeypatch)
        s3 = next(env)
        try:
            work = tmp_path / "w"
            work.mkdir()
            gate = tmp_path / "gate"
            t, out = in_thread(lambda: flyte.run(flows.pipeline, n=4, workdir=str(work), gate=str(gate)))
            wait_for(work / "at-gate")  # steps 0 and 1 are stored; step 2 is running
            stored = sorted(s3.keys())
            server.kill()
            gate.touch()  # step 2 ends while the store is down: its output waits for the store
            time.sleep(1.0)
            server.start()  # same ports, same data directory
            t.join(120)
            run = out[0]
            assert run.status == "SUCCEEDED", run.error
            assert run.outputs()[0] == 4 * flows.BIG
            assert [count(work, f"step-{i}") for i in range(4)] == [1, 1, 1, 1]
            assert set(stored) <= set(s3.keys())  # nothing stored before the crash was lost
            assert {r["attempts"] for r in rows(s3, run.name)} == {1}  # storage retries, not task retries
        finally:
            env.close()


def test_seaweedfs_down_is_a_system_error_and_recover_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS SIGKILLed while a step (retries=3) runs and stays down past the retry deadline: the
    step's upload fails with ObjectStoreError, recorded as a system error and retried
    FLYTE_SYSTEM_RETRIES times without touching the step's own retries; the run fails naming the
    object and the fix. Restarted (same ports, same data), ``--recover`` finishes the run and nothing
    that had finished runs again."""
    from flyte._runtime.store import ObjectStoreError

    monkeypatch.setenv("FLYTE_SYSTEM_RETRIES", "2")
    monkeypatch.setenv("FLYTE_SYSTEM_RETRY_DELAY", "0.05")
    with start_server("seaweedfs") as server:
        env = s3_env(server, tmp_path, monkeypatch, retry_deadline=1)
        s3 = next(env)
        try:
            work = tmp_path / "w"
            work.mkdir()
            gate = tmp_path / "gate"
            t, out = in_thread(
                lambda: flyte.run(flows.retried_uploads, n=4, workdir=str(work), gate=str(gate))
            )
            wait_for(work / "at-gate")  # uploads 0 and 1 are in S3 and recorded; upload 2 is running
            server.kill()  # S3 down
            gate.touch()
            t.join(120)
            run = out[0]
            assert run.status == "FAILED"
            assert isinstance(run.error, ObjectStoreError) and run.error.kind == "system", run.error
            assert f"s3://{s3.bucket}/data/runs/{run.name}/" in str(run.error)
            assert f"flyte rerun {run.name} --recover" in str(run.error)
            failed = [r for r in rows(s3, run.name) if r["task_name"] == "s3flows.retried_upload"]
            assert [r["status"] for r in failed] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
            assert failed[2]["attempts"] == 3  # 1 + 2 system retries; retries=3 would make it 4
            con = sqlite3.connect(s3.home / "journal.db")
            try:
                errors = [
                    json.loads(e)
                    for (e,) in con.execute(
                        "SELECT error FROM attempts WHERE run=? AND action_id=? ORDER BY attempt",
                        (run.name, failed[2]["action_id"]),
                    )
                ]
            finally:
                con.close()
            assert [(e["code"], e["kind"]) for e in errors] == [("StorageError", "system")] * 3
            assert errors[0]["type"] == "flyte._runtime.store.ObjectStoreError"
            assert count(work, "retried-2") == 3

            server.start()  # back on the same ports with its data
            again = flyte.rerun(run.name, recover=True)
            assert again.status == "SUCCEEDED", again.error
            assert again.outputs()[0] == sum(range(4))
            assert [count(work, f"retried-{i}") for i in range(4)] == [1, 1, 4, 1]
        finally:
            env.close()
