"""What the Ray benches share: a loopback-only network namespace and reading a child's result line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any


def enter_loopback_namespace(script: str, skip: bool) -> None:
    """Re-run ``script`` under ``unshare --net`` with only loopback up, so Ray binds nothing else.

    Ray's servers listen on every interface; in a namespace of their own only 127.0.0.x exists.
    Needs root and util-linux's ``unshare``; without them (or with ``skip``) it returns and the
    bench runs here.
    """
    if skip or os.environ.get("FLYTE_BENCH_NETNS") == "1" or os.geteuid() != 0:
        return
    if shutil.which("unshare"):
        cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable]
        env = dict(os.environ, FLYTE_BENCH_NETNS="1")
        raise SystemExit(subprocess.call([*cmd, script, *sys.argv[1:]], env=env))


def result_line(mode: str, out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The last ``{"mode": ...}`` JSON line a measuring child printed (Ray may print other lines)."""
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-4000:]}")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith('{"mode"')]
    if not lines:
        raise SystemExit(f"{mode} printed no result:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    line: dict[str, Any] = json.loads(lines[-1])
    line["load1"] = round(os.getloadavg()[0], 2)  # the machine's load as it ended (shared boxes)
    print(json.dumps(line), flush=True)
    return line
