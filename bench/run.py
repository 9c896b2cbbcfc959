"""Run the workload benchmarks on three engines and print a markdown report.

Engines (each workload runs in its own fresh process per engine; see `bench/workloads.py`):
  asyncio  the same code with a stand-in `flyte` whose tasks are bare coroutines (the floor)
  ours     core/src/flyte, FLYTE_HOME set to a fresh temp dir
  anchor   flyte==2.12.1 in its own venv (.bench/anchor-venv, created on first use)

Examples:
  python bench/run.py                      # full sizes, all engines
  python bench/run.py --quick              # small sizes (smoke run)
  python bench/run.py --skip-anchor --out bench-results.md
  python bench/run.py --workloads fanout_10k,chain_1k --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import guard
from _common import (
    ANCHOR_VERSION,
    BENCH_DIR,
    CORE_SRC,
    ENGINES,
    AnchorUnavailable,
    engine_command,
    engine_env,
    ensure_anchor_python,
    log,
    markdown_table,
    one_line,
    ratio,
)

MiB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    workload: str  # a key of workloads.WORKLOADS
    size: int
    quick_size: int
    anchor_opt_in: bool = False  # anchor runs this only with --anchor-100k (or --quick)


ROWS: tuple[Row, ...] = (
    Row("fanout_1k", "fan-out", "fanout", 1_000, 100),
    Row("fanout_10k", "fan-out", "fanout", 10_000, 1_000),
    Row("chain_1k", "sequential chain", "chain", 1_000, 100),
    Row("tree_10x10x10", "tree, 3 levels", "tree", 10, 4),
    Row("cache_hits_1k", "cache hits", "cache_hits", 1_000, 100),
    Row("payload_50mb", "payload parent->child->parent", "payload", 50 * MiB, 5 * MiB),
    Row("fanout_100k", "fan-out (scaling)", "fanout", 100_000, 3_000, anchor_opt_in=True),
)
TARGET_ROW = "fanout_10k"
TARGET_TIME = 0.10  # ours/anchor wall time on the 10k fan-out
TARGET_MEM = 0.50  # ours/anchor peak RSS


def size_label(workload: str, size: int) -> str:
    if workload == "tree":
        return f"{size}x{size}x{size}"
    if workload == "payload":
        return f"{size / MiB:g} MiB"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


def fmt_seconds(s: float) -> str:
    return f"{s * 1000:.2f} ms" if s < 0.1 else f"{s:.3f} s"


def fmt_us(us: float) -> str:
    return f"{us:.1f} µs" if us < 100 else f"{us:,.0f} µs"


def _parse_result(stdout: str) -> dict[str, Any] | None:
    """The engine's result is the last stdout line that is a JSON object with an "engine" key."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "engine" in obj:
            return obj
    return None


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_cell(
    engine: str,
    workload: str,
    size: int,
    anchor_python: Path | None,
    timeout: float,
    keep: bool,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one (engine, workload, size) in a fresh process and return its result record."""
    base: dict[str, Any] = {"engine": engine, "workload": workload, "size": size}
    try:
        cmd = engine_command(engine, anchor_python)
    except AnchorUnavailable as exc:
        return {**base, "ok": False, "error": str(exc)}
    cmd += [str(BENCH_DIR / "engine.py"), "--workload", workload, "--size", str(size)]
    workdir = Path(tempfile.mkdtemp(prefix=f"flyte-bench-{engine}-"))
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,  # away from the repo, so no project config is picked up
            env={**engine_env(engine, workdir), **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {**base, "ok": False, "error": f"timed out after {timeout:g} s"}
    except OSError as exc:
        return {**base, "ok": False, "error": f"could not start {cmd[0]}: {exc}"}
    finally:
        if keep:
            log(f"    kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    record = _parse_result(stdout)
    if record is None:
        detail = _tail(stderr) or _tail(stdout) or "(no output)"
        return {**base, "ok": False, "error": f"exit code {proc.returncode}, no result line: {detail}"}
    record["process_s"] = time.perf_counter() - started
    if not record.get("ok"):
        record["stderr_tail"] = _tail(stderr)
    return record


def run_repeated(
    engine: str, workload: str, size: int, anchor_python: Path | None, timeout: float, repeat: int, keep: bool
) -> dict[str, Any]:
    """Run a cell `repeat` times; keep the run with the median wall time (peak RSS: median too)."""
    records = [run_cell(engine, workload, size, anchor_python, timeout, keep) for _ in range(repeat)]
    good = sorted((r for r in records if r.get("ok")), key=lambda r: float(r["wall_s"]))
    if not good:
        return records[-1]
    chosen = dict(good[(len(good) - 1) // 2])
    chosen["peak_rss_mb"] = statistics.median(float(r["peak_rss_mb"]) for r in good)
    chosen["runs"] = len(good)
    chosen["wall_s_min"] = float(good[0]["wall_s"])  # best of N: what the regression guard compares
    if len(good) > 1:
        chosen["wall_s_all"] = [r["wall_s"] for r in good]
    return chosen


class Footnotes:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.notes:
            self.notes.append(text)
        return f"[{self.notes.index(text) + 1}]"

    def render(self) -> str:
        return "\n".join(f"[{i}] {n}" for i, n in enumerate(self.notes, 1))


def _ok(rec: dict[str, Any] | None) -> bool:
    return bool(rec and rec.get("ok"))


def _wall(rec: dict[str, Any] | None) -> float | None:
    return float(rec["wall_s"]) if rec and rec.get("ok") else None


def _mem(rec: dict[str, Any] | None) -> float | None:
    return float(rec["peak_rss_mb"]) if rec and rec.get("ok") else None


def _above_floor(
    ours: float | None, anchor: float | None, floor: float | None
) -> tuple[float | None, float | None]:
    """Each SDK's peak RSS less the plain-asyncio run's (never below zero), for `ratio`."""
    if ours is None or anchor is None or floor is None:
        return None, None
    return max(ours - floor, 0.0), max(anchor - floor, 0.0)


def _cell(rec: dict[str, Any] | None, notes: Footnotes, kind: str) -> str:
    if rec is None:
        return "-"
    if rec.get("skipped"):
        return "skipped " + notes.ref(str(rec["skipped"]))
    if not rec.get("ok"):
        return "ERROR " + notes.ref(f"{rec['engine']}: {one_line(str(rec.get('error')))}")
    if kind == "time":
        return f"{fmt_seconds(float(rec['wall_s']))} ({fmt_us(float(rec['per_action_us']))})"
    return f"{rec['peak_rss_mb']:.0f}"


def render(
    rows: Sequence[Row],
    results: dict[tuple[str, str], dict[str, Any]],
    quick: bool,
    meta: dict[str, str],
    verdicts: dict[str, guard.Verdict] | None = None,
    extra_rows: Sequence[list[str]] = (),
) -> str:
    """The report; `extra_rows` (isolation) are time-table rows whose last cell is their row key."""
    notes = Footnotes()
    verdicts = verdicts or {}
    time_rows: list[list[str]] = []
    mem_rows: list[list[str]] = []
    for row in rows:
        a, o, n = (results.get((row.key, e)) for e in ENGINES)
        size = row.quick_size if quick else row.size
        ref = next((r for r in (o, n, a) if _ok(r)), None)
        actions = f"{ref['actions']:,}" if ref else "?"
        time_rows.append(
            [
                row.label,
                size_label(row.workload, size),
                actions,
                _cell(a, notes, "time"),
                _cell(o, notes, "time"),
                _cell(n, notes, "time"),
                ratio(_wall(o), _wall(a)),
                ratio(_wall(o), _wall(n)),
                verdicts[row.key].cell if row.key in verdicts else "-",
            ]
        )
        mem_rows.append(
            [
                row.label,
                size_label(row.workload, size),
                _cell(a, notes, "mem"),
                _cell(o, notes, "mem"),
                _cell(n, notes, "mem"),
                ratio(_mem(o), _mem(n)),
                ratio(*_above_floor(_mem(o), _mem(n), _mem(a))),
            ]
        )

    out: list[str] = []
    out.append(f"## Workload benchmarks ({'quick' if quick else 'full'} sizes)")
    out.append("")
    out.append(" · ".join(f"{k}: {v}" for k, v in meta.items()))
    out.append("")
    out.append("Wall time of the run (µs per child action in parentheses); lower is better.")
    out.append("")
    for extra in extra_rows:
        key = extra[-1]
        time_rows.append([*extra[:-1], verdicts[key].cell if key in verdicts else "-"])
    out.append(
        markdown_table(
            [
                "workload",
                "size",
                "actions",
                "asyncio",
                "ours",
                "anchor",
                "ours/asyncio",
                "ours/anchor",
                "baseline",
            ],
            time_rows,
            "lllrrrrrr",
        )
    )
    out.append("")
    out.append(
        "Peak RSS of the engine process (MB, includes interpreter and imports). The last column"
        " compares what each SDK adds above the same workload on plain asyncio (the interpreter,"
        " asyncio and the workload's own values), which is the part an engine can change."
    )
    out.append("")
    out.append(
        markdown_table(
            ["workload", "size", "asyncio", "ours", "anchor", "ours/anchor", "above asyncio, ours/anchor"],
            mem_rows,
            "llrrrrr",
        )
    )
    out.append("")

    # Targets.
    out.append("Targets:")
    tgt = results.get((TARGET_ROW, "ours")), results.get((TARGET_ROW, "anchor"))
    target_row = next(r for r in ROWS if r.key == TARGET_ROW)
    label = f"{size_label('fanout', target_row.quick_size if quick else target_row.size)} fan-out"
    out.append(
        "- " + _target_line(f"{label} wall time, ours/anchor", _wall(tgt[0]), _wall(tgt[1]), TARGET_TIME)
    )
    out.append("- " + _target_line(f"{label} peak RSS, ours/anchor", _mem(tgt[0]), _mem(tgt[1]), TARGET_MEM))
    pairs = []
    for row in rows:
        mo, ma = _mem(results.get((row.key, "ours"))), _mem(results.get((row.key, "anchor")))
        if mo is not None and ma is not None and ma > 0:
            pairs.append(
                (f"{row.label} {size_label(row.workload, row.quick_size if quick else row.size)}", mo, ma)
            )
    if pairs:
        worst = max(pairs, key=lambda p: p[1] / p[2])
        out.append(
            "- "
            + _target_line(
                f"peak RSS, worst workload ({worst[0]}), ours/anchor", worst[1], worst[2], TARGET_MEM
            )
        )

    # Sanity notes.
    extra: list[str] = []
    for row in rows:
        if row.workload != "cache_hits":
            continue
        parts = []
        for e in ENGINES:
            rec = results.get((row.key, e))
            if _ok(rec) and rec is not None and "executions_in_measured_run" in rec:
                parts.append(f"{e} {rec['executions_in_measured_run']}")
        if parts:
            extra.append(
                "cache hits: task bodies executed during the measured (second) run: "
                + ", ".join(parts)
                + " (asyncio has no cache; 0 means every call was a hit)"
            )
    if any(row.workload == "payload" for row in rows):
        extra.append(
            "payload: a `str` passed inline, `max_inline_io_bytes=256 MiB` on the parent and the child task "
            "(works on both SDKs); the child returns it and the parent compares it."
        )
    if extra:
        out.append("")
        out.append("Notes:")
        out.extend(f"- {e}" for e in extra)
    if notes.notes:
        out.append("")
        out.append(notes.render())
    return "\n".join(out) + "\n"


# Process isolation rows (bench/isolation.py --json), each against the asyncio floor of the same shape:
# (row key, label, figure, size key, floor row).
ISOLATION_ROWS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("process_chain", "process isolation, chain", "chain_process_s", "chain_n", "chain_1k"),
    ("process_fanout", "process isolation, fan-out", "fanout_process_s", "fanout_n", "fanout_10k"),
    ("replica_warm", "reusable replica, warm call", "replica_warm_s", None, "chain_1k"),
)
ISOLATION_SIZES = {False: (500, 2000), True: (100, 300)}  # (chain, fan-out) for full / quick


def run_isolation(quick: bool, timeout: float) -> dict[str, Any]:
    """bench/isolation.py in a fresh process (our SDK only: the anchor has no local process mode)."""
    chain_n, fanout_n = ISOLATION_SIZES[quick]
    workdir = Path(tempfile.mkdtemp(prefix="flyte-bench-iso-"))
    out = workdir / "isolation.json"
    cmd = [
        sys.executable,
        str(BENCH_DIR / "isolation.py"),
        "--chain",
        str(chain_n),
        "--fanout",
        str(fanout_n),
    ]
    cmd += ["--setup", "0.1", "--warm-calls", "20", "--json", str(out)]
    env = engine_env("ours", workdir)
    env["PYTHONPATH"] = os.pathsep.join([str(CORE_SRC), str(BENCH_DIR)])
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out.exists():
            return {"ok": False, "error": f"isolation.py exit {proc.returncode}: {_tail(proc.stderr, 5)}"}
        return {"ok": True, **json.loads(out.read_text())}
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"isolation.py timed out after {timeout:g} s"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def best_isolation(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's best over the runs that worked (the last error when none did)."""
    good = [r for r in runs if r.get("ok")]
    if not good:
        return runs[-1]
    best = dict(good[0])
    for r in good[1:]:
        for k, v in r.items():
            if k.endswith("_s"):
                best[k] = min(best[k], v)
    return best


def isolation_rows(
    iso: dict[str, Any], results: dict[tuple[str, str], dict[str, Any]]
) -> tuple[list[list[str]], dict[str, float]]:
    """Table rows (last cell: row key) and ours/asyncio ratios; the floor is asyncio's per-action time."""
    rows: list[list[str]] = []
    ratios: dict[str, float] = {}
    for key, label, figure, size_key, floor_row in ISOLATION_ROWS:
        floor = results.get((floor_row, "asyncio"))
        floor_s = float(floor["per_action_us"]) / 1e6 if _ok(floor) and floor is not None else None
        if not iso.get("ok"):
            rows.append(
                [label, "-", "-", "-", "ERROR: " + one_line(str(iso.get("error")), 120), "-", "-", "-", key]
            )
            continue
        value = float(iso[figure])
        size = f"{iso[size_key]:,}" if size_key else "1"
        if floor_s:
            ratios[key] = value / floor_s
        rows.append(
            [
                label,
                size,
                size,
                f"{fmt_us(floor_s * 1e6)}/action" if floor_s else "-",
                f"{fmt_us(value * 1e6)}/action",
                "- (no process mode)",
                ratio(value, floor_s),
                "n/a",
                key,
            ]
        )
    return rows, ratios


def _target_line(what: str, ours: float | None, anchor: float | None, target: float) -> str:
    if ours is None or anchor is None or anchor <= 0:
        return f"{what}: n/a (target <= {target:.2f}x)"
    r = ours / anchor
    return f"{what}: {r:.3f}x (target <= {target:.2f}x) {'PASS' if r <= target else 'FAIL'}"


POSTGRES_ROWS = ("fanout_10k", "chain_1k")
"""Rows run again with a PostgreSQL journal (``--postgres``)."""


def run_postgres(
    rows: Sequence[Row], quick: bool, repeat: int, timeout: float, keep: bool
) -> dict[str, dict[str, Any]]:
    """Our SDK on a PostgreSQL journal (a throwaway local server, a fresh database per process)."""
    try:
        from flyte.testing._postgres import new_database, postgres_server
    except ImportError:
        sys.path.insert(0, str(CORE_SRC))
        from flyte.testing._postgres import new_database, postgres_server

    out: dict[str, dict[str, Any]] = {}
    wanted = [r for r in rows if r.key in POSTGRES_ROWS]
    if not wanted:
        return out
    try:
        server = postgres_server()
        url = server.__enter__()
    except Exception as exc:  # not installed, or psycopg missing: say so in the report
        return {
            r.key: {"engine": "ours", "workload": r.workload, "ok": False, "error": str(exc)} for r in wanted
        }
    try:
        n = 0
        for row in wanted:
            size = row.quick_size if quick else row.size
            log(f"[ours/pg] {row.key} (size {size_label(row.workload, size)}) ...")
            records = []
            for _ in range(repeat):
                n += 1
                env = {"FLYTE_JOURNAL": new_database(url, f"bench_{n}")}
                records.append(run_cell("ours", row.workload, size, None, timeout, keep, env))
            good = sorted((r for r in records if r.get("ok")), key=lambda r: float(r["wall_s"]))
            rec = good[(len(good) - 1) // 2] if good else records[-1]
            out[row.key] = rec
            if rec.get("ok"):
                wall, per = fmt_seconds(float(rec["wall_s"])), fmt_us(float(rec["per_action_us"]))
                log(f"          {wall}, {per}/action")
            else:
                log(f"          ERROR: {one_line(str(rec.get('error')), 500)}")
    finally:
        server.__exit__(None, None, None)
    return out


def render_postgres(
    rows: Sequence[Row],
    results: dict[tuple[str, str], dict[str, Any]],
    pg: dict[str, dict[str, Any]],
    quick: bool,
) -> str:
    """The journal-backend table: ours on SQLite (the main table's cell), on PostgreSQL, the anchor."""
    notes = Footnotes()
    table = []
    for row in rows:
        if row.key not in pg:
            continue
        lite, post, anchor = results.get((row.key, "ours")), pg[row.key], results.get((row.key, "anchor"))
        size = row.quick_size if quick else row.size
        table.append(
            [
                row.label,
                size_label(row.workload, size),
                _cell(lite, notes, "time"),
                _cell(post, notes, "time"),
                _cell(anchor, notes, "time"),
                ratio(_wall(post), _wall(lite)),
            ]
        )
    out = [
        "",
        "Journal backends (ours): SQLite file (the default) vs PostgreSQL (a local server,"
        " 127.0.0.1, fsync off); wall time (µs per child action).",
        "",
        markdown_table(
            ["workload", "size", "SQLite", "PostgreSQL", "anchor", "PostgreSQL/SQLite"], table, "llrrrr"
        ),
    ]
    if notes.notes:
        out += ["", notes.render()]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--skip-anchor", action="store_true", help="do not run (or create) the anchor SDK")
    parser.add_argument(
        "--anchor-100k", action="store_true", help="also run the 100k fan-out on the anchor (~80 s)"
    )
    parser.add_argument(
        "--anchor-python", help="interpreter with flyte==2.12.1 (default: .bench/anchor-venv)"
    )
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma list of asyncio,ours,anchor")
    parser.add_argument("--workloads", help="comma list of row keys: " + ",".join(r.key for r in ROWS))
    parser.add_argument("--repeat", type=int, default=1, help="processes per cell; reports the median run")
    parser.add_argument("--anchor-repeat", type=int, default=1, help="processes per anchor cell (default 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per process")
    parser.add_argument("--out", help="also write the markdown report to this file")
    parser.add_argument("--json", dest="json_out", help="also write the raw result records (JSON) here")
    parser.add_argument("--fail-on-error", action="store_true", help="exit 1 if any cell failed")
    parser.add_argument("--keep", action="store_true", help="keep each process's temp dir (for debugging)")
    parser.add_argument(
        "--isolation", action="store_true", help="also run bench/isolation.py and add its rows to the table"
    )
    parser.add_argument(
        "--baseline",
        help="regression guard: exit 1 if any ours/asyncio ratio is more than the file's tolerance (25%%) "
        "above its figure (e.g. bench/baseline.json)",
    )
    parser.add_argument(
        "--tolerance", type=float, help="override the baseline's tolerance (0.25 = 25%%), e.g. on a busy box"
    )
    parser.add_argument("--record-baseline", help="write this run's ours/asyncio ratios to this file")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also run the 10k fan-out and 1k chain on a PostgreSQL journal (starts a local server"
        " with flyte.testing; needs PostgreSQL and psycopg)",
    )
    args = parser.parse_args(argv)

    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {sorted(unknown)}")
    if args.skip_anchor and "anchor" in engines:
        engines.remove("anchor")
    rows = list(ROWS)
    if args.workloads:
        wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
        bad = set(wanted) - {r.key for r in ROWS}
        if bad:
            parser.error(f"unknown workloads: {sorted(bad)}")
        rows = [r for r in ROWS if r.key in wanted]

    anchor_python: Path | None = None
    anchor_error: str | None = None
    if "anchor" in engines:
        try:
            anchor_python = ensure_anchor_python(args.anchor_python)
        except AnchorUnavailable as exc:
            anchor_error = str(exc)
            log(f"anchor unavailable: {exc}")

    results: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        size = row.quick_size if args.quick else row.size
        for engine in ENGINES:
            key = (row.key, engine)
            if engine not in engines:
                if engine == "anchor" and args.skip_anchor:
                    results[key] = {"engine": engine, "workload": row.workload, "skipped": "--skip-anchor"}
                continue
            if engine == "anchor" and anchor_error is not None:
                results[key] = {
                    "engine": engine,
                    "workload": row.workload,
                    "ok": False,
                    "error": anchor_error,
                }
                continue
            if engine == "anchor" and row.anchor_opt_in and not (args.anchor_100k or args.quick):
                results[key] = {
                    "engine": engine,
                    "workload": row.workload,
                    "skipped": "the anchor takes ~80 s for the 100k fan-out; pass --anchor-100k",
                }
                continue
            log(f"[{engine:>7}] {row.key} (size {size_label(row.workload, size)}) ...")
            repeat = args.anchor_repeat if engine == "anchor" else args.repeat  # the anchor is not guarded
            rec = run_repeated(engine, row.workload, size, anchor_python, args.timeout, repeat, args.keep)
            results[key] = rec
            if rec.get("ok"):
                wall, per = fmt_seconds(float(rec["wall_s"])), fmt_us(float(rec["per_action_us"]))
                log(f"          {wall}, {per}/action, {rec['peak_rss_mb']:.0f} MB")
            else:
                log(f"          ERROR: {one_line(str(rec.get('error')), 500)}")
                if rec.get("traceback"):
                    log(_tail(str(rec["traceback"]), 8))

    iso_rows: list[list[str]] = []
    ratios = {  # what the table shows: the median process of --repeat, each its best in-process run
        row.key: w_o / w_a
        for row in rows
        if (w_o := _wall(results.get((row.key, "ours"))))
        and (w_a := _wall(results.get((row.key, "asyncio"))))
    }
    if args.isolation:
        log("[   ours] process isolation (bench/isolation.py) ...")
        iso = best_isolation([run_isolation(args.quick, args.timeout) for _ in range(args.repeat)])
        iso_rows, iso_ratios = isolation_rows(iso, results)
        ratios.update(iso_ratios)
        if not iso.get("ok"):
            results[("isolation", "ours")] = {"engine": "ours", "workload": "isolation", **iso}
    mode = "quick" if args.quick else "full"
    baseline = guard.load(Path(args.baseline)) if args.baseline else {}
    if args.tolerance is not None:
        baseline["tolerance"] = args.tolerance
    verdicts = guard.check(ratios, baseline, mode) if args.baseline else {}

    def version_of(engine: str) -> str | None:
        for (_k, e), r in results.items():
            if e == engine and r.get("flyte_version") not in (None, "?"):
                return str(r["flyte_version"])
        return None

    meta = {
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "ours": f"flyte {version_of('ours') or '?'} (core/src)" if "ours" in engines else "not run",
        "anchor": f"flyte {version_of('anchor') or ANCHOR_VERSION}"
        + (" (mode=local)" if "anchor" in engines else " (skipped)"),
    }
    if args.repeat > 1:
        meta["repeat"] = f"median of {args.repeat} processes"
    report = render(rows, results, args.quick, meta, verdicts, iso_rows)
    if args.postgres:
        pg = run_postgres(rows, args.quick, args.repeat, args.timeout, args.keep)
        report += render_postgres(rows, results, pg, args.quick)
        results.update({(k, "ours-postgres"): r for k, r in pg.items()})
    regressed = [v for v in verdicts.values() if v.failed]
    if args.baseline:
        report += "\nRegression guard (ours/asyncio vs " + args.baseline + f", {mode} sizes): "
        report += (
            "FAIL: " + ", ".join(f"{v.key} {v.ratio:.2f}x > {v.limit:.2f}x" for v in regressed)
            if regressed
            else f"ok ({sum(v.limit is not None for v in verdicts.values())} rows guarded)"
        ) + "\n"
    print(report)
    if args.record_baseline:
        guard.record(Path(args.record_baseline), ratios, mode)
        log(f"recorded {len(ratios)} ratios ({mode}) in {args.record_baseline}")
    if args.out:
        Path(args.out).write_text(report)
        log(f"wrote {args.out}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps([{"row": k, **r} for (k, _e), r in results.items()], indent=2) + "\n"
        )
        log(f"wrote {args.json_out}")
    failed = [k for k, r in results.items() if not r.get("ok") and not r.get("skipped")]
    if regressed:
        return 1
    return 1 if failed and args.fail_on_error else 0


if __name__ == "__main__":
    sys.exit(main())
