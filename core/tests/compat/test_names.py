"""Every public name of the anchor SDK (flyte 2.12.1) exists in ``flyte`` and behaves sensibly here."""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import subprocess
import sys
import threading
import time

import flyte
import flyte.app
import flyte.errors
import pytest
from flyte._condition import signal_condition

# ``sorted(flyte.__all__)`` of the anchor SDK, flyte==2.12.1.
ANCHOR_ALL = [
    "AMD_GPU", "APPLE_SILICON", "AppHandle", "AsyncFunctionTaskTemplate", "Backoff", "BaseCheckpoint",
    "Cache", "CachePolicy", "CacheRequest", "Checkpoint", "ConditionWebhook", "Cron", "Device",
    "DeviceClass", "Documentation", "Environment", "FixedRate", "GPU", "HABANA_GAUDI", "Image",
    "ImageBuild", "Link", "Neuron", "OnArtifact", "PodTemplate", "Resources", "RetryStrategy",
    "ReusePolicy", "Secret", "SecretRequest", "TPU", "TaskEnvironment", "TaskTemplate", "Timeout",
    "TimeoutType", "Trigger", "TriggerTime", "TriggeredArtifact", "TriggeredPartition", "__version__",
    "build", "build_images", "ctx", "current_domain", "current_project", "custom_context", "deploy",
    "get_custom_context", "group", "init", "init_from_api_key", "init_from_config", "init_in_cluster",
    "init_passthrough", "is_control_plane_available", "latest_checkpoint", "load_interactive_ctx",
    "load_plugin_config", "logger", "map", "new_condition", "rerun", "run", "run_python_script", "serve",
    "system_logger", "trace", "version", "with_runcontext", "with_servecontext",
]  # fmt: skip
# Added on other branches of issue 15 (resource/secret request types, pod templates).
ELSEWHERE = {
    "AMD_GPU", "APPLE_SILICON", "CacheRequest", "DeviceClass", "HABANA_GAUDI", "Neuron", "PodTemplate",
    "SecretRequest", "TimeoutType",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(set(ANCHOR_ALL) - ELSEWHERE))
def test_anchor_name_exists(name: str) -> None:
    assert name in flyte.__all__
    assert getattr(flyte, name) is not None


def test_import_flyte_stays_light() -> None:
    code = (
        "import sys, flyte; flyte.__all__; "
        "print(sorted(m for m in ('pydantic', 'asyncio', 'flyte._trigger') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_and_loggers() -> None:
    assert flyte.version() == flyte.__version__
    assert isinstance(flyte.logger, logging.Logger) and flyte.logger.name == "flyte.user"
    assert isinstance(flyte.system_logger, logging.Logger) and flyte.system_logger.name == "flyte"
    assert flyte.logger.parent is flyte.system_logger


# ---- project / domain / init variants ---------------------------------------------------------------
@pytest.fixture
def clean_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    import flyte._initialize as ini

    monkeypatch.setattr(ini, "_identity", {})
    for var in ("FLYTE_PROJECT", "FLYTE_DOMAIN", "FLYTE_ORG"):
        monkeypatch.setenv(var, "x")  # so that teardown restores the variable's original state
        monkeypatch.delenv(var)


@pytest.mark.usefixtures("clean_identity")
def test_project_domain_default_then_recorded_by_init() -> None:
    assert (flyte.current_project(), flyte.current_domain()) == ("default", "development")
    flyte.init(project="flytesnacks", domain="staging")
    assert (flyte.current_project(), flyte.current_domain()) == ("flytesnacks", "staging")
    env = flyte.TaskEnvironment(name="ident")

    @env.task
    def where() -> str:
        return f"{flyte.current_project()}/{flyte.current_domain()}"

    assert flyte.run(where).outputs()[0] == "flytesnacks/staging"


@pytest.mark.usefixtures("clean_identity")
def test_init_in_cluster_passthrough_and_api_key() -> None:
    got = flyte.init_in_cluster(org="o", project="p1", domain="d1", api_key="k", endpoint="dns:///x")
    assert got["project"] == "p1" and got["endpoint"] == "dns:///x"
    assert flyte.current_project() == "p1"
    flyte.init_passthrough(project="p2")
    assert flyte.current_project() == "p2"
    flyte.init_from_api_key(api_key="secret-key", domain="prod")
    assert flyte.current_domain() == "prod"
    with pytest.raises(flyte.errors.InvalidParameterError, match="api_key"):
        flyte.init_from_api_key(api_key="  ")
    with pytest.raises(flyte.errors.InvalidParameterError, match="project"):
        flyte.init(project="")
    assert flyte.is_control_plane_available() is False


# ---- triggers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "field"),
    [("61 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * * foo *", "month"), ("* * *", "5 fields")],
)
def test_bad_cron_names_the_field(expr: str, field: str) -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="expression") as e:
        flyte.Cron(expr)
    assert field in str(e.value)


def test_good_triggers_and_validation() -> None:
    for expr in ("*/5 * * * *", "0 0 1 jan-mar mon-fri", "15,45 8-18/2 * * 1-5", "@daily"):
        assert flyte.Cron(expr).timezone_expression == f"CRON_TZ=UTC {expr}"
    with pytest.raises(flyte.errors.InvalidParameterError, match="timezone"):
        flyte.Cron("* * * * *", timezone="Mars/Olympus")
    with pytest.raises(flyte.errors.InvalidParameterError, match="interval_minutes"):
        flyte.FixedRate(0)
    with pytest.raises(flyte.errors.InvalidParameterError, match="TriggerTime"):
        flyte.Trigger("t", inputs={"at": flyte.TriggerTime})
    with pytest.raises(flyte.errors.InvalidParameterError, match="OnArtifact"):
        flyte.Trigger("t", automation=flyte.Cron("0 * * * *"), inputs={"m": flyte.TriggeredArtifact})
    with pytest.raises(flyte.errors.InvalidParameterError, match="max_action_concurrency"):
        flyte.Trigger("t", max_action_concurrency=1)
    art = flyte.OnArtifact("events", region="us")
    assert art.partitions == {"region": "us"}
    t = flyte.Trigger(
        "t", automation=art, inputs={"e": flyte.TriggeredArtifact, "d": flyte.TriggeredPartition("day")}
    )
    assert t.to_dict()["inputs"] == {"e": {"triggered_artifact": True}, "d": {"triggered_partition": "day"}}
    daily = flyte.Trigger.daily("when")
    assert isinstance(daily.automation, flyte.Cron) and daily.automation.expression == "0 0 * * *"
    assert daily.inputs == {"when": flyte.TriggerTime}


def test_task_triggers_recorded_in_spec_and_checked_against_inputs() -> None:
    env = flyte.TaskEnvironment(name="trig")
    every = flyte.Trigger(
        "every-hour", automation=flyte.FixedRate(60), inputs={"at": flyte.TriggerTime, "n": 3}
    )

    @env.task(triggers=every)
    def job(at: str, n: int) -> int:
        return n

    spec = job.spec()
    assert [t["name"] for t in spec.triggers] == ["every-hour"]
    assert spec.triggers[0]["automation"] == {"fixed_rate": {"interval_minutes": 60, "start_time": None}}
    assert spec.triggers[0]["inputs"] == {"at": {"trigger_time": True}, "n": 3}
    with pytest.raises(flyte.errors.InvalidParameterError, match="inputs"):

        @env.task(triggers=[flyte.Trigger("x", inputs={"missing": 1})])
        def other(a: int) -> int:
            return a

    with pytest.raises(flyte.errors.InvalidParameterError, match="triggers"):

        @env.task(triggers=["0 * * * *"])
        def third(a: int) -> int:
            return a


# ---- Documentation, Link, AppHandle, Environment ------------------------------------------------------
def test_documentation_and_links_in_spec() -> None:
    @dataclasses.dataclass
    class Grafana:
        name: str = "grafana"
        icon_uri: str | None = None

        def get_link(self, run_name: str, project: str, domain: str, context: dict[str, str],
                     parent_action_name: str, action_name: str, pod_name: str, **kw: object,
                     ) -> str:  # fmt: skip
            return f"https://grafana/{run_name}/{action_name}"

    assert isinstance(Grafana(), flyte.Link)
    env = flyte.TaskEnvironment(name="docs")

    @env.task(docs=flyte.Documentation(description="Adds one."), links=Grafana())
    def inc(x: int) -> int:
        return x + 1

    spec = inc.spec()
    assert spec.docs == "Adds one." and spec.links == [{"name": "grafana", "type": Grafana.__qualname__}]
    with pytest.raises(flyte.errors.InvalidParameterError, match="links"):
        env.task(links=[object()])(lambda x: x)


def test_local_app_satisfies_app_handle() -> None:
    from flyte.app._serve import LocalApp

    for member in ("name", "url", "endpoint", "is_active", "is_deactivated", "activate", "deactivate",
                   "ephemeral_ctx", "ephemeral_ctx_sync"):  # fmt: skip
        assert hasattr(LocalApp, member), member


def test_environment_is_the_shared_base() -> None:
    task_env = flyte.TaskEnvironment(name="base-t", description="d", interruptible=True)
    app_env = flyte.app.AppEnvironment(name="base-a", include=("srv.py",))
    assert isinstance(task_env, flyte.Environment) and isinstance(app_env, flyte.Environment)
    assert task_env.interruptible is True and app_env.include == ("srv.py",)
    plain = flyte.Environment("plain")
    assert plain.name == "plain" and plain.depends_on == []
    with pytest.raises(flyte.errors.InvalidParameterError, match="name"):
        flyte.Environment("")
    with pytest.raises(TypeError):
        flyte.TaskEnvironment(name="x", no_such_field=1)  # type: ignore[call-arg]


# ---- deploy / build -----------------------------------------------------------------------------------
def test_deploy_serialises_every_task_of_envs_and_dependencies() -> None:
    dep = flyte.TaskEnvironment(name="dep-env")
    top = flyte.TaskEnvironment(name="top-env", depends_on=[dep])

    @dep.task
    def a(x: int) -> int:
        return x

    @top.task(triggers=flyte.Trigger.hourly())
    def b(x: int) -> int:
        return x

    deployments = flyte.deploy(top, version="v1")
    assert isinstance(deployments, list) and len(deployments) == 1
    envs = deployments[0].envs
    assert list(envs) == ["dep-env", "top-env"]
    tasks = {e.deployed_task.name: e for d in envs.values() for e in d.deployed_entities}
    assert set(tasks) == {"dep-env.a", "top-env.b"}
    assert tasks["top-env.b"].deployed_task.version == "v1"
    assert [t.name for t in tasks["top-env.b"].deployed_triggers] == ["hourly"]
    with pytest.raises(flyte.errors.InvalidParameterError, match="envs"):
        flyte.deploy()


def test_deploy_fails_with_the_task_that_cannot_be_serialised() -> None:
    from flyte._task import AsyncFunctionTaskTemplate

    @dataclasses.dataclass(kw_only=True)
    class Broken(AsyncFunctionTaskTemplate):  # type: ignore[type-arg]
        def custom_config(self, sctx: object) -> dict[str, object]:
            raise ValueError("no cluster config")

    env = flyte.TaskEnvironment(name="broken-env")

    @env.task
    def ok(x: int) -> int:
        return x

    env.add_task(Broken(name="broken-env.bad", func=ok.func, interface=ok.interface))
    with pytest.raises(flyte.errors.DeploymentError, match=r"broken-env\.bad.*no cluster config"):
        flyte.deploy(env)


def test_deploy_app_environment() -> None:
    app = flyte.app.AppEnvironment(name="dep-app", command="python -m http.server")
    [d] = flyte.deploy(app)
    deployed = d.envs["dep-app"]
    assert isinstance(deployed, flyte.app.DeployedAppEnvironment)
    assert deployed.deployed_app["name"] == "dep-app"


def test_build_returns_image_uri_and_checks_inputs(tmp_path: pathlib.Path) -> None:
    # dry_run checks the inputs only (a real build, by flyte-plugin-container, is tested there).
    image = flyte.Image.from_debian_base(name="mine").with_pip_packages("numpy")
    result = flyte.build(image, dry_run=True)
    assert isinstance(result, flyte.ImageBuild) and result.uri == image.uri and result.remote_run is None
    missing = flyte.Image.from_debian_base().with_requirements(tmp_path / "nope.txt")
    with pytest.raises(flyte.errors.ImageBuildError, match=r"nope\.txt"):
        flyte.build(missing, dry_run=True)
    env = flyte.TaskEnvironment(name="img-env", image="python:3.12-slim")  # a reference: nothing to build
    cache = flyte.build_images(env)
    assert cache.image_lookup == {"img-env": "python:3.12-slim"}


# ---- checkpoints --------------------------------------------------------------------------------------
ckpt_env = flyte.TaskEnvironment(name="ckpt")


@ckpt_env.task(retries=2)
def resumable(steps: int) -> str:
    tctx = flyte.ctx()
    assert tctx is not None
    cp = tctx.checkpoint
    restored = cp.load_sync()
    start = int((restored / "state" / "step").read_text()) if restored is not None else 0
    work = cp.path / "work"
    (work / "state").mkdir(parents=True, exist_ok=True)
    for step in range(start, steps):
        (work / "state" / "step").write_text(str(step + 1))
        cp.save_sync(work)
        if tctx.attempt == 0 and step == 1:
            raise RuntimeError("preempted")
    return f"attempt={tctx.attempt} resumed_from={start}"


def test_retried_attempt_resumes_from_checkpoint() -> None:
    run = flyte.run(resumable, 4)
    assert run.outputs()[0] == "attempt=1 resumed_from=2"


@ckpt_env.task
async def blob_checkpoint() -> str:
    tctx = flyte.ctx()
    assert tctx is not None
    cp = tctx.checkpoint
    assert await cp.load() is None and not cp.prev_exists()
    await cp.save(b"raw-state")
    again = flyte.Checkpoint(cp.remote_destination, cp.remote_destination)
    loaded = await again.load()
    assert loaded is not None
    return loaded.name + ":" + loaded.read_text()


def test_bytes_checkpoint_round_trip() -> None:
    assert flyte.run(blob_checkpoint).outputs()[0] == "payload:raw-state"


def test_latest_checkpoint(tmp_path: pathlib.Path) -> None:
    assert flyte.latest_checkpoint(tmp_path) is None
    for i, sub in enumerate(["a", "b/c"]):
        p = tmp_path / sub / "last.ckpt"
        p.parent.mkdir(parents=True)
        p.write_text(str(i))
        time.sleep(0.01)
    assert flyte.latest_checkpoint(tmp_path) == tmp_path / "b/c/last.ckpt"
    (tmp_path / "step-10.ckpt").write_text("")
    (tmp_path / "step-9.ckpt").write_text("")
    best = flyte.latest_checkpoint(tmp_path, "*.ckpt", key=lambda p: int(p.stem.split("-")[1]))
    assert best == tmp_path / "step-10.ckpt"
    assert issubclass(flyte.Checkpoint, flyte.BaseCheckpoint)


# ---- conditions ---------------------------------------------------------------------------------------
cond_env = flyte.TaskEnvironment(name="cond")


@cond_env.task
def approval(delay: float) -> int:
    cond = flyte.new_condition("budget", prompt="How much?", data_type=int, timeout=5)
    threading.Timer(delay, signal_condition, args=(cond, "42")).start()
    return cond.wait()  # type: ignore[no-any-return]


@cond_env.task
def unanswered() -> bool:
    cond = flyte.new_condition("ok", timeout=0.2, webhook=flyte.ConditionWebhook("https://hooks.example/x"))
    return cond.wait()  # type: ignore[no-any-return]


def test_condition_waits_for_signal_and_converts_type() -> None:
    assert flyte.run(approval, 0.1).outputs()[0] == 42


def test_condition_timeout_and_outside_task() -> None:
    with pytest.raises(flyte.errors.ConditionTimedoutError):  # a failing run raises its error
        flyte.run(unanswered)
    with pytest.raises(RuntimeError, match="inside a task"):
        flyte.new_condition("x").wait()
    with pytest.raises(flyte.errors.InvalidParameterError, match="data_type"):
        flyte.new_condition("x", data_type=list)
    with pytest.raises(flyte.errors.InvalidParameterError, match="url"):
        flyte.ConditionWebhook("ftp://x")


# ---- scripts, plugin configs, interactive context -----------------------------------------------------
def test_run_python_script(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("import sys, pathlib\npathlib.Path('out').mkdir()\nprint('got', *sys.argv[1:])\n")
    run = flyte.run_python_script(script, extra_args=["x", "y"], output_dir="out")
    assert run.status == "SUCCEEDED"
    out = run.outputs()[0]
    assert out.exit_code == 0 and out.stdout == "got x y\n" and out.output_dir.name == "out"
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit(3)\n")
    with pytest.raises(flyte.errors.RuntimeUserError, match="exited with code 3") as e:
        flyte.run_python_script(bad)
    assert e.value.flyte_run.status == "FAILED"  # type: ignore[attr-defined]
    with pytest.raises(flyte.errors.InvalidParameterError, match="script"):
        flyte.run_python_script(tmp_path / "missing.py")


def test_load_plugin_config(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_cfg.py").write_text(
        "from dataclasses import dataclass, field\n"
        "@dataclass\nclass Worker:\n    group: str\n    replicas: int = 1\n"
        "@dataclass\nclass Job:\n    workers: list[Worker] = field(default_factory=list)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "cfg.json"
    path.write_text(
        json.dumps({"plugin": "my_cfg.Job", "config": {"workers": [{"group": "w", "replicas": 2}]}})
    )
    cfg = flyte.load_plugin_config(path)
    assert (
        type(cfg).__name__ == "Job"
        and cfg.workers[0].replicas == 2
        and type(cfg.workers[0]).__name__ == "Worker"
    )
    path.write_text(json.dumps({"config": {}}))
    with pytest.raises(flyte.errors.InvalidParameterError, match="plugin"):
        flyte.load_plugin_config(path)
    path.write_text(json.dumps({"plugin": "no_such_mod.Cls"}))
    with pytest.raises(flyte.errors.InvalidParameterError, match="no_such_mod"):
        flyte.load_plugin_config(path)


def test_load_interactive_ctx(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"run_context\.json"):
        flyte.load_interactive_ctx()
    (tmp_path / ".flyte").mkdir()
    (tmp_path / ".flyte" / "run_context.json").write_text(json.dumps({"run_name": "r1", "action_id": "a0"}))
    tctx = flyte.load_interactive_ctx()
    assert (tctx.run_name, tctx.action_id) == ("r1", "a0")


# ---- flyte.extras ---------------------------------------------------------------------------------------
def test_extras() -> None:
    import importlib.util

    import flyte.extras as ex

    installed = importlib.util.find_spec("flyteplugins") is not None and (
        importlib.util.find_spec("flyteplugins.container") is not None
    )
    if installed:  # tests_integration installs every plugin
        from flyteplugins.container import ContainerTask

        assert ex.ContainerTask is ContainerTask
    else:
        with pytest.raises(ImportError, match="pip install flyte-plugin-container"):
            ex.ContainerTask  # noqa: B018
    # batching, shell, webhooks and model_streamer exist now (behaviour: core/tests/compat/test_extras.py);
    # model_streamer's names still explain why they are not provided here
    assert ex.DynamicBatcher.__module__ == "flyte.extras._batcher" and issubclass(
        ex.TokenBatcher, ex.DynamicBatcher
    )
    assert ex.shell.Glob().pattern == "*" and callable(ex.webhooks.hex_hmac_sha256)
    with pytest.raises(NotImplementedError, match=r"flyte\.extras\.model_streamer\.ModelStreamer"):
        ex.model_streamer.ModelStreamer  # noqa: B018
    with pytest.raises(AttributeError):
        ex.NoSuchThing  # noqa: B018
    sleepy = flyte.TaskEnvironment(name="sleepy", plugin_config=ex.Sleep())

    @sleepy.task
    async def nap(seconds: float) -> str:
        import asyncio

        await asyncio.sleep(seconds)
        return "rested"

    assert isinstance(nap, ex.SleepTask) and nap.task_type == "core-sleep"
    assert flyte.run(nap, 0.01).outputs()[0] == "rested"
    assert [s.task_type for s in ex.serialize_env(sleepy)] == ["core-sleep"]


def test_extras_container_task_without_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    import flyte.extras as ex

    monkeypatch.delitem(ex.__dict__, "ContainerTask", raising=False)
    monkeypatch.setitem(sys.modules, "flyteplugins.container", None)
    with pytest.raises(ImportError, match="pip install flyte-plugin-container"):
        ex.ContainerTask  # noqa: B018


@ckpt_env.task
def crash_once(flag: str) -> str:
    tctx = flyte.ctx()
    assert tctx is not None
    cp = tctx.checkpoint
    restored = cp.load_sync()
    done = restored.read_text() if restored is not None else ""
    cp.save_sync(b"step-1")
    if not pathlib.Path(flag).exists():
        raise RuntimeError("machine lost")
    return f"resumed with {done!r}"


def test_recovered_run_resumes_from_the_failed_runs_checkpoint(tmp_path: pathlib.Path) -> None:
    flag = tmp_path / "fixed"
    with pytest.raises(flyte.errors.RuntimeUserError) as e:
        flyte.run(crash_once, str(flag))
    failed = e.value.flyte_run  # type: ignore[attr-defined]
    assert failed.status == "FAILED"
    flag.write_text("")
    recovered = flyte.rerun(failed.name, recover=True)
    assert recovered.outputs()[0] == "resumed with 'step-1'"
