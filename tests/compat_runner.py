"""Run the compatibility corpus (tests/compat_programs) on our SDK and, optionally, on the anchor.

Every program is a plain user script (`python prog.py`) that prints its results as lines
``RESULT <json>`` and exits non-zero when something fails. Each run gets a fresh temp folder used as
cwd, HOME, FLYTE_HOME and TMPDIR, so no config or cache leaks between programs or SDKs.

    python tests/compat_runner.py                         # ours vs the recorded expectations
    FLYTE_ANCHOR_PYTHON=/path/bin/python python tests/compat_runner.py   # ours vs the anchor, live
    python tests/compat_runner.py --record                # rewrite `# expect:` headers from the anchor
    python tests/compat_runner.py --out docs/table.md --report-only -k file

Header lines a program carries at the top (comments):

    # covers: TaskEnvironment, run, ...        names the program exercises
    # expect-source: anchor | hand             where the expectations below came from
    # expect-exit: 0 | nonzero
    # expect: <json>                           one per RESULT line, in order
    # ours-differs: <why>                      a deliberate difference, written in docs/compat.md
    # ours-expect-exit: 0 | nonzero            then what ours does instead (written by hand)
    # ours-expect: <json>
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS_DIR = HERE / "compat_programs"
ANCHOR_ENV_VAR = "FLYTE_ANCHOR_PYTHON"
RESULT_PREFIX = "RESULT "
# Inherited settings that would change which code runs or where state goes.
_DROPPED_ENV = frozenset({"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "FLYTE_HOME", "FLYTECTL_CONFIG"})


@dataclass
class Program:
    path: Path
    covers: list[str] = field(default_factory=list)
    source: str = "anchor"
    expect_exit: str = "0"  # "0" or "nonzero"
    expect: list[object] = field(default_factory=list)
    differs: str = ""  # why ours deliberately differs from the anchor here ("" when it must not)
    ours_exit: str = "0"
    ours_expect: list[object] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass
class Outcome:
    exit: int
    results: list[object]
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit == 0

    def reason(self) -> str:
        """The last line of the error output: usually the exception a program died with."""
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        if self.exit == 124:
            return f"timed out after {self.seconds:.0f}s"
        return _one_line(lines[-1]) if lines else ""


def discover(selected: Sequence[str] = ()) -> list[Program]:
    """Programs in tests/compat_programs, with their headers; `selected` filters by substring."""
    progs = []
    for path in sorted(PROGRAMS_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        if selected and not any(s in path.stem for s in selected):
            continue
        progs.append(parse_header(path))
    return progs


def parse_header(path: Path) -> Program:
    prog = Program(path)
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(":")
        value = value.strip()
        if key == "covers":
            prog.covers = [n.strip() for n in value.split(",") if n.strip()]
        elif key == "expect-source":
            prog.source = value
        elif key == "expect-exit":
            prog.expect_exit = value
        elif key == "expect":
            prog.expect.append(json.loads(value))
        elif key == "ours-differs":
            prog.differs = value
        elif key == "ours-expect-exit":
            prog.ours_exit = value
        elif key == "ours-expect":
            prog.ours_expect.append(json.loads(value))
    return prog


def run_program(python: str, path: Path, timeout: float) -> Outcome:
    """One fresh process in a fresh folder; the process group is killed on timeout."""
    with tempfile.TemporaryDirectory(prefix="flyte-compat-") as tmp:
        root = Path(tmp)
        for sub in ("cwd", "home", "flyte-home", "tmp"):
            (root / sub).mkdir()
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(
            HOME=str(root / "home"),
            FLYTE_HOME=str(root / "flyte-home"),
            TMPDIR=str(root / "tmp"),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
        )
        start = time.perf_counter()
        proc = subprocess.Popen(
            [python, str(path)],
            cwd=root / "cwd",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            code = 124
        seconds = time.perf_counter() - start
    return Outcome(code, parse_results(out), out, err, seconds)


def parse_results(stdout: str) -> list[object]:
    results: list[object] = []
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            payload = line[len(RESULT_PREFIX) :]
            try:
                results.append(json.loads(payload))
            except json.JSONDecodeError:
                results.append({"unparsable": payload})
    return results


def matches_deliberate(prog: Program, outcome: Outcome) -> bool:
    """Ours does what its ``ours-expect`` lines say, for a documented, deliberate difference."""
    exit_ok = outcome.ok if prog.ours_exit == "0" else not outcome.ok
    return bool(prog.differs) and exit_ok and outcome.results == prog.ours_expect


def matches_expectation(prog: Program, outcome: Outcome) -> bool:
    exit_ok = outcome.ok if prog.expect_exit == "0" else not outcome.ok
    return exit_ok and outcome.results == prog.expect


def same(a: Outcome, b: Outcome) -> bool:
    return a.ok == b.ok and a.results == b.results


def first_difference(expected: list[object], got: list[object]) -> str:
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            want, have = _one_line(json.dumps(e), 120), _one_line(json.dumps(g), 120)
            return f"RESULT #{i + 1}: expected {want}, got {have}"
    if len(expected) != len(got):
        return f"{len(got)} RESULT lines, expected {len(expected)}"
    return ""


def record(prog: Program, outcome: Outcome) -> None:
    """Rewrite the program's `# expect...` header lines from an anchor run."""
    lines = prog.path.read_text().splitlines(keepends=True)
    head_end = next((i for i, ln in enumerate(lines) if not ln.startswith("#")), len(lines))
    head = [ln for ln in lines[:head_end] if not ln.startswith(("# expect-exit:", "# expect:"))]
    new = [f"# expect-exit: {'0' if outcome.ok else 'nonzero'}\n"]
    new += [f"# expect: {json.dumps(r, sort_keys=True)}\n" for r in outcome.results]
    prog.path.write_text("".join(head + new + lines[head_end:]))


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _exit_text(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    return str(outcome.exit)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-k", action="append", default=[], help="only programs whose name contains this")
    parser.add_argument(
        "--anchor-python", default=os.environ.get(ANCHOR_ENV_VAR), help=f"(or ${ANCHOR_ENV_VAR})"
    )
    parser.add_argument(
        "--ours-python", default=sys.executable, help="interpreter with our SDK (default: this one)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per program run")
    parser.add_argument("--jobs", type=int, default=2, help="programs run at once")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--report-only", action="store_true", help="always exit 0")
    parser.add_argument("--record", action="store_true", help="rewrite anchor-sourced expectations")
    parser.add_argument("-v", "--verbose", action="store_true", help="print output of differing programs")
    args = parser.parse_args(argv)

    progs = discover(args.k)
    if not progs:
        print("no programs selected", file=sys.stderr)
        return 2
    if args.record and not args.anchor_python:
        parser.error(f"--record needs the anchor: --anchor-python or ${ANCHOR_ENV_VAR}")

    def one(prog: Program) -> tuple[Outcome | None, Outcome]:
        anchor = run_program(args.anchor_python, prog.path, args.timeout) if args.anchor_python else None
        ours = run_program(args.ours_python, prog.path, args.timeout)
        return anchor, ours

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        outcomes = list(pool.map(one, progs))

    rows = []
    n_match = 0
    n_deliberate = 0
    failing_ours = 0
    for prog, (anchor, ours) in zip(progs, outcomes):
        if anchor is not None:
            if args.record and prog.source == "anchor":
                record(prog, anchor)
                prog = parse_header(prog.path)
            ok = same(anchor, ours) and (prog.source == "anchor" or matches_expectation(prog, ours))
            reference = anchor.results if prog.source == "anchor" else prog.expect
        else:
            ok = matches_expectation(prog, ours)
            reference = prog.expect
        deliberate = not ok and matches_deliberate(prog, ours)
        n_match += ok
        n_deliberate += deliberate
        expect_ok = (prog.ours_exit if deliberate else prog.expect_exit) == "0"
        failing_ours += ours.ok != expect_ok
        note = ""
        if deliberate:
            note = f"deliberate: {prog.differs}"
        elif not ok:
            if ours.ok != (anchor.ok if anchor is not None else expect_ok):
                note = ours.reason() if not ours.ok else "exits 0 where the anchor fails"
            else:
                note = first_difference(reference, ours.results)
        covers = ", ".join(prog.covers)
        src = "" if prog.source == "anchor" else " (expect: hand)"
        rows.append(
            [
                prog.name + src,
                covers,
                _exit_text(anchor),
                _exit_text(ours),
                "yes" if ok else ("no (deliberate)" if deliberate else "no"),
                note,
            ]
        )
        if args.verbose and not ok:
            print(f"--- {prog.name} (ours, exit {ours.exit}, {ours.seconds:.1f}s)", file=sys.stderr)
            print(ours.stdout[-3000:], ours.stderr[-3000:], sep="\n", file=sys.stderr)

    headers = ["program", "names covered", "anchor exit", "ours exit", "same outputs?", "first difference"]
    table = markdown_table(headers, rows)
    n_differ = len(progs) - n_match - n_deliberate
    summary = f"{len(progs)} programs: {n_match} match, {n_deliberate} differ by design, {n_differ} differ"
    if not args.anchor_python:
        summary += " (ours vs the recorded anchor expectations; anchor not run)"
    print(table)
    print()
    print(summary)
    if args.out:
        Path(args.out).write_text(table + "\n\n" + summary + "\n")
    if args.report_only:
        return 0
    return 1 if (n_differ or failing_ours) else 0


if __name__ == "__main__":
    sys.exit(main())
