"""Fixtures and helpers for the container tests: a FLYTE_HOME per test, the runtime, the test images.

Kept out of a ``conftest.py`` (see docs/plugin-authors.md); test modules import what they use.

Images are built once per session, locally, by ``.ci/build-test-images.sh`` (no registry): a busybox
image and a Python image made from the interpreter running the tests. Tests skip, with the reason,
only where no container runtime works on this machine; with ``CI`` or
``FLYTE_REQUIRE_CONTAINER_RUNTIME`` set they fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[2]
BUILD_SCRIPT = REPO / ".ci" / "build-test-images.sh"
BUSYBOX = os.environ.get("FLYTE_TEST_BUSYBOX_IMAGE", "localhost/flyte-busybox:test")
PYTHON = os.environ.get("FLYTE_TEST_PYTHON_IMAGE", "localhost/flyte-python:test")


def runtime_or_skip() -> str:
    """The runtime binary; skips (or fails in CI) when no container runtime works here."""
    from flyteplugins.container._runtime import find_runtime, runtime_problem

    problem = runtime_problem()
    if problem is not None:
        if os.environ.get("CI") or os.environ.get("FLYTE_REQUIRE_CONTAINER_RUNTIME"):
            pytest.fail(f"no working container runtime in CI: {problem}")
        pytest.skip(f"no working container runtime here: {problem}")
    return find_runtime().path


@pytest.fixture(scope="session")
def runtime() -> str:
    return runtime_or_skip()


@pytest.fixture(scope="session")
def images(runtime: str) -> dict[str, str]:
    """Build (or reuse, when up to date) the test images; once per session."""
    env = dict(os.environ, PYTHON=sys.executable, BUSYBOX_IMAGE=BUSYBOX, PYTHON_IMAGE=PYTHON)
    env["FLYTE_CONTAINER_RUNTIME"] = runtime
    p = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"building the test images failed:\n{p.stdout}\n{p.stderr}"
    return {"busybox": BUSYBOX, "python": PYTHON}


@pytest.fixture(autouse=True)
def flyte_home(flyte_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """flyte.testing's fixture (a fresh FLYTE_HOME and settings per test) for every test here."""
    return flyte_home


def containers(runtime: str, **labels: str) -> list[dict[str, str]]:
    """Containers (running or not) that flyte started, filtered by labels (e.g. ``run=...``)."""
    args = [runtime, "ps", "-a", "--filter", "label=flyte.managed=true"]
    for k, v in labels.items():
        args += ["--filter", f"label=flyte.{k}={v}"]
    out = subprocess.run([*args, "--format", "json"], capture_output=True, text=True, check=True).stdout
    out = out.strip()
    if not out:
        return []
    if out.startswith("["):
        return list(json.loads(out))
    return [json.loads(line) for line in out.splitlines() if line.strip()]  # docker: one object a line


def run_logs(home: Path, run_name: str) -> dict[str, str]:
    """Every container log of a run: path relative to the run's prefix -> content."""
    base = home / "data" / "runs" / run_name
    return {str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("logs/*.log"))}
