"""Process isolation: what an action costs inline vs in a worker process, and cold vs warm replicas.

    python bench/isolation.py                  # chain 300, fan-out 1000, 0.5 s model load
    python bench/isolation.py --chain 1000 --fanout 2000 --setup 1.0 --out isolation.md

Runs in this process against a fresh FLYTE_HOME (a temp dir). Parents run inline and time their
children with ``perf_counter`` after a warm-up call, so worker start-up is reported separately:

- per action, sequential: a parent awaits N trivial children one after another (latency);
- per action, fan-out: a parent gathers N trivial children (throughput);
- worker cold start: spawn + ``import flyte`` + import of this module, until the first result;
- replica cold/warm: a ``ReusePolicy`` environment whose module-level setup sleeps ``--setup``
  seconds (a stand-in for loading a model) only in its workers; the first call pays start + setup,
  later calls reuse the warm replica;
- raw round trip (``bench/roundtrip.py``): two bare Python processes ping-ponging a small message
  over a socketpair, blocking and with asyncio on both sides: the floor this machine sets under a
  process-mode step (one round trip), measured in the same window.

Prints a markdown table (and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

import flyte

SETUP_S = float(os.environ.get("BENCH_SETUP_S", "0.5"))
if os.environ.get("BENCH_LOAD_MODEL") == "1":
    time.sleep(SETUP_S)  # the "model load": runs once per replica process that imports this module
    MODEL: dict[str, float] | None = {"loaded_at": time.time()}
else:
    MODEL = None

parents = flyte.TaskEnvironment(name="iso_parent")
inline_env = flyte.TaskEnvironment(name="iso_inline")
process_env = flyte.TaskEnvironment(name="iso_process", resources=flyte.Resources(cpu="250m", memory="1Gi"))
replica_env = flyte.TaskEnvironment(
    name="iso_replica",
    resources=flyte.Resources(cpu="250m", memory="2Gi"),
    reusable=flyte.ReusePolicy(replicas=(0, 2), concurrency=1),
    env_vars={"BENCH_LOAD_MODEL": "1"},
)


@inline_env.task
async def leaf_inline(x: int) -> int:
    return x + 1


@process_env.task
async def leaf_process(x: int) -> int:
    return x + 1


@replica_env.task
async def predict(x: int) -> int:
    assert MODEL is not None  # loaded at import, in this replica
    return x + 1


@parents.task
async def chain(n: int, where: str) -> float:
    leaf = leaf_process if where == "process" else leaf_inline
    await leaf(0)  # warm-up: starts the worker in process mode
    t0 = time.perf_counter()
    x = 0
    for _ in range(n):
        x = await leaf(x)
    return time.perf_counter() - t0


@parents.task
async def fanout(n: int, where: str) -> float:
    leaf = leaf_process if where == "process" else leaf_inline
    await asyncio.gather(*(leaf(i) for i in range(8)))  # warm-up: start the workers it will use
    t0 = time.perf_counter()
    await asyncio.gather(*(leaf(i) for i in range(n)))
    return time.perf_counter() - t0


@parents.task
async def cold_worker() -> float:
    t0 = time.perf_counter()
    await leaf_process(1)
    return time.perf_counter() - t0


@parents.task
async def replica_calls(n: int) -> list[float]:
    """[first call (cold replica), then n warm calls]."""
    out = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        await predict(i)
        out.append(time.perf_counter() - t0)
    return out


def fmt_s(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chain", type=int, default=300, help="sequential children per measurement")
    ap.add_argument("--fanout", type=int, default=1000, help="gathered children per measurement")
    ap.add_argument("--warm-calls", type=int, default=20, help="warm replica calls to take the median of")
    ap.add_argument("--setup", type=float, default=SETUP_S, help="seconds of module-level setup per replica")
    ap.add_argument("--out", default=None, help="also write the markdown table to this file")
    ap.add_argument("--raw-n", type=int, default=2000, help="round trips per raw floor measurement (0: skip)")
    ap.add_argument(
        "--json", dest="json_out", default=None, help="also write the figures (seconds) as JSON here"
    )
    args = ap.parse_args(argv)
    os.environ["BENCH_SETUP_S"] = str(args.setup)  # read by the replicas when they import this module

    home = tempfile.mkdtemp(prefix="flyte-bench-iso-")
    os.environ["FLYTE_HOME"] = os.path.join(home, "flyte-home")
    flyte.init()
    flyte.run(chain, n=2, where="inline")  # import/lazy-init warm-up, not measured

    rows: list[tuple[str, str, str]] = []
    t_in = flyte.run(chain, n=args.chain, where="inline").outputs()[0]
    t_pr = flyte.run(chain, n=args.chain, where="process").outputs()[0]
    rows.append(
        (f"per action, sequential chain of {args.chain}", fmt_s(t_in / args.chain), fmt_s(t_pr / args.chain))
    )
    f_in = flyte.run(fanout, n=args.fanout, where="inline").outputs()[0]
    f_pr = flyte.run(fanout, n=args.fanout, where="process").outputs()[0]
    rows.append(
        (f"per action, fan-out of {args.fanout}", fmt_s(f_in / args.fanout), fmt_s(f_pr / args.fanout))
    )
    cold = statistics.median(flyte.run(cold_worker).outputs()[0] for _ in range(3))
    rows.append(("worker cold start (spawn + imports + first action)", "-", fmt_s(cold)))
    calls = flyte.run(replica_calls, n=args.warm_calls).outputs()[0]
    rows.append(
        (f"reusable replica, first call (start + {args.setup:g} s module-level setup)", "-", fmt_s(calls[0]))
    )
    rows.append(
        (
            "reusable replica, warm call (median; setup not paid again)",
            "-",
            fmt_s(statistics.median(calls[1:])),
        )
    )

    raw: dict[str, dict[str, float]] = {}
    if args.raw_n > 0:
        from roundtrip import best  # bench/roundtrip.py, next to this script

        for mode in ("blocking", "asyncio"):
            raw[mode] = best(mode, args.raw_n, 3)
            rows.append(
                (
                    f"raw round trip, {mode} (floor: two bare processes, socketpair; best of 3)",
                    "-",
                    f"{fmt_s(raw[mode]['wall'])} (CPU {fmt_s(raw[mode]['parent_cpu'])} + "
                    f"{fmt_s(raw[mode]['child_cpu'])})",
                )
            )
    shutil.rmtree(home, ignore_errors=True)

    if args.json_out:  # read by bench/run.py --isolation, which folds these into its one table
        figures = {
            "chain_n": args.chain,
            "chain_inline_s": t_in / args.chain,
            "chain_process_s": t_pr / args.chain,
            "fanout_n": args.fanout,
            "fanout_inline_s": f_in / args.fanout,
            "fanout_process_s": f_pr / args.fanout,
            "cold_start_s": cold,
            "replica_first_s": calls[0],
            "replica_warm_s": statistics.median(calls[1:]),
            **{f"raw_{mode}_s": r["wall"] for mode, r in raw.items()},
        }
        with open(args.json_out, "w") as f:
            json.dump(figures, f, indent=2)
    lines = [
        f"Process isolation, Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}",
        "",
        "| what | inline | process |",
        "| --- | ---: | ---: |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
