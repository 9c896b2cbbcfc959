"""Apps served for real on 127.0.0.1: replicas, the proxy, health checks, restarts, scaling, shutdown.

Every test starts real processes (`flyte serve` in a subprocess, or flyte.serve in this process) on
free ports and talks HTTP to them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SVC = Path(__file__).parent / "apps_svc"
if str(SVC) not in sys.path:
    sys.path.insert(0, str(SVC))

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from flyte.app._registry import pid_alive  # noqa: E402

Entry = dict[str, Any]


# ---- helpers ---------------------------------------------------------------------------------------
def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(url: str) -> Any:
    status, body = get(url)
    assert status == 200, (status, body)
    return json.loads(body)


def post_json(url: str) -> Any:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def entry_of(home: Path, name: str) -> Entry | None:
    try:
        data: Entry = json.loads((home / "apps" / f"{name}.json").read_text())
        return data
    except (OSError, ValueError):
        return None


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 20.0, proc: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ready_pids(entry: Entry | None) -> set[int]:
    return {r["pid"] for r in (entry or {}).get("replicas", []) if r["state"] == "ready"}


def wait_entry(
    home: Path, name: str, pred: Callable[[Entry], bool], timeout: float = 20, proc: Any = None
) -> Entry:
    def check() -> Entry | None:
        e = entry_of(home, name)
        return e if e is not None and pred(e) else None

    result: Entry = wait_for(f"{name} registry entry", check, timeout, proc)
    return result


def all_gone(pids: set[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


class Served:
    """A `flyte serve` subprocess; stopped (and its replicas checked) at teardown."""

    def __init__(self, tmp: Path, file: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.out = tmp / f"serve-{file}.out"
        self.err = tmp / f"serve-{file}.err"
        full_env = dict(os.environ)
        full_env.update(env or {})
        cmd = [sys.executable, "-m", "flyte.cli.main", "serve", str(SVC / file), "--port", "0", *args]
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=err, cwd=tmp)

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Signal it and wait for its exit (within 10 s: Supervisor.stop's deadline, STOP_SLACK_S)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"flyte serve did not stop within {timeout:g}s of signal {sig}; its output:\n"
                    + self.output()[-3000:]
                ) from None
        return self.proc.returncode


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(file: str, *args: str, env: dict[str, str] | None = None) -> Served:
        s = Served(tmp_path, file, *args, env=env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop(signal.SIGKILL if s.proc.poll() is None else signal.SIGTERM)


# ---- flyte serve -----------------------------------------------------------------------------------
def test_serve_balances_restarts_killed_replica_and_stops_cleanly(
    served: Callable[..., Served], flyte_home: Path, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    s = served("echo_app.py", env={"ECHO_MARKERS": str(markers)})
    entry = wait_entry(flyte_home, "echo", lambda e: len(ready_pids(e)) == 2, proc=s.proc)
    url = entry["url"]
    assert url.startswith("http://127.0.0.1:") and entry["pid"] == s.proc.pid
    assert f"serving app 'echo' at {url}" in s.out.read_text()

    bodies = [get_json(f"{url}/?x={i}") for i in range(6)]
    assert {b["pid"] for b in bodies} == ready_pids(entry)  # both replicas answer, one port in front
    assert all(b["started"] and b["greeting"] == "hello" and b["endpoint"] == url for b in bodies)
    assert {b["port"] for b in bodies} == {r["port"] for r in entry["replicas"]} and url not in {
        f"http://127.0.0.1:{b['port']}" for b in bodies
    }

    victim = entry["replicas"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    for i in range(20):  # the other replica keeps serving while the killed one restarts
        assert get_json(f"{url}/?x=k{i}")["x"] == f"k{i}"
        time.sleep(0.03)
    entry = wait_entry(flyte_home, "echo", lambda e: len(ready_pids(e)) == 2 and victim not in ready_pids(e))
    assert entry["restarts"] >= 1
    assert {get_json(url)["pid"] for _ in range(6)} == ready_pids(entry)
    assert "exited with code -9; restarting it" in s.err.read_text()

    second = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "serve", str(SVC / "echo_app.py"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0 and "already being served" in second.stderr

    pids = ready_pids(entry)
    assert s.stop(signal.SIGINT) == 0  # Ctrl-C
    assert all_gone(pids), "replica processes left behind"
    assert entry_of(flyte_home, "echo") is None
    assert {p.name for p in markers.glob("shutdown-*")} == {f"shutdown-{p}" for p in pids}  # graceful


def test_unhealthy_replica_is_replaced(served: Callable[..., Served], flyte_home: Path) -> None:
    s = served("echo_app.py", "--health-interval", "0.2")
    entry = wait_entry(flyte_home, "echo", lambda e: len(ready_pids(e)) == 2, proc=s.proc)
    sick = post_json(f"{entry['url']}/sick")["pid"]
    entry = wait_entry(flyte_home, "echo", lambda e: len(ready_pids(e)) == 2 and sick not in ready_pids(e))
    assert "failed 3 health checks; restarting it" in s.err.read_text()
    assert not pid_alive(sick)
    assert s.stop() == 0 and all_gone(ready_pids(entry))


def test_serve_stops_within_its_deadline_when_replicas_ignore_sigterm(
    served: Callable[..., Served], flyte_home: Path
) -> None:
    """SIGTERM to `flyte serve` whose replicas ignore SIGTERM: they get SIGKILL after the stop timeout
    (5 s) and the server exits within Supervisor.stop's documented deadline, none left behind."""
    from flyte.app._supervisor import STOP_SLACK_S

    s = served("stubborn_app.py")
    entry = wait_entry(flyte_home, "stubborn", lambda e: len(ready_pids(e)) == 2, proc=s.proc)
    pids = ready_pids(entry)
    t0 = time.monotonic()
    assert s.stop() == 0, s.output()
    took = time.monotonic() - t0
    assert 5.0 <= took < 5.0 + STOP_SLACK_S, f"flyte serve took {took:.1f}s to stop\n{s.output()}"
    assert not any(pid_alive(p) for p in pids), "replicas outlived their server"
    assert entry_of(flyte_home, "stubborn") is None


def test_command_app_gets_its_port_and_is_restarted(
    served: Callable[..., Served], flyte_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("hi from a file")
    s = served("cmd_app.py")
    entry = wait_entry(flyte_home, "files", lambda e: len(ready_pids(e)) == 1, proc=s.proc)
    assert get(f"{entry['url']}/hello.txt") == (200, b"hi from a file")
    (victim,) = ready_pids(entry)
    os.kill(victim, signal.SIGKILL)
    entry = wait_entry(flyte_home, "files", lambda e: len(ready_pids(e)) == 1 and victim not in ready_pids(e))
    assert get(f"{entry['url']}/hello.txt")[0] == 200
    assert s.stop() == 0 and all_gone(ready_pids(entry))


def test_replicas_that_never_start_make_serve_fail(served: Callable[..., Served], flyte_home: Path) -> None:
    s = served("broken_app.py")
    s.proc.wait(timeout=30)
    out = s.output()
    assert s.proc.returncode == 1, out
    assert "failed 3 times before becoming ready" in out and "cannot load the model" in out
    assert entry_of(flyte_home, "broken") is None


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-m", "flyte.cli.main", "serve", str(SVC / "echo_app.py"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert res.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr and "--port" in res.stderr


# ---- tasks call the app by name ---------------------------------------------------------------------
def test_workflow_calls_app_by_name(served: Callable[..., Served], flyte_home: Path) -> None:
    import flyte
    from caller import call_echo, fan_out
    from echo_app import echo
    from flyte.app import AppNotRunningError

    s = served("echo_app.py")
    entry = wait_entry(flyte_home, "echo", lambda e: len(ready_pids(e)) == 2, proc=s.proc)
    assert echo.endpoint == entry["url"] == flyte.app.get_endpoint("echo")

    run = flyte.run(fan_out, n=3)
    assert run.outputs()[0] == ["hello 0", "hello 1", "hello 2"]
    run = flyte.with_runcontext(isolation="process").run(call_echo, x="from-a-worker")
    assert run.outputs()[0]["x"] == "from-a-worker"

    assert s.stop() == 0
    with pytest.raises(AppNotRunningError, match="flyte serve"):
        _ = echo.endpoint
    with pytest.raises(Exception) as failed:
        flyte.with_runcontext(name="after-stop").run(call_echo, x="late")
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.error is not None and "not being served" in str(run.error)


# ---- flyte.serve from Python -------------------------------------------------------------------------
def test_flyte_serve_in_process(flyte_home: Path) -> None:
    import flyte
    from echo_app import echo
    from flyte.app import AppNotRunningError

    handle = flyte.with_servecontext(port=0).serve(echo)
    try:
        assert handle.is_active()
        url = handle.endpoint
        assert echo.endpoint == url
        pids = {r["pid"] for r in handle.replicas}
        assert len(pids) == 2
        assert {get_json(url)["pid"] for _ in range(4)} == pids
    finally:
        handle.deactivate()
    assert handle.is_deactivated() and all_gone(pids)
    assert entry_of(flyte_home, "echo") is None
    with pytest.raises(AppNotRunningError):
        _ = echo.endpoint


SERVE_SCRIPT = """
import sys, json
sys.path.insert(0, {svc!r})
import flyte
from echo_app import echo
h = flyte.with_servecontext(port=0).serve(echo)
print(json.dumps({{"url": h.endpoint, "pids": [r["pid"] for r in h.replicas]}}), flush=True)
h.wait()
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_flyte_serve_process_killed_leaves_no_replica(sig: int, flyte_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT.format(svc=str(SVC))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert get_json(info["url"])["greeting"] == "hello"
        pids = set(info["pids"])
        proc.send_signal(sig)
        proc.wait(timeout=20)
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM)
        assert all_gone(pids), "replicas outlived their server"
    finally:
        if proc.poll() is None:
            proc.kill()


# ---- scaling ---------------------------------------------------------------------------------------------
def test_scales_up_under_load_and_back_down_when_idle(flyte_home: Path) -> None:
    import flyte
    from scale_app import burst

    handle = flyte.with_servecontext(port=0).serve(burst)
    try:
        assert len(handle.replicas) == 1
        url = handle.endpoint
        results: list[int] = []

        def slow() -> None:
            results.append(get_json(f"{url}/?s=2")["pid"])

        threads = [threading.Thread(target=slow) for _ in range(3)]
        for t in threads:
            t.start()
        wait_for(
            "a second replica", lambda: len([r for r in handle.replicas if r["state"] == "ready"]) == 2, 15
        )
        for t in threads:
            t.join()
        assert len(results) == 3
        wait_for("scale down to min", lambda: len(handle.replicas) == 1, 15)
        assert get_json(url)["pid"] in {r["pid"] for r in handle.replicas}
    finally:
        handle.deactivate()


def test_scale_from_zero_on_first_request(flyte_home: Path) -> None:
    import flyte
    from scale_app import lazy

    handle = flyte.with_servecontext(port=0).serve(lazy)
    try:
        assert handle.replicas == [] and entry_of(flyte_home, "lazy") is not None
        pid = get_json(handle.endpoint)["pid"]  # the request starts a replica and waits for it
        assert [r["pid"] for r in handle.replicas] == [pid]
        wait_for("scale to zero", lambda: handle.replicas == [], 15)
        assert not pid_alive(pid)
    finally:
        handle.deactivate()


def test_example_serves_and_runs_the_workflow(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "examples" / "app_hello.py"
    res = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "serving sentiment at http://127.0.0.1:" in res.stdout
    assert "{'great tool': 1.5, 'awful weather': -1.5, 'good and bad': 0.0}" in res.stdout
