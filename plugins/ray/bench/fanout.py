"""The 10k fan-out on a Ray cluster: flyte's ``ray`` executor against Ray's own tasks, same cluster.

    python plugins/ray/bench/fanout.py [--n 10000] [--repeat 2] [--modes ray,flyte+ray]

Starts the tests' three-node cluster on 127.0.0.2-4 (head without CPUs; workers with 2 and 1 CPUs),
in a network namespace of its own where only loopback exists (re-executing itself under
``unshare --net`` when run as root; ``--no-netns`` to skip that), then measures, each in a fresh
driver process:

* ``ray``          N ``@ray.remote`` tasks ``x * x`` (1 CPU each, Ray's default), gathered by
                   ``ray.get``: the floor for any scheduler built on Ray;
* ``flyte+ray``    ``flyte.run(fanout, n=N)`` with ``executor="ray+direct://..."``: the same N
                   squares as child actions, each journaled on the driver, its inputs and output
                   through the run's store (``file://`` here), one Ray task each;
* ``flyte+ray nested`` the same fan-out one level down (``nested_fanout``): the root stays on the
                   driver, so here the fan-out's parent body runs on a Ray worker and sends its child
                   calls to the driver through the run's channel actor;
* ``flyte local``  the same workflow on this machine alone (inline), for scale;
* ``ray no-events`` Ray's tasks with ``enable_task_events=False``, as flyte submits its action tasks
                   (Ray's floor without its per-task state events).

Prints a JSON line per measurement and a table with the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench_common import enter_loopback_namespace, result_line

HERE = Path(__file__).resolve().parent
MODES = ("ray", "flyte+ray", "flyte+ray nested", "flyte local", "ray no-events")
TESTS = HERE.parent / "tests"

CHILD = r"""
import asyncio, json, os, sys, time
sys.path.insert(0, {tests!r})
mode, n, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode.startswith("ray"):
    import ray
    host, port = address.split("://", 1)[1].split(":")
    ray.init(address=f"{{host}}:{{port}}", _node_ip_address=host, log_to_driver=False)
    @ray.remote
    def square(x):
        return x * x
    if mode == "ray no-events":
        square = square.options(enable_task_events=False)
    ray.get([square.remote(i) for i in range(50)])  # warm the workers, as the flyte run's are below
    t0 = time.perf_counter()
    total = sum(ray.get([square.remote(i) for i in range(n)]))
    wall = time.perf_counter() - t0
else:
    import flyte
    import ray_flows as flows
    flow = flows.nested_fanout if mode == "flyte+ray nested" else flows.fanout
    if mode.startswith("flyte+ray"):
        flyte.init(executor=address)
        flyte.run(flow, n=50)  # connect and warm the workers (not timed)
    t0 = time.perf_counter()
    total = flyte.run(flow, n=n).outputs()[0]
    wall = time.perf_counter() - t0
assert total == sum(i * i for i in range(n)), total
print(json.dumps({{"mode": mode, "n": n, "wall_s": wall}}))
"""


def _measure(mode: str, n: int, address: str, home: str) -> float:
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, FLYTE_HOME=home, PYTHONPATH=path)  # (a PYTHONPATH of another checkout wins)
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(tests=str(TESTS)), mode, str(n), address],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    for line in out.stderr.splitlines():  # FLYTE_RAY_TRACE=1: the run's timing marks
        if line.startswith("FLYTE_RAY_TRACE "):
            print("  ", line, flush=True)
    return float(result_line(mode, out)["wall_s"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-netns", action="store_true", help="run in this network namespace")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {','.join(MODES)}")
    args = ap.parse_args()
    enter_loopback_namespace(__file__, skip=args.no_netns)

    sys.path.insert(0, str(TESTS))
    from ray_cluster import start_cluster

    cluster = start_cluster()
    results: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as home:
            for _ in range(args.repeat):
                for mode in args.modes.split(","):
                    results.setdefault(mode, []).append(_measure(mode, args.n, cluster.direct, home))
    finally:
        cluster.stop()
        shutil.rmtree(cluster.temp, ignore_errors=True)  # the nodes' session logs and sockets
    best = {mode: min(v) for mode, v in results.items()}
    print(f"\n{args.n:,} children, best of {args.repeat} (median in brackets); load {os.getloadavg()}")
    for mode, v in results.items():
        per = best[mode] / args.n * 1e6
        print(f"  {mode:12s} {best[mode]:7.2f} s  ({statistics.median(v):.2f} s)  {per:6.0f} µs/child")
    for mode in ("flyte+ray", "flyte+ray nested"):
        for floor in ("ray", "ray no-events"):
            if mode in best and floor in best:
                print(f"  {mode} / {floor} = {best[mode] / best[floor]:.2f}x")


if __name__ == "__main__":
    main()
