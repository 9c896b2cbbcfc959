"""The example in plugins/container/examples runs as documented, in containers."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.register_assert_rewrite("container_test_support")

import flyte  # noqa: E402
from container_test_support import BUSYBOX, PYTHON, REPO, containers  # noqa: E402

pytest_plugins = ["container_test_support"]  # the runtime / images / flyte_home fixtures
pytestmark = pytest.mark.usefixtures("images")

EXAMPLE = REPO / "plugins" / "container" / "examples" / "container_example.py"


def _load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("EXAMPLE_BUSYBOX_IMAGE", BUSYBOX)
    monkeypatch.setenv("EXAMPLE_PYTHON_IMAGE", PYTHON)
    spec = importlib.util.spec_from_file_location("container_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["container_example"] = module
    spec.loader.exec_module(module)
    return module


def _expected(n: int) -> dict[str, object]:
    words = n * 10 * 2
    unique = sorted({f"word{i % 5} other{i}" for i in range(n * 10)})[:n]
    return {"words": words, "unique": unique, "score": round(math.log2(words + 1) * n, 3)}


def test_example_runs_in_containers(runtime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    example = _load(monkeypatch)
    run = flyte.with_runcontext(isolation="container").run(example.main, n=3)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == _expected(3)
    assert containers(runtime, run=run.name) == []


def test_example_from_the_cli(runtime: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXAMPLE_BUSYBOX_IMAGE", BUSYBOX)
    monkeypatch.setenv("EXAMPLE_PYTHON_IMAGE", PYTHON)
    flyte_cli = Path(sys.executable).with_name("flyte")
    p = subprocess.run(
        [str(flyte_cli), "run", "--isolation", "container", str(EXAMPLE), "main", "--n", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    outputs = next(line for line in p.stdout.splitlines() if line.startswith("outputs: "))
    assert json.loads(outputs.removeprefix("outputs: ")) == _expected(2)
