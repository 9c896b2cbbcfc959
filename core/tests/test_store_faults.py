"""Fault injection for the run's local store, with real processes and real file-system faults.

A fault is injected while a run is in the middle of its steps (a file put where the run's directory
was, the directory made read-only for the run's user, a file-size limit on the run's process so a
write fails with EFBIG as on a full disk). The run must fail with ``StorageError`` recorded as a
*system* error naming the path and the fix, without spending the task's retries; once the fault is
removed, ``flyte rerun RUN --recover`` finishes it and the side-effect log shows that nothing that
had finished ran again.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import APPS, journal_rows
from flyte._runtime.store import LocalObjectStore, path_to_uri
from flyte.errors import StorageError

FLYTE = str(Path(sys.executable).parent / "flyte")
FLOWS = str(APPS / "store_fault_flows.py")
BIG = 300_000


class Layout:
    """Where one scenario keeps its journal, its store and its side-effect log."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.data = base / "data"
        self.work = base / "work"
        self.gate = base / "gate"
        for d in (self.data, self.work):
            d.mkdir(exist_ok=True)

    def run_dir(self, name: str) -> Path:
        return self.data / "runs" / name

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            FLYTE_HOME=str(self.home),
            HOME=str(self.base),
            FLYTE_SYSTEM_RETRIES="2",
            FLYTE_SYSTEM_RETRY_DELAY="0.05",
            PYTHONPATH=os.pathsep.join([str(APPS), env.get("PYTHONPATH", "")]),
        )
        env.pop("FLYTE_RAW_DATA_PATH", None)
        env.update(extra)
        return env

    def side(self) -> list[str]:
        p = self.work / "side.log"
        return p.read_text().splitlines() if p.exists() else []


def cli(layout: Layout, *args: str, prefix: list[str] | None = None, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*(prefix or []), FLYTE, *args],
        env=layout.env(**env),
        cwd=layout.base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_pipeline(
    layout: Layout, name: str, size: int = BIG, prefix: list[str] | None = None
) -> subprocess.Popen[str]:
    return cli(
        layout,
        "run",
        "--quiet",
        "--name",
        name,
        "--raw-data-path",
        path_to_uri(str(layout.data)),
        FLOWS,
        "pipeline",
        "--n",
        "4",
        "--workdir",
        str(layout.work),
        "--gate",
        str(layout.gate),
        "--size",
        str(size),
        prefix=prefix,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended before {path} appeared:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def actions(layout: Layout, name: str) -> list[Any]:
    return journal_rows(
        layout.home, "SELECT * FROM actions WHERE run=? ORDER BY started_at, position", (name,)
    )


def fault_then_recover(
    layout: Layout,
    name: str,
    inject: Callable[[subprocess.Popen[str]], None],
    undo: Callable[[], None],
    expect: list[str],
    size: int = BIG,
    prefix: list[str] | None = None,
) -> None:
    """Run 4 steps; inject the fault while step 2 runs; check the failure; undo it; recover."""
    proc = start_pipeline(layout, name, size, prefix)
    wait_for(layout.work / "at-gate", proc)  # steps 0 and 1 are done and their outputs stored
    inject(proc)
    layout.gate.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "error: StorageError: storage failure" in err, err
    for text in expect:
        assert text in err, (text, err)
    assert f"flyte rerun {name} --recover" in err
    assert "system retry 2/2 (the task's own retries are not used)" in err  # FLYTE_SYSTEM_RETRIES=2
    assert "Traceback" not in err

    rows = {(r["task_name"], r["position"]): r for r in actions(layout, name)}
    failed = rows[("storefaults.step", 2)]
    assert failed["status"] == "FAILED" and failed["attempts"] == 1
    error = json.loads(failed["error"])
    assert error["code"] == "StorageError" and error["kind"] == "system"
    assert error["type"] == "flyte.errors.StorageError"
    run_row = journal_rows(layout.home, "SELECT status, error FROM runs WHERE name=?", (name,))[0]
    assert run_row["status"] == "FAILED" and json.loads(run_row["error"])["kind"] == "system"
    # step 2 (retries=3) ran once, and its parent (retries=2) was not retried: the value it had
    # computed was stored again per the system-retry policy, not computed again.
    assert sorted(layout.side()) == ["step-0", "step-1", "step-2"]
    attempts = journal_rows(
        layout.home, "SELECT error FROM attempts WHERE run=? AND action_id=?", (name, failed["action_id"])
    )
    assert [json.loads(a["error"])["kind"] for a in attempts] == ["system"]

    undo()
    again = cli(layout, "rerun", name, "--recover", prefix=prefix)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert f"outputs: {4 * size}" in out
    log = layout.side()
    assert {s: log.count(s) for s in set(log)} == {"step-0": 1, "step-1": 1, "step-2": 2, "step-3": 1}


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path)


def test_run_directory_replaced_by_a_file(layout: Layout) -> None:
    name = "fault-file"
    run_dir = layout.run_dir(name)
    moved = run_dir.with_name(name + ".moved")

    def inject(_: subprocess.Popen[str]) -> None:
        run_dir.rename(moved)
        run_dir.write_text("not a directory")

    def undo() -> None:
        run_dir.unlink()
        moved.rename(run_dir)

    fault_then_recover(
        layout,
        name,
        inject,
        undo,
        [str(run_dir), "Not a directory", f"Fix: {run_dir} is a file where the store needs a directory"],
    )


def test_disk_full_write_refused_by_a_file_size_limit(layout: Layout) -> None:
    """RLIMIT_FSIZE set on the running process: the kernel refuses the store's write (EFBIG), as a
    full disk refuses it (ENOSPC); the journal stays below the limit and keeps working."""
    name = "fault-full"
    size = 3_000_000
    limit = 2_000_000

    def inject(proc: subprocess.Popen[str]) -> None:
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit, limit))

    fault_then_recover(
        layout,
        name,
        inject,
        lambda: None,  # the limit went with the process: the recovery runs without it
        ["File too large", "Fix: free space on the file system holding", str(layout.run_dir(name))],
        size=size,
    )


DROP_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
"""Root without the capabilities that bypass file permissions: chmod binds it like any user."""


def _unprivileged_or_skip(tmp_path: Path) -> list[str]:
    """The command prefix under which a chmod-ed directory really refuses writes (none for a
    non-root user; root drops its DAC capabilities), or skip where that cannot be had."""
    if os.geteuid() != 0:
        return []
    ro = tmp_path / "probe"
    ro.mkdir()
    ro.chmod(0o500)
    code = f"open({str(ro / 'x')!r}, 'w')"
    try:
        probe = subprocess.run([*DROP_DAC, sys.executable, "-c", code], capture_output=True, text=True)
        enforced = probe.returncode != 0 and "PermissionError" in probe.stderr
    except OSError:
        enforced = False
    finally:
        ro.chmod(0o755)
    if not enforced:
        pytest.skip("running as root and chmod is not enforced here (no setpriv to drop CAP_DAC_OVERRIDE)")
    return DROP_DAC


def test_run_directory_made_unwritable(layout: Layout) -> None:
    prefix = _unprivileged_or_skip(layout.base)
    name = "fault-perm"
    run_dir = layout.run_dir(name)

    def inject(_: subprocess.Popen[str]) -> None:
        run_dir.chmod(0o500)

    def undo() -> None:
        run_dir.chmod(0o755)

    fault_then_recover(
        layout,
        name,
        inject,
        undo,
        ["Permission denied", f"Fix: make {run_dir} writable by this user"],
        prefix=prefix,
    )


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_a_fault_inside_a_body_uses_system_retries_not_user_retries(layout: Layout, isolation: str) -> None:
    """``File.from_local`` in a task with retries=3 while the store's ``runs`` path is a file: the
    attempt is retried FLYTE_SYSTEM_RETRIES times (each attempt recorded as a system error), then
    the run fails; a recovery after the fix runs it to the end. In process mode the error crosses
    the worker boundary as the same system error."""
    (layout.data / "runs").write_text("in the way")
    name = "fault-body"

    def run(**env: str) -> tuple[int, str]:
        args = ["run", "--quiet", "--name", name, "--isolation", isolation]
        args += ["--raw-data-path", path_to_uri(str(layout.data))]
        p = cli(layout, *args, FLOWS, "uploads", "--text", "hello", "--workdir", str(layout.work), **env)
        out, err = p.communicate(timeout=120)
        return p.returncode, out + err

    rc, text = run(FLYTE_SYSTEM_RETRIES="1")
    assert rc == 1 and "StorageError" in text and str(layout.data / "runs") in text, text
    line = next(
        i for i, src in enumerate(Path(FLOWS).read_text().splitlines(), 1) if "from_local(src)" in src
    )
    assert f"  at {FLOWS}:{line} in upload" in text  # the user's line, not a frame of flyte or the stdlib
    assert layout.side() == ["upload", "upload"]  # 1 + FLYTE_SYSTEM_RETRIES, not 1 + retries=3
    up = next(r for r in actions(layout, name) if r["task_name"] == "storefaults.upload")
    assert up["status"] == "FAILED" and up["attempts"] == 2
    attempts = journal_rows(
        layout.home, "SELECT error FROM attempts WHERE run=? AND action_id=?", (name, up["action_id"])
    )
    kinds = [(json.loads(a["error"])["code"], json.loads(a["error"])["kind"]) for a in attempts]
    assert kinds == [("StorageError", "system")] * 2

    (layout.data / "runs").unlink()
    again = cli(layout, "rerun", name, "--recover")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert 'outputs: "hello"' in out
    assert layout.side() == ["upload", "upload", "upload"]


def test_local_store_errors_name_the_path(tmp_path: Path) -> None:
    store = LocalObjectStore()
    blocker = tmp_path / "runs"
    blocker.write_text("x")
    uri = path_to_uri(str(blocker / "r1" / "a" / "outputs"))
    with pytest.raises(StorageError) as info:
        store.put_bytes(uri, b"data")
    assert info.value.kind == "system" and info.value.path == str(blocker / "r1" / "a" / "outputs")
    assert f"{blocker} is a file where the store needs a directory" in str(info.value)
    assert "flyte rerun r1 --recover" in str(info.value)
    with pytest.raises(StorageError):  # reading through the file in the way is a fault too
        store.get_bytes(uri)
    # a missing object, or the caller's own missing file, is not a fault of the store
    with pytest.raises(FileNotFoundError):
        store.get_bytes(path_to_uri(str(tmp_path / "nothing")))
    with pytest.raises(FileNotFoundError):
        store.put_file(str(tmp_path / "no-such-source"), path_to_uri(str(tmp_path / "dest")))
    assert not list(tmp_path.glob("**/.tmp-*"))  # no half-written temporary left behind
