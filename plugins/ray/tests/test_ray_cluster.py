"""Workflows on a real three-node Ray cluster (127.0.0.2 head, .3 and .4 workers), driven through
flyte.run exactly as a user would after ``flyte.init(executor=...)``."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import flyte
import pytest
import ray_flows as flows
from flyte.errors import AcceleratorUnavailableError, RuntimeUserError, TaskTimeoutError
from ray_cluster import HEAD, WORKER_B, WORKER_C, RayCluster


def _modes(run: flyte.Run, home: Path) -> dict[str, set[str]]:
    """task name -> isolation modes recorded for its actions in the journal."""
    db = sqlite3.connect(home / "flyte-home" / "journal.db")
    out: dict[str, set[str]] = {}
    for name, mode in db.execute("SELECT task_name, mode FROM actions WHERE run=?", (run.name,)):
        out.setdefault(name, set()).add(mode)
    return out


def test_fanout_runs_children_on_the_cluster_and_the_root_on_the_driver(
    on_ray: RayCluster, home: Path
) -> None:
    run = flyte.run(flows.fanout, n=20)
    assert run.outputs()[0] == sum(i * i for i in range(20))
    modes = _modes(run, home)
    assert modes["ray_flows.square"] == {"ray"}
    assert modes["ray_flows.fanout"] == {"inline"}  # the workflow's orchestration stays on the driver


def test_a_wide_fan_out_behind_a_long_child_gets_each_result_back_as_it_ends(on_ray: RayCluster) -> None:
    # 600 children: more than the supervisor's collector waits on at once (it gathers results in
    # batches); the long child at the head of its queue must not hold the quick ones back
    n, seconds = 600, 20.0
    total, quick, whole = flyte.run(flows.wide_behind_slow, n=n, seconds=seconds).outputs()
    assert total == sum(i * i for i in range(n))
    assert quick < seconds <= whole


def test_flyte_ray_trace_counts_every_child_on_the_driver_and_the_supervisor(
    on_ray: RayCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import flyteplugins.ray._remote as remote

    monkeypatch.setattr(remote, "TRACE", True)  # as FLYTE_RAY_TRACE=1 in the driver's environment
    n = 300  # more than one submit chunk (256), and more than the collector's few (64)
    assert flyte.run(flows.fanout, n=n).outputs()[0] == sum(i * i for i in range(n))
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FLYTE_RAY_TRACE ")]
    assert len(lines) == 1, lines
    trace = json.loads(lines[0].split(" ", 1)[1])
    drv, sup = trace["driver"], trace["supervisor"]
    assert drv["n_drv_action"] == drv["n_drv_submit"] == drv["n_drv_results"] == n
    assert drv["n_drv_submit"] == sup["n_sup_submit_in"] == sup["n_sup_ended"] == sup["n_sup_poll_out"]
    assert sup["n_col_ready"] == n
    # the marks are seconds from the run's first child, on one clock for both processes
    first_submit, first_in = drv["drv_submit"][0], sup["sup_submit_in"][0]
    assert 0 <= first_submit <= first_in <= sup["sup_ended"][0] <= drv["drv_results"][1]
    assert sup["cpu_s"] > 0 and sup["threads_cpu_s"]


def test_a_childs_task_carries_its_own_fields_and_the_run_constant_part_travels_once(
    on_ray: RayCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sys

    import flyteplugins.ray._remote as remote
    from ray.experimental import internal_kv

    long_path = "/nonexistent/" + "p" * 4000  # on the driver's import path: in every child's spec
    monkeypatch.setattr(sys, "path", [long_path, *sys.path])
    monkeypatch.setattr(remote, "TRACE", True)  # the driver counts the bytes of the tasks' arguments
    n = 60
    before = set(internal_kv._internal_kv_list("flyte-spec-", namespace=remote.KV_NAMESPACE))
    out = flyte.run(flows.fan_shared_loads, n=n).outputs()[0]
    assert len(out) == n
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("FLYTE_RAY_TRACE ")]
    drv = json.loads(lines[-1].split(" ", 1)[1])["driver"]
    per_task = drv["n_drv_arg_bytes"] / n
    assert per_task < 400, f"{per_task:.0f} bytes a child: the run's import path travels with each"
    # a worker process read each shared part from the GCS once, however many children it ran
    assert len({pid for pid, _ in out}) < n
    assert {loads for _, loads in out} == {1}
    # the run removed what it stored once it ended
    assert set(internal_kv._internal_kv_list("flyte-spec-", namespace=remote.KV_NAMESPACE)) <= before


def test_actions_land_on_nodes_by_their_resources(on_ray: RayCluster) -> None:
    out = flyte.run(flows.placement).outputs()[0]
    # one logical H100 exists, on 127.0.0.4 (no real GPU: Ray's accounting is logical); Ray gives the
    # action that GPU and sets CUDA_VISIBLE_DEVICES for it
    assert out["gpu"]["node"] == WORKER_C
    assert out["gpu"]["gpus"] == ["0"] and out["gpu"]["cuda"] == "0"
    # 2 CPUs and 4 GiB: only 127.0.0.3 has them
    assert out["big"]["node"] == WORKER_B
    # the head offers no CPUs: no action runs there, and none runs in the driver's process
    assert out["plain"]["node"] in (WORKER_B, WORKER_C)
    assert out["driver_pid"] == os.getpid()
    assert os.getpid() not in {out[k]["pid"] for k in ("plain", "gpu", "big")}


def test_a_child_that_is_a_parent_runs_on_the_cluster_and_its_children_too(on_ray: RayCluster) -> None:
    a, b = flyte.run(flows.nested, n=6).outputs()[0]
    assert (a["total"], b["total"]) == (sum(i * i for i in range(6)), sum(i * i for i in range(7)))
    assert {a["node"], b["node"]} <= {WORKER_B, WORKER_C}


def test_ids_are_deterministic_across_runs_on_the_cluster(on_ray: RayCluster, home: Path) -> None:
    r1 = flyte.with_runcontext(name="det-a").run(flows.nested, n=3)
    r2 = flyte.with_runcontext(name="det-b").run(flows.nested, n=3)
    db = sqlite3.connect(home / "flyte-home" / "journal.db")

    def tree(run: str) -> list[tuple[Any, ...]]:
        return sorted(db.execute("SELECT task_name, position, action_id FROM actions WHERE run=?", (run,)))

    ids_a, ids_b = tree(r1.name), tree(r2.name)
    assert len(ids_a) == 1 + 2 + 3 + 4  # root, two inner, their squares
    assert [row[:2] for row in ids_a] == [row[:2] for row in ids_b]


def test_user_exceptions_keep_their_type_across_nodes(on_ray: RayCluster) -> None:
    assert flyte.run(flows.catches, x=7).outputs()[0] == "caught RuntimeUserError x=7: bad input 7"  # as Boom
    with pytest.raises(flows.Boom) as failed:
        flyte.run(flows.fails, x=3)  # fails is the root here: it runs on the driver
    assert failed.value.flyte_run.status == "FAILED"  # type: ignore[attr-defined]
    nested = flyte.run(flows.nested, n=0)
    assert [r["total"] for r in nested.outputs()[0]] == [0, 0]


def test_a_child_error_from_the_cluster_is_both_its_type_and_a_user_error(on_ray: RayCluster) -> None:
    @flows.env.task
    async def parent() -> str:
        try:
            await flows.fails(5)
        except RuntimeUserError as e:
            assert isinstance(e, flows.Boom) and e.x == 5
            return e.code
        return "none"

    # a task defined inside a test cannot be imported on a node; its child (fails) can
    assert flyte.run(parent).outputs()[0] == "Boom"


def test_traces_inside_a_cluster_action_are_recorded_by_the_driver(on_ray: RayCluster, home: Path) -> None:
    run = flyte.run(flows.call_traced, x=4)
    assert run.outputs()[0] == 9
    db = sqlite3.connect(home / "flyte-home" / "journal.db")
    kinds = dict(db.execute("SELECT task_name, kind FROM actions WHERE run=?", (run.name,)))
    assert any(name.endswith("double") for name in kinds), kinds


def test_reusable_environment_runs_on_warm_ray_actors(on_ray: RayCluster) -> None:
    out = flyte.run(flows.reuse_fan, n=8).outputs()[0]
    pids = {(r["node"], r["pid"]) for r in out}
    # ReusePolicy(replicas=2, concurrency=2): 8 actions share two warm replicas (actors)
    assert len(pids) == 2, pids
    again = flyte.run(flows.reuse_fan, n=2).outputs()[0]
    assert len({(r["node"], r["pid"]) for r in again}) >= 1


def test_timeout_stops_the_action_on_the_cluster(on_ray: RayCluster) -> None:
    @flows.env.task
    async def parent() -> str:
        try:
            await flows.too_slow()
        except TaskTimeoutError as e:
            return type(e).__name__
        return "finished"

    t0 = time.monotonic()
    assert flyte.run(parent).outputs()[0] in (
        "MaxRuntimeExceededError",
        "TaskTimeoutError",
        "DeadlineExceededError",
    )
    assert time.monotonic() - t0 < 25


def test_a_request_no_node_can_meet_fails_at_once_with_the_fix(on_ray: RayCluster) -> None:
    @flows.env.task
    async def parent() -> int:
        return await flows.needs_eight_a100()

    t0 = time.monotonic()
    with pytest.raises(AcceleratorUnavailableError, match="no node of the Ray cluster"):
        flyte.run(parent).outputs()[0]
    assert time.monotonic() - t0 < 20


def test_values_travel_through_the_runs_store(on_ray: RayCluster, home: Path) -> None:
    run = flyte.run(flows.sum_big, n=50_000)
    assert run.outputs()[0] == sum(range(50_000))


def test_ray_client_address(cluster: RayCluster, home: Path) -> None:
    """``ray://HOST:PORT`` (Ray Client), from a driver process of its own: a Ray Client connection
    and a direct one cannot share a process, and the other tests here join directly."""
    import subprocess
    import sys

    code = (
        "import flyte, ray_flows as flows;"
        f"flyte.init(executor={cluster.client!r});"
        "run = flyte.run(flows.nested, n=4);"
        "out = run.outputs()[0];"
        "print('totals', [r['total'] for r in out], sorted({r['node'] for r in out}))"
    )
    env = dict(os.environ, FLYTE_HOME=str(home / "client-home"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("totals"))
    assert line.startswith("totals [14, 30]")
    assert "127.0.0.2" not in line  # the children ran on the worker nodes


def test_a_node_killed_mid_run_fails_only_its_actions_which_are_retried(
    on_ray: RayCluster, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    box: dict[str, Any] = {}

    def drive() -> None:
        box["run"] = flyte.run(flows.survive, n=2, marker_dir=str(markers), seconds=8.0)

    t = threading.Thread(target=drive)
    t.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(list(markers.iterdir())) < 2:
        time.sleep(0.2)
    started = {p.name.split("-")[0]: p.name.split("-")[1] for p in markers.iterdir()}
    assert len(started) == 2, started
    victim = WORKER_C if WORKER_C in started.values() else WORKER_B
    survivor_node = WORKER_B if victim == WORKER_C else WORKER_C
    on_ray.kill_node(victim)
    try:
        for i in started:  # once retried, the steps finish at once
            (markers / f"{i}-done-x").write_text("")
        t.join(120)
        assert not t.is_alive()
        out = box["run"].outputs()[0]
        assert {r["node"] for r in out} == {survivor_node}
        assert all(r["node"] != victim for r in out)
    finally:
        on_ray.restart_node(victim)
    assert HEAD not in started.values()


def test_flyte_run_cli_takes_the_executor(on_ray: RayCluster, home: Path) -> None:
    """`flyte run --executor ...` from a shell: a fresh driver process joins the cluster."""
    import subprocess
    import sys

    flows_file = Path(flows.__file__)
    env = dict(os.environ, FLYTE_HOME=str(home / "flyte-home"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "flyte.cli.main",
            "run",
            "--executor",
            on_ray.direct,
            "--quiet",
            str(flows_file),
            "fanout",
            "--n",
            "6",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "outputs: 55" in out.stdout
    db = sqlite3.connect(home / "flyte-home" / "journal.db")
    assert {m for (m,) in db.execute("SELECT mode FROM actions WHERE task_name='ray_flows.square'")} == {
        "ray"
    }


def test_what_cluster_actions_print_is_kept_with_them(on_ray: RayCluster, home: Path) -> None:
    run = flyte.run(flows.chatty, n=3)
    assert run.outputs()[0] == 3
    deadline = time.monotonic() + 10  # logs reach the driver through the channel, just after results
    logs: list[str] = []
    while time.monotonic() < deadline:
        logs = sorted(
            p.read_text()
            for p in (home / "flyte-home" / "data" / "runs" / run.name).glob("*/logs/attempt-0.log")
        )
        if len(logs) == 3:
            break
        time.sleep(0.2)
    assert logs == [f"hello from a Ray node, x={i}\n" for i in range(3)]
