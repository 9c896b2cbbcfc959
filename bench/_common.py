"""Shared helpers for the benchmark harness: paths, the anchor venv, engine environments, tables.

Nothing here imports `flyte`; the SDKs under test only ever run in child processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR: Path = Path(__file__).resolve().parent
REPO_ROOT: Path = BENCH_DIR.parent
CORE_SRC: Path = REPO_ROOT / "core" / "src"
FLOOR_DIR: Path = BENCH_DIR / "_floor"  # holds a stand-in `flyte` package for the plain-asyncio floor
ANCHOR_VERSION: str = "2.12.1"
ANCHOR_VENV: Path = REPO_ROOT / ".bench" / "anchor-venv"
ANCHOR_ENV_VAR: str = "BENCH_ANCHOR_PYTHON"  # optional: use this interpreter instead of the managed venv

ENGINES: tuple[str, ...] = ("asyncio", "ours", "anchor")
# Inherited settings that would change which code runs or how it is imported.
_DROPPED_ENV: frozenset[str] = frozenset(
    {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"}
)


class AnchorUnavailable(RuntimeError):
    """The anchor SDK's interpreter could not be found or created."""


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays clean for tables."""
    print(msg, file=sys.stderr, flush=True)


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _installed_flyte_version(python: Path) -> str | None:
    code = "import importlib.metadata as m; print(m.version('flyte'))"
    try:
        proc = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir()
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def ensure_anchor_python(explicit: str | None = None) -> Path:
    """Return a Python interpreter that has `flyte==ANCHOR_VERSION` installed.

    Order: `explicit` (e.g. `--anchor-python`), then `$BENCH_ANCHOR_PYTHON`, then the managed venv at
    `<repo>/.bench/anchor-venv`, which is created with `python -m venv` + `pip install flyte==2.12.1`
    when it is missing or holds another version. The anchor is never installed into our environment.
    """
    chosen = explicit or os.environ.get(ANCHOR_ENV_VAR)
    if chosen:
        python = Path(chosen)
        version = _installed_flyte_version(python)
        if version is None:
            raise AnchorUnavailable(f"{python}: cannot import the anchor `flyte` package")
        if version != ANCHOR_VERSION:
            log(f"warning: {python} has flyte=={version}, expected {ANCHOR_VERSION}")
        return python

    python = _venv_python(ANCHOR_VENV)
    if python.exists() and _installed_flyte_version(python) == ANCHOR_VERSION:
        return python

    try:
        if not python.exists():
            log(f"creating anchor venv at {ANCHOR_VENV} ...")
            ANCHOR_VENV.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(ANCHOR_VENV)], check=True)
        log(f"installing flyte=={ANCHOR_VERSION} into {ANCHOR_VENV} (one-time) ...")
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                f"flyte=={ANCHOR_VERSION}",
            ],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise AnchorUnavailable(f"could not create the anchor venv at {ANCHOR_VENV}: {exc}") from exc

    version = _installed_flyte_version(python)
    if version != ANCHOR_VERSION:
        raise AnchorUnavailable(f"anchor venv {ANCHOR_VENV} has flyte=={version}, expected {ANCHOR_VERSION}")
    return python


def engine_command(engine: str, anchor_python: Path | None) -> list[str]:
    """The interpreter that runs `engine`."""
    if engine == "anchor":
        if anchor_python is None:
            raise AnchorUnavailable("anchor interpreter not available")
        return [str(anchor_python)]
    return [sys.executable]


def engine_env(engine: str, workdir: Path) -> dict[str, str]:
    """Environment for one engine process, isolated in the fresh directory `workdir`.

    - asyncio: `bench/_floor` first on the path, so `import flyte` is the do-nothing stand-in.
    - ours: `core/src` first on the path (falls back to an installed `flyte` if that is missing).
    - anchor: its own venv; no PYTHONPATH at all, and HOME moved so its local cache (~/.flyte) is fresh.
    All engines get `FLYTE_HOME=<workdir>/flyte-home`, so ours journals to a clean store on every run.
    """
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    flyte_home = workdir / "flyte-home"
    flyte_home.mkdir(parents=True, exist_ok=True)
    env["FLYTE_HOME"] = str(flyte_home)
    env["BENCH_ENGINE"] = engine
    env["BENCH_WORKDIR"] = str(workdir)
    if engine == "asyncio":
        env["PYTHONPATH"] = str(FLOOR_DIR)
    elif engine == "ours":
        env["PYTHONPATH"] = str(CORE_SRC)
    elif engine == "anchor":
        home = workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    return env


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """Render a GitHub-flavoured markdown table. `align` is one char per column: 'l' or 'r'."""
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = []
    for i, w in enumerate(widths):
        sep.append("-" * (w - 1) + ":" if align[i] == "r" else "-" * w)
    lines = [fmt(headers), "| " + " | ".join(sep) + " |"]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den <= 0:
        return "n/a"
    return f"{num / den:.2f}x"


def one_line(text: str, limit: int = 300) -> str:
    """Squash an error message onto one line for a table footnote."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
