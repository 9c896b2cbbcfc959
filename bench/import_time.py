"""Measure `import flyte` for ours (core/src) against the anchor (flyte==2.12.1), in fresh processes.

Every sample is a new interpreter. Two numbers per sample:
  import   `import flyte` timed inside the process (perf_counter around the import statement)
  process  wall time of the whole subprocess (interpreter start + import + exit), seen from here
The bare interpreter (`python -c pass`, same interpreter and environment) is the baseline for the
process time. Runs are interleaved (baseline, ours, anchor, baseline, ...) so drift hits all alike.

    python bench/import_time.py                 # 15 runs each
    python bench/import_time.py --runs 31 --importtime 15 --out import.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    ANCHOR_VERSION,
    AnchorUnavailable,
    engine_command,
    engine_env,
    ensure_anchor_python,
    log,
    markdown_table,
    one_line,
)

API_CODE = "import flyte; flyte.TaskEnvironment; flyte.init; flyte.run; flyte.with_runcontext"
# Prints: the `import flyte` time; the time until the public API a script touches first is resolved
# (an SDK may defer work to attribute access, PEP 562); where `flyte` came from.
IMPORT_CODE = (
    "import time; t = time.perf_counter(); import flyte; d = time.perf_counter() - t; "
    "flyte.TaskEnvironment; flyte.init; flyte.run; flyte.with_runcontext; a = time.perf_counter() - t; "
    "print(repr(d)); print(repr(a)); "
    "print(getattr(flyte, '__file__', None) or list(getattr(flyte, '__path__', [])))"
)
TARGET = 0.5  # ours/anchor


@dataclass
class Target:
    label: str
    engine: str  # "ours" or "anchor": picks interpreter and environment
    code: str
    process_s: list[float] = field(default_factory=list)
    import_s: list[float] = field(default_factory=list)
    api_s: list[float] = field(default_factory=list)
    error: str | None = None
    origin: str = ""  # where `import flyte` came from


def _sample(target: Target, anchor_python: Path | None, timeout: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="flyte-import-"))  # fresh FLYTE_HOME (and HOME for the anchor)
    try:
        cmd = [*engine_command(target.engine, anchor_python), "-c", target.code]
        env = engine_env(target.engine, workdir)
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        elapsed = time.perf_counter() - t
    except (OSError, subprocess.TimeoutExpired, AnchorUnavailable) as exc:
        target.error = f"{type(exc).__name__}: {exc}"
        return
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-3:])
        target.error = f"exit code {proc.returncode}: {tail}"
        return
    target.process_s.append(elapsed)
    if target.code == IMPORT_CODE:
        try:
            lines = proc.stdout.strip().splitlines()
            target.import_s.append(float(lines[-3]))
            target.api_s.append(float(lines[-2]))
            target.origin = lines[-1]
        except (ValueError, IndexError):
            target.error = f"unexpected output: {proc.stdout[-200:]!r}"


def _importtime_top(engine: str, anchor_python: Path | None, top: int) -> str:
    """The `top` slowest modules by cumulative time under `python -X importtime -c API_CODE`."""
    workdir = Path(tempfile.mkdtemp(prefix="flyte-import-"))
    try:
        cmd = [*engine_command(engine, anchor_python), "-X", "importtime", "-c", API_CODE]
        proc = subprocess.run(
            cmd, cwd=workdir, env=engine_env(engine, workdir), capture_output=True, text=True, timeout=120
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows: list[tuple[int, int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        try:
            self_us, cum_us, name = (p.strip() for p in line[len("import time:") :].split("|", 2))
        except ValueError:
            continue
        if line.rstrip().endswith("| site"):  # interpreter start-up ends here; keep only `import flyte`
            rows.clear()
            continue
        rows.append((int(cum_us), int(self_us), name))
    if not rows:
        return f"({engine}: no -X importtime output; exit code {proc.returncode})"
    rows.sort(reverse=True)
    table = [[name, f"{cum / 1000:.1f}", f"{self_ / 1000:.1f}"] for cum, self_, name in rows[:top]]
    rendered: str = markdown_table([f"{engine}: module", "cumulative ms", "self ms"], table, "lrr")
    return rendered


def _ms(values: list[float], fn: str) -> str:
    if not values:
        return "-"
    v = statistics.median(values) if fn == "median" else min(values)
    return f"{v * 1000:.1f}"


def _ratio_line(what: str, ours: list[float], anchor: list[float], target: float | None = None) -> str:
    if not ours or not anchor:
        return f"- {what}: n/a"
    r = statistics.median(ours) / statistics.median(anchor)
    verdict = ""
    if target is not None:
        verdict = f" (target <= {target:.2f}x) {'PASS' if r <= target else 'FAIL'}"
    return f"- {what}: {r:.2f}x{verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="measured processes per target (default 15)")
    parser.add_argument("--skip-anchor", action="store_true", help="do not run (or create) the anchor SDK")
    parser.add_argument(
        "--anchor-python", help="interpreter with flyte==2.12.1 (default: .bench/anchor-venv)"
    )
    parser.add_argument(
        "--importtime", type=int, default=0, metavar="N", help="also list the N slowest imports"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per process")
    parser.add_argument("--out", help="also write the markdown report to this file")
    args = parser.parse_args(argv)

    anchor_python: Path | None = None
    anchor_error: str | None = None
    if not args.skip_anchor:
        try:
            anchor_python = ensure_anchor_python(args.anchor_python)
        except AnchorUnavailable as exc:
            anchor_error = str(exc)
            log(f"anchor unavailable: {exc}")

    base_ours = Target("`python -c pass` (our interpreter)", "ours", "pass")
    ours = Target("ours: `import flyte` (core/src)", "ours", IMPORT_CODE)
    targets = [base_ours, ours]
    base_anchor = Target("`python -c pass` (anchor venv)", "anchor", "pass")
    anchor = Target(f"anchor: `import flyte` ({ANCHOR_VERSION})", "anchor", IMPORT_CODE)
    if not args.skip_anchor:
        targets += [base_anchor, anchor]
        if anchor_error:
            base_anchor.error = anchor.error = anchor_error

    live = [t for t in targets if t.error is None]
    log(f"warming up (1 untimed run each), then {args.runs} runs x {len(live)} targets ...")
    for t in live:
        _sample(t, anchor_python, args.timeout)
        t.process_s.clear()
        t.import_s.clear()
        t.api_s.clear()
    for _ in range(args.runs):
        for t in live:
            if t.error is None:
                _sample(t, anchor_python, args.timeout)

    rows: list[list[str]] = []
    for t in targets:
        if t.error is not None:
            rows.append([t.label, "ERROR", "", "", "", "", one_line(t.error, 160)])
            continue
        rows.append(
            [
                t.label,
                _ms(t.import_s, "median"),
                _ms(t.import_s, "min"),
                _ms(t.api_s, "median"),
                _ms(t.process_s, "median"),
                _ms(t.process_s, "min"),
                str(len(t.process_s)),
            ]
        )

    out: list[str] = []
    out.append("## `import flyte` time")
    out.append("")
    meta = [
        _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        f"python {platform.python_version()}",
        f"{platform.machine()}, {os.cpu_count()} CPUs",
        f"{args.runs} fresh processes per row",
    ]
    out.append(" · ".join(meta))
    out.append("")
    out.append(
        markdown_table(
            [
                "what",
                "import median ms",
                "import min ms",
                "+API median ms",
                "process median ms",
                "process min ms",
                "runs",
            ],
            rows,
            "lrrrrrr",
        )
    )
    out.append(
        "import: `import flyte` timed in-process. +API: until `flyte.TaskEnvironment`, `init`, `run` and "
        "`with_runcontext` are resolved (work an SDK defers to first attribute access counts here). "
        "process: the whole `python -c ...` doing both, timed from outside."
    )
    out.append("")
    net_ours = (
        [p - statistics.median(base_ours.process_s) for p in ours.process_s] if base_ours.process_s else []
    )
    net_anchor = (
        [p - statistics.median(base_anchor.process_s) for p in anchor.process_s]
        if base_anchor.process_s
        else []
    )
    out.append("Ratios ours/anchor (medians):")
    out.append(_ratio_line("`import flyte` in-process", ours.import_s, anchor.import_s, TARGET))
    out.append(_ratio_line("`import flyte` + first use of the API (+API)", ours.api_s, anchor.api_s, TARGET))
    out.append(_ratio_line("whole process", ours.process_s, anchor.process_s))
    out.append(_ratio_line("whole process minus bare interpreter", net_ours, net_anchor))
    out.append("")
    for t in (ours, anchor):
        if t.origin:
            out.append(f"- {t.label.split(':')[0]} imported from `{t.origin}`")
    if ours.error:
        out.append("")
        out.append(f"ours failed: {one_line(ours.error, 1000)}")
    if args.importtime > 0:
        for engine, t in (("ours", ours), ("anchor", anchor)):
            if t.error is None and (engine == "ours" or not args.skip_anchor):
                out.append("")
                out.append(_importtime_top(engine, anchor_python, args.importtime))
    report = "\n".join(out) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
