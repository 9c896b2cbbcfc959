"""Where the driver's CPU goes in a fan-out on the Ray executor (the per-child cost of flyte+ray).

    python plugins/ray/bench/profile_driver.py [--n 2000] [--repeat 2] [--profile FILE] [--top 30]

Starts the tests' three-node loopback cluster (in a network namespace of its own, as ``fanout.py``
does), then alternates, each in a fresh driver process: Ray's own ``N`` tasks (the floor) and
``flyte.run(fanout, n=N)`` on ``ray+direct://``. Prints a JSON line per measurement with the wall
time and the driver's CPU seconds (``time.process_time``: every thread of the driver). With
``--profile`` the last flyte run is under cProfile and its top functions (by own time) are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _bench_common import enter_loopback_namespace, result_line

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"

CHILD = r"""
import cProfile, json, sys, time
sys.path.insert(0, {tests!r})
mode, n, address, prof = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if mode == "ray":
    import ray
    host, port = address.split("://", 1)[1].split(":")
    ray.init(address=f"{{host}}:{{port}}", _node_ip_address=host, log_to_driver=False)
    @ray.remote
    def square(x):
        return x * x
    ray.get([square.remote(i) for i in range(50)])
    def go():
        return sum(ray.get([square.remote(i) for i in range(n)]))
else:
    import flyte
    import ray_flows as flows
    flyte.init(executor=address)
    flyte.run(flows.fanout, n=50)
    def go():
        return flyte.run(flows.fanout, n=n).outputs()[0]
def mark(what):  # the parent reads the cluster's CPU at each mark: the timed window alone
    print("MARK " + what, flush=True)
    sys.stdin.readline()
p = cProfile.Profile() if prof != "-" else None
mark("start")
c0, t0 = time.process_time(), time.perf_counter()
if p is not None:
    p.enable()
total = go()
if p is not None:
    p.disable()
    p.dump_stats(prof)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
mark("end")  # before the driver exits (its actors go with it)
assert total == sum(i * i for i in range(n)), total
print(json.dumps({{"mode": mode, "n": n, "wall_s": round(wall, 3), "driver_cpu_s": round(cpu, 3)}}))
"""


def _cluster_cpu(cluster: Any) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each process of the cluster's nodes, with its name (Ray's proctitle)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stats[int(entry)] = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
    ours = set(cluster.pids())  # the nodes' process groups; Ray's workers have groups of their own
    grew = True
    while grew:
        more = {pid for pid, st in stats.items() if int(st[1]) in ours} - ours
        ours |= more
        grew = bool(more)
    out = {}
    for pid in ours:
        try:
            fields = stats[pid]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, KeyError):
            continue
        name = cmd.split()[0] if cmd else "?"
        if "default_worker.py" in cmd:
            name = "ray worker (python)"
        elif name.startswith("ray::"):
            name = cmd.split(" ")[0].split(".")[0]  # an actor, without the method it runs now
        out[pid] = (os.path.basename(name)[:40], (int(fields[11]) + int(fields[12])) / tick)
    return out


def _cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    by: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        d = cpu - before.get(pid, (name, 0.0))[1]
        if d > 0.005:
            by[name] = round(by.get(name, 0.0) + d, 2)
    return dict(sorted(by.items(), key=lambda kv: -kv[1]))


def _measure(mode: str, n: int, address: str, home: str, prof: str, cluster: Any) -> dict[str, Any]:
    """One driver process; the cluster's CPU is read at its marks (the timed window alone)."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, FLYTE_HOME=home, PYTHONPATH=path)  # (a PYTHONPATH of another checkout wins)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(tests=str(TESTS)), mode, str(n), address, prof],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    cpu: list[dict[int, tuple[str, float]]] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("MARK "):
            cpu.append(_cluster_cpu(cluster))
            proc.stdin.write("\n")
            proc.stdin.flush()
            if len(cpu) == 2:
                break
    out, err = proc.communicate(timeout=1800)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines) + out, err)
    row = result_line(mode, done)
    if len(cpu) == 2:
        delta = _cpu_delta(cpu[0], cpu[1])
        row["cluster_cpu_s"] = round(sum(delta.values()), 2)
        print("   cluster CPU s in the window:", json.dumps(delta), flush=True)
        # processes that started in the window (a worker started mid-run costs its imports)
        new: dict[str, int] = {}
        for pid, (name, _) in cpu[1].items():
            if pid not in cpu[0]:
                new[name] = new.get(name, 0) + 1
        print("   processes started in the window:", json.dumps(new), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--profile", default="", help="write the last flyte run's cProfile stats here")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--no-netns", action="store_true")
    args = ap.parse_args()
    enter_loopback_namespace(__file__, skip=args.no_netns)

    sys.path.insert(0, str(TESTS))
    from ray_cluster import start_cluster

    cluster = start_cluster()
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as home:
            for i in range(args.repeat):
                last = i == args.repeat - 1
                for mode in ("ray", "flyte+ray"):
                    prof = args.profile if (last and args.profile and mode != "ray") else "-"
                    rows.append(_measure(mode, args.n, cluster.direct, home, prof, cluster))
    finally:
        cluster.stop()
        shutil.rmtree(cluster.temp, ignore_errors=True)  # the nodes' session logs and sockets
    for mode in ("ray", "flyte+ray"):
        mine = [r for r in rows if r["mode"] == mode]
        print(
            f"{mode:10s} best wall {min(r['wall_s'] for r in mine):.2f} s, "
            f"driver CPU {min(r['driver_cpu_s'] for r in mine) / args.n * 1e3:.3f} ms/child, "
            f"cluster CPU {min(r.get('cluster_cpu_s', 0.0) for r in mine) / args.n * 1e3:.3f} ms/child"
        )
    if args.profile:
        import pstats

        pstats.Stats(args.profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
