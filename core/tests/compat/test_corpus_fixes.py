"""Regression tests for the corpus programs that behaved differently on ours than on the anchor
(issue 15): each runs the behaviour the program exercises through real runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import flyte
import flyte.errors
import pytest
from flyte.io import Dir

env = flyte.TaskEnvironment(name="corpus_fixes")
calls: Counter[str] = Counter()


# --- bad_inputs: the errors a user catches around flyte.run -------------------------------------


@env.task
async def add(a: int, b: int) -> int:
    calls["add"] += 1
    return a + b


@env.task
async def child_binding_errors() -> list[str]:
    """A parent sees the same error classes for a badly called child as flyte.run raises."""
    out = []
    for args in [("x", 2), (1,), (1, 2, 3)]:
        try:
            await add(*args)  # type: ignore[arg-type]
        except Exception as e:
            out.append(f"{isinstance(e, TypeError)}/{isinstance(e, ValueError)}")
    return out


def test_wrongly_typed_input_is_a_type_error_and_keeps_its_class() -> None:
    calls.clear()
    with pytest.raises(TypeError, match="'a'") as info:
        flyte.run(add, "x", 2)  # type: ignore[arg-type]
    assert isinstance(info.value, flyte.errors.RuntimeDataValidationError)
    assert isinstance(info.value, flyte.errors.RuntimeUserError) and not isinstance(info.value, ValueError)
    assert calls["add"] == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [((1,), {}, "missing required input 'b'"), ((1, 2, 3), {}, "takes 2 inputs"), ((1, 2), {"c": 3}, "'c'")],
)
def test_bad_argument_list_is_a_value_error(
    args: tuple[int, ...], kwargs: dict[str, int], needle: str
) -> None:
    calls.clear()
    with pytest.raises(ValueError, match=needle) as info:
        flyte.run(add, *args, **kwargs)  # type: ignore[arg-type]
    assert not isinstance(info.value, TypeError)
    assert calls["add"] == 0


def test_child_called_badly_raises_the_same_classes_in_its_parent() -> None:
    assert flyte.run(child_binding_errors).outputs()[0] == ["True/False", "False/True", "False/True"]


def test_direct_call_outside_a_run_keeps_pythons_type_error() -> None:
    import asyncio

    with pytest.raises(TypeError, match="'b'"):
        asyncio.run(add(1))  # type: ignore[call-arg]


# --- dir_walk: a non-recursive walk goes one folder level down -----------------------------------


def _tree(root: Path) -> Path:
    for rel, text in {"a.txt": "A", "sub/b.txt": "BB", "sub/deep/c.txt": "CCC"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@env.task
async def listings(d: Dir) -> dict[str, list[str]]:
    async def read_all(recursive: bool) -> list[str]:
        out = []
        async for f in d.walk(recursive=recursive):
            async with f.open("rb") as fh:
                out.append(f"{f.name}={bytes(await fh.read()).decode()}")
        return sorted(out)

    return {
        "walk": await read_all(True),
        "shallow": await read_all(False),
        "list": sorted(f.name or "" for f in await d.list_files()),
        "list_sync": sorted(f.name or "" for f in d.list_files_sync()),
        "walk_sync_txt": sorted(f.name or "" for f in d.walk_sync(recursive=False, file_pattern="b*")),
    }


def test_list_files_and_shallow_walk_include_the_first_subfolder(tmp_path: Path) -> None:
    d = Dir.from_local_sync(_tree(tmp_path / "tree"))
    got = flyte.run(listings, d=d).outputs()[0]
    assert got["walk"] == ["a.txt=A", "b.txt=BB", "c.txt=CCC"]
    assert got["shallow"] == ["a.txt=A", "b.txt=BB"]
    assert got["list"] == got["list_sync"] == ["a.txt", "b.txt"]
    assert got["walk_sync_txt"] == ["b.txt"]  # ours honours file_pattern in walk_sync


# --- cache_children: behavior="override" always runs and rewrites the entry ----------------------


@env.task(cache=flyte.Cache(behavior="override", version_override="v1", ignored_inputs=("noise",)))
async def overriding(x: int, noise: str) -> str:
    calls["overriding"] += 1
    return f"{x}-{noise}"


@env.task(cache=flyte.Cache(behavior="auto", version_override="v1", ignored_inputs=("noise",)))
async def reading(x: int, noise: str) -> str:
    calls["reading"] += 1
    return f"{x}-{noise}"


@env.task
async def cache_parent(noise: str) -> list[str]:
    return [await overriding(5, noise), await overriding(5, noise), await reading(5, noise)]


def test_override_behavior_runs_every_call_and_rewrites_the_entry() -> None:
    calls.clear()
    assert flyte.run(cache_parent, noise="a").outputs()[0] == ["5-a", "5-a", "5-a"]
    assert flyte.run(cache_parent, noise="b").outputs()[0] == ["5-b", "5-b", "5-a"]
    assert calls["overriding"] == 4  # never answered from the cache
    assert calls["reading"] == 1  # "auto" with a pinned version reads it
    # The entry "override" wrote last ("5-b") is what an "auto" reader of the same key would get.
    reader = overriding.override(
        cache=flyte.Cache(behavior="auto", version_override="v1", ignored_inputs=("noise",))
    )
    assert flyte.run(reader, 5, "c").outputs()[0] == "5-b"
    assert calls["overriding"] == 4


# --- pod_template_docs: a pod template of metadata only runs in process locally ------------------

pod_env = flyte.TaskEnvironment(
    name="corpus_pod",
    pod_template=flyte.PodTemplate(primary_container_name="main", labels={"team": "ml"}),
    interruptible=True,
    description="with a pod template",
)


@pod_env.task(docs=flyte.Documentation(description="doubles its input"))
async def twice(x: int) -> int:
    return 2 * x


def test_metadata_only_pod_template_runs_in_process_with_or_without_the_pod_plugin() -> None:
    # With flyte-plugin-pod the plugin claims the pod_template (task type "pod") and its backend hands
    # the action back; without it the task stays a python task, as on the anchor, and runs in process.
    from flyte._plugins.manager import find_task_type_entry

    assert twice.task_type == ("pod" if find_task_type_entry("pod") is not None else "python")
    assert flyte.run(twice, x=8).outputs()[0] == 16


def test_pod_template_task_runs_in_process_when_the_pod_plugin_is_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flyte._plugins.manager import find_task_type_entry, load_plugins

    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "pod")
    load_plugins(reload=True)
    try:
        assert find_task_type_entry("pod") is None
        assert flyte.run(twice, x=4).outputs()[0] == 8
    finally:
        monkeypatch.delenv("FLYTE_DISABLE_PLUGINS")
        load_plugins(reload=True)


# --- app_serve_local: a @server that binds app_env.get_port().port, served locally ---------------

APP_MODULE = """
import json
from http.server import BaseHTTPRequestHandler, HTTPServer

import flyte
from flyte.app import AppEnvironment

app_env = AppEnvironment(name="corpus-port-app", port=PORT, requires_auth=False)
task_env = flyte.TaskEnvironment(name="corpus_app_caller")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "bound": app_env.get_port().port}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@app_env.server
def serve():
    HTTPServer(("127.0.0.1", app_env.get_port().port), Handler).serve_forever()


@task_env.task
async def via_app() -> str:
    import urllib.request

    with urllib.request.urlopen(app_env.endpoint + "/from-task", timeout=5) as r:
        return r.read().decode()
"""


def test_server_binding_the_declared_port_is_served_behind_it(tmp_path: Path) -> None:
    import importlib.util
    import json
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        declared = int(s.getsockname()[1])
    path = tmp_path / "corpus_port_app.py"
    path.write_text(APP_MODULE.replace("PORT", str(declared)))
    spec = importlib.util.spec_from_file_location("corpus_port_app", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    assert mod.app_env.get_port().port == declared  # outside a replica: the declared port
    app = flyte.with_servecontext(mode="local").serve(mod.app_env)
    try:
        assert app.endpoint.endswith(f":{declared}")
        with urllib.request.urlopen(app.endpoint + "/direct", timeout=5) as r:
            got = json.loads(r.read())
        # The replica bound the port get_port() gave it there, behind the supervisor's declared port.
        assert got["path"] == "/direct" and got["bound"] != declared
        assert [r["port"] for r in app.replicas] == [got["bound"]]
        assert json.loads(flyte.run(mod.via_app).outputs()[0])["path"] == "/from-task"
    finally:
        app.deactivate()
    assert app.is_deactivated()
