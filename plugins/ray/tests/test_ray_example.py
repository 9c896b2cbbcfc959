"""plugins/ray/examples/ray_pi.py runs as its docstring says, from an empty folder, starting and
stopping its own local Ray cluster. Ray listens on every interface: this test runs only in a
private network namespace (the nox session runs this package's tests under ``unshare --net``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ray_pi.py"


def _private_network() -> bool:
    """Only the loopback interface: nothing Ray opens is reachable from another machine."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


pytestmark = [
    pytest.mark.skipif(not _private_network(), reason="Ray is started only in a private network namespace"),
]


def test_ray_example_as_a_script(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = dict(os.environ, FLYTE_HOME=str(tmp_path / "home"))
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    name, value = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert name.startswith("r") and abs(float(value) - 3.14) < 0.05, out.stdout
    assert list(cwd.iterdir()) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "127.0.0.10" not in ps, "the example's Ray cluster is still running"
