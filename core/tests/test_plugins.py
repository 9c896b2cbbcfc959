"""Plugin discovery, isolation and dispatch, through REAL entry points.

Each test writes tiny plugin modules plus ``<dist>-<version>.dist-info/{METADATA,entry_points.txt}``
into a temporary directory on ``sys.path``, exactly what ``pip install`` leaves behind, and reloads the
plugin manager; ``importlib.metadata`` finds them like any installed distribution.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest
from click.testing import CliRunner
from flyte._plugins.manager import PluginState, load_plugins, task_type_entry
from flyte.errors import TaskTypeNotFoundError


class Site:
    """A directory on sys.path where 'installed' plugin distributions are written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def install(
        self,
        dist: str,
        source: str,
        *,
        name: str | None = None,
        version: str = "0.1",
        module: str | None = None,
    ) -> str:
        """Write a plugin module and the dist-info declaring its "flyte.plugins" entry point."""
        ep_name = name or dist.rsplit("-", 1)[-1]
        module = module or f"{dist.replace('-', '_')}_hooks"
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[flyte.plugins]\n{ep_name} = {module}\n")
        importlib.invalidate_caches()
        return module

    def load(self) -> PluginState:
        return load_plugins(reload=True)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("FLYTE_PLUGINS", raising=False)
    monkeypatch.delenv("FLYTE_DISABLE_PLUGINS", raising=False)
    before = set(sys.modules)
    yield Site(root)
    monkeypatch.undo()  # sys.path and the env first, so that the reload below sees the real install
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(root)):
            del sys.modules[name]
    importlib.invalidate_caches()
    load_plugins(reload=True)


GOOD = """
    from dataclasses import dataclass
    from typing import Any

    from flyte.extend import TaskTemplate, hookimpl


    @dataclass(kw_only=True)
    class {cls}(TaskTemplate):
        task_type: str = "{task_type}"

        async def execute(self, **inputs: Any) -> Any:
            return "{task_type} ran with " + repr(sorted(inputs.items()))


    @hookimpl
    def flyte_register_task_types(registry):
        registry.add("{task_type}", 0, {cls})
"""


def good(task_type: str, cls: str = "ThirdPartyTask") -> str:
    return GOOD.replace("{cls}", cls).replace("{task_type}", task_type)


def plugin_tmpl(module: str, cls: str, **kwargs: Any) -> Any:
    from flyte.extend import NativeInterface

    template_cls = getattr(importlib.import_module(module), cls)
    interface = kwargs.pop("interface", NativeInterface.from_types({"x": int}, str))
    return template_cls(interface=interface, **kwargs)


def _tasks(state: PluginState) -> set[str]:
    return {t for t, _ in state.task_types.entries}


# ---- discovery ----------------------------------------------------------------------------------------


def test_third_party_task_type_is_discovered_and_runs(site: Site) -> None:
    module = site.install("flyte-plugin-acme", good("acme"), version="1.2.3")
    state = site.load()
    info = state.plugins["acme"]
    assert (info.distribution, info.version, info.module, info.error) == (
        "flyte-plugin-acme",
        "1.2.3",
        module,
        None,
    )
    assert info.task_types == ["acme"] and info.enabled
    entry = task_type_entry("acme")
    assert entry.plugin == "acme" and entry.backend is None and entry.template_cls.__module__ == module
    # The built-ins come through the same mechanism.
    assert state.plugins["python"].distribution == "flyte-core" and "python" in _tasks(state)

    tmpl = plugin_tmpl(module, "ThirdPartyTask", name="acme_job")
    run = flyte.run(tmpl, x=3)
    assert run.outputs()[0] == "acme ran with [('x', 3)]"


def test_plugin_whose_import_raises_is_reported_and_isolated(site: Site) -> None:
    site.install("flyte-plugin-broken", "raise ImportError('needs the pyspark SDK')\n", version="0.9")
    site.install("flyte-plugin-fine", good("fine"))
    state = site.load()
    broken = state.plugins["broken"]
    assert (broken.distribution, broken.version) == ("flyte-plugin-broken", "0.9")
    assert broken.error == "ImportError: needs the pyspark SDK" and broken.task_types == []
    assert state.plugins["fine"].error is None and "fine" in _tasks(state)
    assert "python" in _tasks(state)


def test_broken_plugin_never_breaks_import_flyte(site: Site) -> None:
    site.install("flyte-plugin-broken", "raise RuntimeError('boom at import')\n")
    site.install("flyte-plugin-fine", good("fine"))
    code = textwrap.dedent(
        """
        import json
        import flyte, flyte.extend
        from flyte._plugins.manager import load_plugins
        s = load_plugins()
        print(json.dumps({n: p.error for n, p in s.plugins.items()}))
        """
    )
    pythonpath = os.pathsep.join([str(site.root), os.environ.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": pythonpath},
        check=True,
    )
    errors = json.loads(out.stdout.strip().splitlines()[-1])
    assert errors["broken"] == "RuntimeError: boom at import"
    assert errors["fine"] is None and errors["python"] is None


def test_plugin_whose_hook_raises_is_reported(site: Site) -> None:
    site.install(
        "flyte-plugin-badhook",
        """
        from flyte.extend import hookimpl

        @hookimpl
        def flyte_register_task_types(registry):
            raise RuntimeError("cannot register: missing credentials")
        """,
    )
    site.install("flyte-plugin-fine", good("fine"))
    state = site.load()
    bad = state.plugins["badhook"]
    assert bad.error == "flyte_register_task_types: RuntimeError: cannot register: missing credentials"
    assert bad.distribution == "flyte-plugin-badhook" and bad.task_types == []
    assert "fine" in _tasks(state)


def test_hook_with_a_wrong_signature_is_reported(site: Site) -> None:
    site.install(
        "flyte-plugin-typo",
        """
        from flyte.extend import hookimpl

        @hookimpl
        def flyte_register_task_types(registry, project):
            pass
        """,
    )
    state = site.load()
    assert "PluginValidationError" in (state.plugins["typo"].error or "")
    assert "project" in (state.plugins["typo"].error or "")


def test_duplicate_task_type_is_refused_naming_both_plugins(site: Site) -> None:
    site.install("flyte-plugin-one", good("dup", "OneTask"))
    site.install("flyte-plugin-two", good("dup", "TwoTask"))
    state = site.load()
    one, two = state.plugins["one"], state.plugins["two"]
    failed = [p for p in (one, two) if p.error]
    assert len(failed) == 1, (one.error, two.error)
    winner = two if failed[0] is one else one
    msg = failed[0].error or ""
    assert "task type 'dup' version 0 is registered by both plugin" in msg
    assert f"'{winner.name}'" in msg and f"'{failed[0].name}'" in msg
    assert "FLYTE_DISABLE_PLUGINS" in msg
    assert task_type_entry("dup").plugin == winner.name and winner.task_types == ["dup"]


def test_plugin_cannot_take_over_a_builtin_task_type(site: Site) -> None:
    site.install("flyte-plugin-hijack", good("python", "HijackTask"))
    state = site.load()
    assert "registered by both plugin 'python' and plugin 'hijack'" in (state.plugins["hijack"].error or "")
    assert task_type_entry("python").plugin == "python"


def test_allow_list(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.install("flyte-plugin-alpha", good("alpha", "AlphaTask"))
    site.install("flyte-plugin-beta", good("beta", "BetaTask"))
    monkeypatch.setenv("FLYTE_PLUGINS", "alpha, other")
    state = site.load()
    assert state.plugins["alpha"].enabled and not state.plugins["beta"].enabled
    assert {"alpha", "python"} <= _tasks(state) and "beta" not in _tasks(state)
    assert state.plugins["beta"].error is None  # not loaded at all, so it cannot fail


def test_block_list(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.install("flyte-plugin-alpha", good("alpha", "AlphaTask"))
    site.install("flyte-plugin-beta", "raise ImportError('never imported when disabled')\n")
    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "beta")
    state = site.load()
    assert not state.plugins["beta"].enabled and state.plugins["beta"].error is None
    assert "alpha" in _tasks(state)
    assert "flyte_plugin_beta_hooks" not in sys.modules


def test_disabling_the_builtins_is_not_possible(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "python")
    monkeypatch.setenv("FLYTE_PLUGINS", "nothing")
    assert "python" in _tasks(site.load())


# ---- run time -----------------------------------------------------------------------------------------


def test_unknown_task_type_at_run_time_names_the_distribution(site: Site) -> None:
    # The core names no plugin: the template class declares the distribution that runs its type
    # (here a class shipped without its plugin's entry point), and the error names it. ("warp", not
    # "spark": this test must not depend on whether flyte-plugin-spark is installed here.)
    site.install("flyte-plugin-broken", "raise ImportError('no pyspark')\n")
    source = good("acme", "SparkLikeTask").replace(
        '        task_type: str = "acme"\n',
        '        task_type: str = "acme"\n        plugin_distribution = "flyte-plugin-warp"\n',
    )
    module = site.install("my_tasks", source, name="mytasks")
    site.load()
    spark = plugin_tmpl(module, "SparkLikeTask", name="etl.spark_job", task_type="warp")
    env = flyte.TaskEnvironment(name="unknown-type")

    @env.task
    async def parent(x: int) -> str:
        return await spark(x=x)

    with pytest.raises(Exception) as failed:
        flyte.run(parent, x=1)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    err = run.error
    assert isinstance(err, TaskTypeNotFoundError)
    msg = str(err)
    assert "No installed plugin provides task type 'warp'" in msg
    assert "Installed task types: [" in msg and "'python'" in msg and "'acme'" in msg
    assert "pip install flyte-plugin-warp" in msg
    assert "Plugins that failed to load: ['broken']" in msg


def _install_package_task(site: Site, package: str) -> Any:
    """A template class in ``flyteplugins.<package>`` (a plugin's package laid out by the convention)."""
    pkg = site.root / "flyteplugins" / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(good(package, "PackagedTask")))
    importlib.invalidate_caches()
    import flyteplugins

    flyteplugins.__path__._recalculate()  # type: ignore[attr-defined]  # a namespace package found anew
    return importlib.import_module(f"flyteplugins.{package}").PackagedTask


def _run_error(tmpl: Any) -> str:
    env = flyte.TaskEnvironment(name="missing-plugin")

    @env.task
    async def parent(x: int) -> str:
        return await tmpl(x=x)

    with pytest.raises(TaskTypeNotFoundError) as failed:
        flyte.run(parent, x=1)
    return str(failed.value)


def test_unknown_task_type_names_the_conventional_distribution_of_its_package(site: Site) -> None:
    cls = _install_package_task(site, "sparkle")  # its module, no entry point: the plugin is not installed
    site.load()
    from flyte.extend import NativeInterface

    tmpl = cls(name="etl.sparkle_job", interface=NativeInterface.from_types({"x": int}, str))
    msg = _run_error(tmpl)
    assert "No installed plugin provides task type 'sparkle'" in msg
    assert "pip install flyte-plugin-sparkle" in msg


def test_unknown_task_type_of_a_disabled_plugin_says_it_is_disabled(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = _install_package_task(site, "glitter")
    info = site.root / "flyte_plugin_glitter-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flyte-plugin-glitter\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[flyte.plugins]\nglitter = flyteplugins.glitter\n")
    importlib.invalidate_caches()
    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "glitter")
    site.load()
    from flyte.extend import NativeInterface

    msg = _run_error(cls(name="etl.glitter_job", interface=NativeInterface.from_types({"x": int}, str)))
    assert "Plugin 'glitter' (flyte-plugin-glitter) provides it but is disabled" in msg


def test_a_users_own_unregistered_subclass_runs_its_execute(site: Site) -> None:
    module = site.install("user_code", good("acme", "MyTask"), name="usercode")
    # "user_code_hooks" is no plugin package and the class declares no distribution: as on the anchor,
    # a TaskTemplate subclass that nobody registered runs its own execute() in the run's process.
    site.load()
    mine = plugin_tmpl(module, "MyTask", name="mine.job", task_type="not-registered")
    env = flyte.TaskEnvironment(name="own-execute")

    @env.task
    async def parent(x: int) -> str:
        return await mine(x=x)

    assert flyte.run(parent, x=3).outputs()[0] == "acme ran with [('x', 3)]"  # its own execute()


SIDECAR = """
    from dataclasses import dataclass

    from flyte.extend import AsyncFunctionTaskTemplate, hookimpl


    @dataclass(kw_only=True)
    class SidecarTask(AsyncFunctionTaskTemplate):
        task_type: str = "sidecar"


    @hookimpl
    def flyte_register_task_types(registry):
        registry.add("sidecar", 0, SidecarTask, function_field="{field}")
"""


def test_a_plugin_claims_function_tasks_that_set_a_field(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "pod")  # the installed pod plugin claims it otherwise
    site.install("flyte-plugin-sidecar", SIDECAR.replace("{field}", "pod_template"))
    site.load()
    pod = flyte.PodTemplate(primary_container_name="main", labels={"team": "ml"})
    env = flyte.TaskEnvironment(name="claimed", pod_template=pod)

    @env.task
    async def inc(x: int) -> int:
        return x + 1

    assert (inc.task_type, type(inc).__name__) == ("sidecar", "SidecarTask")
    assert flyte.run(inc, x=1).outputs()[0] == 2  # backend=None: the function runs in process
    plain_env = flyte.TaskEnvironment(name="unclaimed")

    @plain_env.task
    async def dec(x: int) -> int:
        return x - 1

    assert dec.task_type == "python"
    moved = dec.override(pod_template=pod)
    assert (moved.task_type, type(moved).__name__, dec.task_type) == ("sidecar", "SidecarTask", "python")

    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "pod,sidecar")
    site.load()
    unclaimed = flyte.TaskEnvironment(name="claimed-by-none", pod_template=pod)

    @unclaimed.task
    async def same(x: int) -> int:
        return x

    assert same.task_type == "python"  # no plugin claims pod_template: a Python task, as on the anchor
    assert flyte.run(same, x=5).outputs()[0] == 5


def test_only_known_fields_can_be_claimed_and_only_once(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_DISABLE_PLUGINS", "pod")
    site.install("flyte-plugin-imagey", SIDECAR.replace("{field}", "image").replace("sidecar", "imagey"))
    site.install("flyte-plugin-sidecar", SIDECAR.replace("{field}", "pod_template"))
    site.install(
        "flyte-plugin-sidecar2", SIDECAR.replace("{field}", "pod_template").replace('"sidecar"', '"sidecar2"')
    )
    state = site.load()
    assert "the fields a plugin may claim are ['pod_template']" in str(state.plugins["imagey"].error)
    errors = [state.plugins[n].error for n in ("sidecar", "sidecar2")]
    assert errors.count(None) == 1  # the first to register keeps the field
    assert any("function_field 'pod_template' is claimed by task type" in str(e) for e in errors)


def test_plugin_config_selects_the_registered_template(site: Site) -> None:
    module = site.install(
        "flyte-plugin-fancy",
        """
        from dataclasses import dataclass
        from typing import Any

        from flyte.extend import AsyncFunctionTaskTemplate, SerializationContext, hookimpl


        @dataclass(frozen=True)
        class Fancy:
            factor: int = 10


        class ExtraFancy(Fancy):
            pass


        @dataclass(kw_only=True)
        class FancyTask(AsyncFunctionTaskTemplate):
            async def pre(self) -> dict[str, Any]:
                return {"session": "started"}

            async def post(self, outputs: Any) -> Any:
                return outputs * self.plugin_config.factor

            def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
                return {"factor": self.plugin_config.factor}


        @hookimpl
        def flyte_register_task_types(registry):
            registry.add("fancy", 0, FancyTask, config_type=Fancy)
        """,
    )
    site.load()
    mod = importlib.import_module(module)
    env = flyte.TaskEnvironment(name="fancy-env", plugin_config=mod.Fancy(factor=3))

    @env.task
    async def triple(x: int) -> int:
        return x + 1

    assert type(triple) is mod.FancyTask and triple.task_type == "fancy"
    assert triple.spec().custom_config == {"factor": 3}
    assert flyte.run(triple, x=1).outputs()[0] == 6  # pre/execute/post ran in-process (backend=None)

    sub_env = flyte.TaskEnvironment(name="extra-fancy-env", plugin_config=mod.ExtraFancy(factor=2))
    assert type(sub_env.task(triple.func)) is mod.FancyTask  # config subclasses select it too

    class Unknown:
        pass

    with pytest.raises(TaskTypeNotFoundError, match="No installed plugin handles plugin_config of type"):
        flyte.TaskEnvironment(name="nobody-env", plugin_config=Unknown()).task(triple.func)


BACKENDS = """
    import asyncio
    from dataclasses import dataclass
    from typing import Any

    from flyte.extend import Resource, ResourceMeta, TaskTemplate, hookimpl

    CALLS = []


    @dataclass(kw_only=True)
    class RemoteTask(TaskTemplate):
        pass


    class RunBackend:
        async def run(self, task, inputs, ctx):
            CALLS.append(("run", task.name, ctx.run_name, ctx.attempt))
            return f"ran {task.name} x={inputs['x']}"


    class JobConnector:
        polls = 2

        async def create(self, task, inputs, ctx):
            CALLS.append(("create", task.name))
            return ResourceMeta(kind="job", data={"job_id": f"job-{inputs['x']}", "polls": 0})

        async def get(self, meta):
            CALLS.append(("get", meta.data["job_id"]))
            if meta.data["job_id"] == "job-999":
                return Resource(phase="RUNNING")
            meta.data["polls"] += 1
            if meta.data["polls"] < self.polls:
                return Resource(phase="RUNNING")
            return Resource(phase="SUCCEEDED", outputs=meta.data["job_id"] + " done")

        async def delete(self, meta):
            CALLS.append(("delete", meta.data["job_id"]))


    @hookimpl
    def flyte_register_task_types(registry):
        registry.add("remote-run", 0, RemoteTask, backend=RunBackend)
        registry.add("remote-job", 0, RemoteTask, backend=JobConnector())
"""


def test_backend_run_protocol(site: Site) -> None:
    module = site.install("flyte-plugin-remote", BACKENDS)
    site.load()
    mod = importlib.import_module(module)
    tmpl = plugin_tmpl(module, "RemoteTask", name="remote.echo", task_type="remote-run")
    run = flyte.run(tmpl, x=5)
    assert run.outputs()[0] == "ran remote.echo x=5"
    assert mod.CALLS == [("run", "remote.echo", run.name, 0)]


def test_connector_protocol_records_resource_meta(site: Site) -> None:
    from flyte._config import get_settings
    from flyte._runtime.journal import open_journal

    module = site.install("flyte-plugin-remote", BACKENDS)
    site.load()
    mod = importlib.import_module(module)
    job = plugin_tmpl(module, "RemoteTask", name="remote.job", task_type="remote-job")
    env = flyte.TaskEnvironment(name="connector-env")

    @env.task
    async def parent(x: int) -> str:
        done = await job(x=x)
        try:
            await asyncio.wait_for(job(x=999), timeout=0.5)  # never finishes: cancelled -> delete()
        except TimeoutError:
            pass
        return done

    run = flyte.run(parent, x=7)
    assert run.outputs()[0] == "job-7 done"
    assert mod.CALLS.count(("create", "remote.job")) == 2
    assert ("delete", "job-999") in mod.CALLS and ("delete", "job-7") not in mod.CALLS
    journal = open_journal(get_settings().journal_path)
    metas = [
        json.loads(r["meta"])
        for r in journal.query("SELECT meta FROM actions WHERE run=? AND meta IS NOT NULL", (run.name,))
    ]
    assert {m["kind"] for m in metas} == {"job"}
    assert sorted(m["data"]["job_id"] for m in metas) == ["job-7", "job-999"]


# ---- flyte plugins --------------------------------------------------------------------------------------


def test_flyte_plugins_json(site: Site) -> None:
    from flyte.cli.main import cli

    site.install("flyte-plugin-acme", good("acme"), version="2.0")
    site.install("flyte-plugin-broken", "raise ImportError('needs pyspark')\n", version="0.3")
    site.load()
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    expected = {
        "name": "acme",
        "distribution": "flyte-plugin-acme",
        "version": "2.0",
        "module": "flyte_plugin_acme_hooks",
        "task_types": ["acme"],
        "storage": [],
        "executors": [],
        "error": None,
        "enabled": True,
    }
    assert {k: rows["acme"].get(k) for k in expected} == expected
    assert rows["broken"]["error"] == "ImportError: needs pyspark"
    assert (rows["broken"]["distribution"], rows["broken"]["version"]) == ("flyte-plugin-broken", "0.3")
    assert sorted(rows["python"]["task_types"]) == ["core-sleep", "python"] and rows["python"]["storage"] == [
        "file"
    ]

    table = CliRunner().invoke(cli, ["plugins"], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "flyte-plugin-broken" in table.output and "error" in table.output
