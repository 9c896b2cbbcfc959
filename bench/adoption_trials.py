"""Issue 23 measure: kill the driver of a 20-child process-isolated run at a random moment, recover it,
count bodies that executed more than once. ``python bench/adoption_trials.py [TRIALS]``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
N = 20
WINDOW = (float(os.environ.get("KILL_FROM", "0.0")), float(os.environ.get("KILL_TO", "1.5")))
"""The driver is killed this many seconds (uniform) after the first child body started."""


def trial(k: int, rng: random.Random) -> tuple[int, int, float, str, bool]:
    tmp = tempfile.mkdtemp(prefix="adopt-trial-")
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    env = dict(os.environ, FLYTE_HOME=os.path.join(tmp, "home"), PYTHONPATH=HERE)
    code = (
        "import flyte, adoption_app; flyte.with_runcontext(name='t', isolation='process', max_cpus=64)"
        f".run(adoption_app.main, n={N}, workdir={work!r})"
    )
    p = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp, stderr=subprocess.DEVNULL)
    log = os.path.join(work, "log.txt")
    t0 = time.monotonic()
    while not os.path.exists(log) and time.monotonic() - t0 < 120:  # the first body has started
        time.sleep(0.005)
    at = rng.uniform(*WINDOW)
    time.sleep(at)
    finished = p.poll() is not None
    p.send_signal(signal.SIGKILL)
    p.wait()
    text = open(log).read() if os.path.exists(log) else ""
    started = text.count("exec")
    done = text.count("done")
    rec = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            "import flyte; r = flyte.rerun('t', recover=True); print(r.outputs()[0])",
        ],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rec.returncode == 0 and rec.stdout.strip() == str(sum(range(N))), (rec.stdout, rec.stderr[-2000:])
    with open(os.path.join(work, "log.txt")) as f:
        counts = Counter(f.read().split("\n"))
    counts.pop("", None)
    dup = sum(1 for v in counts.values() if v > 1)
    before = sum(v for line, v in counts.items() if line.startswith("exec"))
    return dup, before, at, f"{started} started, {done} of them finished", finished


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rng = random.Random(23)
    total_dup = 0
    for k in range(trials):
        dup, execs, at, started, finished = trial(k, rng)
        total_dup += dup
        when = "after the run ended" if finished else started
        print(
            f"trial {k}: killed {at:.2f}s after the first body started ({when}), "
            f"{execs} body executions, run twice: {dup}",
            flush=True,
        )
    print(f"{trials} trials x {N} children: bodies executed more than once = {total_dup}")


if __name__ == "__main__":
    main()
