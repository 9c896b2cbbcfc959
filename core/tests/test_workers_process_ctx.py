"""``flyte.ctx()`` inside a process-isolated task shows the run as an inline task sees it: run name,
identity (project, domain, org), start time, the run-cache switch and the run's data directory."""

from __future__ import annotations

import datetime
import os

import ctx_app as app
import flyte
import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")

RUN_FIELDS = (
    "run_name",
    "action_run_name",
    "project",
    "domain",
    "org",
    "start",
    "disable_run_cache",
    "run_base_dir",
    "custom",
)


def _pair(run: flyte.Run) -> tuple[dict, dict]:
    inline, process = run.outputs()[0]
    assert process["action_id"] != inline["action_id"]
    assert inline["action_name"].endswith("probe_inline")
    assert process["action_name"].endswith("probe_process")
    return inline, process


def test_process_task_sees_the_runs_identity_start_and_cache_switch() -> None:
    flyte.init(org="acme", project="proj-a", domain="staging")
    start = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    run = flyte.with_runcontext(
        name="ctx-proc-1",
        run_start_time=start,
        disable_run_cache=True,
        project="proj-b",
        custom_context={"team": "ml"},
    ).run(app.both)
    inline, process = _pair(run)
    for key in RUN_FIELDS:
        assert process[key] == inline[key], key
    assert process["run_name"] == "ctx-proc-1"
    assert (process["project"], process["domain"], process["org"]) == ("proj-b", "staging", "acme")
    assert process["start"] == start and process["disable_run_cache"] is True
    assert process["custom"] == {"team": "ml"}


def test_process_task_start_time_is_when_the_run_began_not_now() -> None:
    before = datetime.datetime.now(datetime.UTC)
    inline, process = _pair(flyte.run(app.both))
    for key in RUN_FIELDS:
        assert process[key] == inline[key], key
    assert before - datetime.timedelta(seconds=1) <= process["start"] <= datetime.datetime.now(datetime.UTC)
    assert process["disable_run_cache"] is False


def test_blocking_requests_on_the_workers_loop_while_other_actions_arrive() -> None:
    """The worker reads its socket on the event loop; a trace step's blocking request made on that
    thread reads its own reply and starts the actions that arrive meanwhile (none is lost)."""
    rows = flyte.run(app.many_traced, 12).outputs()[0]
    pids = [r[0] for r in rows]
    assert max(pids.count(p) for p in pids) > 1  # a replica ran several of them, concurrently
    assert [r[1:] for r in rows] == [[i + k for k in range(5)] for i in range(12)]
