"""flyte.app.extras.FastAPIAppEnvironment: a real FastAPI app served on 127.0.0.1 by flyte.serve and
by `flyte serve FILE`, talked to over HTTP, health-checked, stopped, with no process left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from flyte.app._registry import pid_alive
from flyte.errors import InvalidParameterError

SVC = Path(__file__).parent.parent / "apps_svc"
if str(SVC) not in sys.path:
    sys.path.insert(0, str(SVC))

Entry = dict[str, Any]


def entry_of(home: Path, name: str) -> Entry | None:
    try:
        data: Entry = json.loads((home / "apps" / f"{name}.json").read_text())
        return data
    except (OSError, ValueError):
        return None


def ready_pids(entry: Entry | None) -> set[int]:
    return {r["pid"] for r in (entry or {}).get("replicas", []) if r["state"] == "ready"}


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 40.0, proc: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"flyte serve exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_entry(home: Path, name: str, pred: Callable[[Entry], bool], proc: Any) -> Entry:
    def check() -> Entry | None:
        e = entry_of(home, name)
        return e if e is not None and pred(e) else None

    result: Entry = wait_for(f"{name} registry entry", check, proc=proc)
    return result


def all_gone(pids: set[int], timeout: float = 10) -> bool:
    return bool(wait_for("replicas to exit", lambda: not any(pid_alive(p) for p in pids), timeout))


@contextlib.contextmanager
def flyte_serve(file: Path, cwd: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`flyte serve [ARGS] FILE --port 0` in a subprocess, stopped by its PID with SIGTERM at the end."""
    cmd = [sys.executable, "-m", "flyte.cli.main", "serve", *args, str(file), "--port", "0"]
    log = open(cwd / f"serve-{file.stem}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def request(url: str, body: Any = None, method: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


# ---- definition ------------------------------------------------------------------------------------
def test_importing_flyte_app_extras_loads_no_web_framework() -> None:
    code = (
        "import sys, flyte, flyte.app, flyte.app.extras\n"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_definition_matches_the_reference_shape() -> None:
    import flyte.app
    from fastapi import FastAPI
    from flyte.app.extras import FastAPIAppEnvironment

    api = FastAPI()
    env = FastAPIAppEnvironment(name="api", app=api, links=[flyte.app.Link(path="/x", title="X")])
    assert isinstance(env, flyte.app.AppEnvironment)
    assert env.type == "FastAPI" and env.app is api and env.uvicorn_config is None
    assert [link.path for link in env.links] == ["/docs", "/x"]
    assert env.spec()["entrypoint"] == "server"
    clone = env.clone_with("api-2", port=9000)
    assert type(clone) is FastAPIAppEnvironment and clone.app is api
    assert [link.path for link in clone.links] == ["/docs", "/x"]


def test_bad_inputs_name_the_field() -> None:
    from fastapi import FastAPI
    from flyte.app.extras import FastAPIAppEnvironment
    from starlette.applications import Starlette

    with pytest.raises(InvalidParameterError, match=r"app.*fastapi\.FastAPI"):
        FastAPIAppEnvironment(name="api", app=Starlette())
    with pytest.raises(InvalidParameterError, match="uvicorn_config"):
        FastAPIAppEnvironment(name="api", app=FastAPI(), uvicorn_config={"port": 1})
    with pytest.raises(InvalidParameterError, match="command"):
        FastAPIAppEnvironment(name="api", app=FastAPI(), command=["python", "x.py"])
    with pytest.raises(TypeError, match="app"):
        FastAPIAppEnvironment(name="api")  # type: ignore[call-arg]


def test_remote_only_extras_say_why() -> None:
    import flyte.app.extras

    assert set(flyte.app.extras.__all__) == {
        "FastAPIAppEnvironment",
        "FastAPIPassthroughAuthMiddleware",
        "FlyteWebhookAppEnvironment",
    }
    with pytest.raises(NotImplementedError, match=r"flyte\.remote"):
        _ = flyte.app.extras.FlyteWebhookAppEnvironment
    with pytest.raises(AttributeError):
        _ = flyte.app.extras.Nope  # type: ignore[attr-defined]


# ---- serving ---------------------------------------------------------------------------------------
def test_flyte_serve_runs_the_fastapi_app(flyte_home: Path) -> None:
    import flyte
    from fastapi_app import env

    handle = flyte.with_servecontext(mode="local", port=0).serve(env)
    try:
        url = handle.endpoint.rstrip("/")
        pids = {r["pid"] for r in handle.replicas}
        assert len(pids) == 2
        status, body = request(f"{url}/?x=41")
        assert status == 200 and body["result"] == 42 and body["pid"] in pids
        assert body["port"] != urllib.parse.urlsplit(url).port  # each replica has its own port
        assert request(f"{url}/items/7", {"name": "pen", "price": 1.5, "quantity": 4}) == (
            200,
            {"id": 7, "name": "pen", "total": 6.0},
        )
        status, body = request(f"{url}/items/7", {"name": "pen"})
        assert status == 422 and any(err["loc"][-1] == "price" for err in body["detail"])
        assert request(f"{url}/health") == (200, {"status": "healthy"})
        status, body = request(f"{url}/double?x=21")
        assert status == 200 and body["result"] == 42
        status, _ = request(f"{url}/openapi.json")
        assert status == 200
    finally:
        handle.deactivate()
    assert handle.is_deactivated() and all_gone(pids)
    assert entry_of(flyte_home, "adder") is None


def test_flyte_serve_file_replaces_a_sick_fastapi_replica(flyte_home: Path, tmp_path: Path) -> None:
    with flyte_serve(SVC / "fastapi_app.py", tmp_path) as proc:
        entry = wait_entry(flyte_home, "adder", lambda e: len(ready_pids(e)) == 2, proc=proc)
        url = entry["url"].rstrip("/")
        first = ready_pids(entry)
        status, body = request(f"{url}/items/1", {"name": "cup", "price": 2.0})
        assert status == 200 and body["total"] == 2.0
        status, body = request(f"{url}/sick", method="POST")
        sick_pid = body["pid"]
        assert status == 200 and sick_pid in first
        entry = wait_entry(
            flyte_home, "adder", lambda e: sick_pid not in ready_pids(e) and len(ready_pids(e)) == 2, proc
        )
        pids = first | ready_pids(entry)
        assert request(f"{url}/health") == (200, {"status": "healthy"})
        assert request(f"{url}/double?x=5")[1]["result"] == 10
    assert proc.returncode == 0, (tmp_path / "serve-fastapi_app.log").read_text()
    assert all_gone(pids), "replicas outlived flyte serve"
    assert entry_of(flyte_home, "adder") is None


UVICORN_APP = """
import uvicorn
from fastapi import FastAPI
import flyte.app
from flyte.app.extras import FastAPIAppEnvironment

app = FastAPI()
env = FastAPIAppEnvironment(
    name="tuned",
    app=app,
    uvicorn_config=uvicorn.Config(app, port=8000, headers=[("x-served-by", "tuned")]),
    scaling=flyte.app.Scaling(replicas=(1, 1)),
)


@app.get("/")
def root() -> dict[str, str]:
    return {"ok": "yes"}
"""


def test_uvicorn_config_is_used_on_the_replica_port(flyte_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "tuned_app.py"
    path.write_text(textwrap.dedent(UVICORN_APP))
    with flyte_serve(path, tmp_path, "--local") as proc:  # the anchor's spelling for local serving
        entry = wait_entry(flyte_home, "tuned", lambda e: len(ready_pids(e)) == 1, proc=proc)
        pids = ready_pids(entry)
        assert all(r["port"] != 8000 for r in entry["replicas"])
        with urllib.request.urlopen(entry["url"], timeout=10) as r:
            assert r.headers["x-served-by"] == "tuned"
            assert json.loads(r.read()) == {"ok": "yes"}
    assert proc.returncode == 0
    assert all_gone(pids)
    wait_for("registry entry removed", lambda: entry_of(flyte_home, "tuned") is None, timeout=5)
