"""Issue 23 on Ray: kill the driver of a run of N one-shot Ray children at a random moment, recover it,
count bodies that executed more than once.

    python plugins/ray/bench/adoption_trials.py [--trials 10] [--n 8]

Starts the tests' three-node loopback cluster (in a network namespace of its own when run as root,
as ``fanout.py`` does). Each child logs ``exec i`` when its body starts and ``done i`` when it ends,
after 0..2.4 s; the driver is killed 0..2 s (uniform) after the first body started, then
``flyte.rerun(name, recover=True)`` runs in a fresh process and must return the full sum.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _bench_common import enter_loopback_namespace

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"

APP = """
import asyncio, os
import flyte

env = flyte.TaskEnvironment(name="ray_adopt_trials", resources=flyte.Resources(cpu=0.25))


@env.task
async def child(i: int, workdir: str, secs: float) -> int:
    with open(os.path.join(workdir, "log.txt"), "a") as f:
        f.write(f"exec {i}\\n")
    await asyncio.sleep(secs)
    with open(os.path.join(workdir, "log.txt"), "a") as f:
        f.write(f"done {i}\\n")
    return i


@env.task
async def main(n: int, workdir: str) -> int:
    secs = [((i * 7919) % 13) / 5 for i in range(n)]  # 0 .. 2.4 s, fixed per child
    return sum(await asyncio.gather(*(child(i, workdir, secs[i]) for i in range(n))))
"""


def trial(address: str, n: int, rng: random.Random, app_dir: str) -> tuple[int, int, float, str]:
    tmp = tempfile.mkdtemp(prefix="ray-adopt-trial-")
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    env = dict(
        os.environ, FLYTE_HOME=os.path.join(tmp, "home"), PYTHONPATH=os.pathsep.join([app_dir, str(TESTS)])
    )
    run = (
        f"import flyte, ray_adopt_trials_app as app; flyte.init(executor={address!r});"
        f"flyte.with_runcontext(name='t').run(app.main, n={n}, workdir={work!r})"
    )
    p = subprocess.Popen([sys.executable, "-c", run], env=env, cwd=tmp, stderr=subprocess.DEVNULL)
    log = os.path.join(work, "log.txt")
    t0 = time.monotonic()
    while not os.path.exists(log) and time.monotonic() - t0 < 180:
        time.sleep(0.005)
    at = rng.uniform(0.0, 2.0)
    time.sleep(at)
    ended = p.poll() is not None
    p.send_signal(signal.SIGKILL)
    p.wait()
    text = open(log).read() if os.path.exists(log) else ""
    state = "after the run ended" if ended else f"{text.count('exec')} started, {text.count('done')} finished"
    rec = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            f"import flyte; flyte.init(executor={address!r});"
            "r = flyte.rerun('t', recover=True); print(r.outputs()[0])",
        ],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rec.returncode == 0 and rec.stdout.strip() == str(sum(range(n))), (rec.stdout, rec.stderr[-2000:])
    with open(log) as f:
        counts = Counter(line for line in f.read().split("\n") if line)
    shutil.rmtree(tmp, ignore_errors=True)
    dup = sum(1 for line, v in counts.items() if line.startswith("exec") and v > 1)
    execs = sum(v for line, v in counts.items() if line.startswith("exec"))
    return dup, execs, at, state


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--no-netns", action="store_true", help="run in this network namespace")
    args = ap.parse_args()
    enter_loopback_namespace(__file__, skip=args.no_netns)
    sys.path.insert(0, str(TESTS))
    from ray_cluster import start_cluster

    app_dir = tempfile.mkdtemp(prefix="ray-adopt-app-")
    Path(app_dir, "ray_adopt_trials_app.py").write_text(APP)
    os.environ["PYTHONPATH"] = os.pathsep.join([app_dir, str(TESTS), os.environ.get("PYTHONPATH", "")])
    cluster = start_cluster()
    rng = random.Random(23)
    total = 0
    try:
        for k in range(args.trials):
            dup, execs, at, state = trial(cluster.direct, args.n, rng, app_dir)
            total += dup
            print(
                f"trial {k}: killed {at:.2f}s after the first body started ({state}), "
                f"{execs} body executions, run twice: {dup}",
                flush=True,
            )
    finally:
        cluster.stop()
        shutil.rmtree(app_dir, ignore_errors=True)
    print(f"{args.trials} trials x {args.n} Ray children: bodies executed more than once = {total}")


if __name__ == "__main__":
    main()
