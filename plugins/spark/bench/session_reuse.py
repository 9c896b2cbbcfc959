"""What reusing the Spark session saves: K Spark tasks in one run, timed from the parent.

    python plugins/spark/bench/session_reuse.py [--tasks 5] [--repeat 3]

Three ways to give each task a session, each measured in fresh processes:

* ``reuse``            the plugin's default: the first task starts the session, the others reuse it;
* ``stop-per-task``    ``FLYTE_SPARK_REUSE_SESSION=0``: the session is stopped after each task and the
                       next one starts a new SparkContext (in the JVM that is already running);
* ``process-per-task`` each task in its own process, so each pays the JVM start as well (what a
                       Spark session per isolated worker or per pod costs).

Every task runs the same small job (group 200k rows into 10 keys and collect them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import flyte
from flyteplugins.spark import Spark, session_info
from pyspark.sql import SparkSession

spark_env = flyte.TaskEnvironment(name="bench-spark", plugin_config=Spark())
env = flyte.TaskEnvironment(name="bench-parent")


@spark_env.task
def job(i: int) -> int:
    spark = SparkSession.builder.getOrCreate()
    rows = spark.range(200_000).selectExpr(f"(id + {i}) % 10 AS k").groupBy("k").count().collect()
    return len(rows)


@env.task
async def chain(k: int) -> list[float]:
    """Wall time of each task as the parent sees it (session start, the job, journaling)."""
    times = []
    for i in range(k):
        t0 = time.perf_counter()
        assert await job.aio(i) == 10
        times.append(time.perf_counter() - t0)
    return times


def _child(k: int) -> None:
    """One measurement in this (fresh) process; prints JSON for the driver."""
    times = flyte.run(chain, k=k).outputs()[0]
    print(json.dumps({"times": times, "session": session_info()}))


def _measure(mode: str, k: int, home: str) -> list[float]:
    env_vars = dict(os.environ, FLYTE_HOME=home)
    if mode == "stop-per-task":
        env_vars["FLYTE_SPARK_REUSE_SESSION"] = "0"
    runs, per_process = (1, k) if mode != "process-per-task" else (k, 1)
    times: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(per_process)],
            env=env_vars,
            capture_output=True,
            text=True,
            check=True,
        )
        times.extend(json.loads(out.stdout.strip().splitlines()[-1])["times"])
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return
    k = args.tasks
    results: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as home:
        for _ in range(args.repeat):
            for mode in ("reuse", "stop-per-task", "process-per-task"):
                results.setdefault(mode, []).append(_measure(mode, k, home))
    print(f"{k} Spark tasks in one run, {args.repeat} repeats (median), on {os.cpu_count()} CPUs\n")
    print(f"| {'mode':<17} | first task | each later task | all {k} tasks | reuse saves |")
    print(f"|{'-' * 19}|-----------:|----------------:|-------------:|------------:|")
    totals = {m: statistics.median(sum(t) for t in runs) for m, runs in results.items()}
    for mode, runs in results.items():
        first = statistics.median(t[0] for t in runs)
        later = statistics.median(statistics.mean(t[1:]) for t in runs) if k > 1 else float("nan")
        saving = "" if mode == "reuse" else f"{totals[mode] - totals['reuse']:.1f} s"
        print(f"| {mode:<17} | {first:8.2f} s | {later:13.2f} s | {totals[mode]:10.2f} s | {saving:>11} |")
    print("\n" + json.dumps({"results": results}))


if __name__ == "__main__":
    main()
