"""Configuration classes used as flyte 2.12.1 code uses them: positional forms, the anchor's
normalisations (int seconds -> timedelta, replicas int -> (n, n), derived secret env vars), its error
types and key phrases, and the TaskEnvironment settings it has (include, interruptible, queue,
service_account)."""

from __future__ import annotations

import importlib.util
import itertools
import pathlib
import sys
import textwrap
import warnings
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import flyte
import pytest
from flyte.errors import InvalidParameterError

_counter = itertools.count()


# ---- positional forms equal keyword forms --------------------------------------------------------


@pytest.mark.parametrize(
    ("positional", "keyword"),
    [
        (
            lambda: flyte.Resources(1, "1Gi", "A100:2", "10Gi", "auto"),
            lambda: flyte.Resources(cpu=1, memory="1Gi", gpu="A100:2", disk="10Gi", shm="auto"),
        ),
        (
            lambda: flyte.Cache("override", "v1", True),
            lambda: flyte.Cache(behavior="override", version_override="v1", serialize=True),
        ),
        (lambda: flyte.RetryStrategy(3), lambda: flyte.RetryStrategy(count=3)),
        (
            lambda: flyte.Backoff(timedelta(seconds=2), 2.0, timedelta(seconds=30)),
            lambda: flyte.Backoff(base=timedelta(seconds=2), factor=2.0, cap=timedelta(seconds=30)),
        ),
        (
            lambda: flyte.ReusePolicy((1, 3), 60, 2),
            lambda: flyte.ReusePolicy(replicas=(1, 3), idle_ttl=60, concurrency=2),
        ),
        (
            lambda: flyte.Timeout(60, 30, 600),
            lambda: flyte.Timeout(max_runtime=60, max_queued_time=30, deadline=600),
        ),
        (
            lambda: flyte.Secret("k", "g", None, "ENV"),
            lambda: flyte.Secret(key="k", group="g", as_env_var="ENV"),
        ),
        (
            lambda: flyte.Device(2, "GPU", "A100"),
            lambda: flyte.Device(quantity=2, device_class="GPU", device="A100"),
        ),
        (
            lambda: flyte.GPU("H100", 1, "1g.10gb"),
            lambda: flyte.GPU(device="H100", quantity=1, partition="1g.10gb"),
        ),
        (lambda: flyte.TPU("V5P", "2x2x1"), lambda: flyte.TPU(device="V5P", partition="2x2x1")),
    ],
)
def test_positional_equals_keyword(positional: Any, keyword: Any) -> None:
    assert positional() == keyword()


def test_task_environment_name_is_positional() -> None:
    env = flyte.TaskEnvironment("pos-env", resources=flyte.Resources(cpu=1))

    @env.task
    async def hello() -> str:
        return "hi"

    assert env.name == "pos-env"
    assert hello.name == "pos-env.hello"
    assert flyte.run(hello).outputs()[0] == "hi"


# ---- normalisations ------------------------------------------------------------------------------


def test_int_seconds_equal_timedeltas() -> None:
    assert flyte.Timeout(max_runtime=60) == flyte.Timeout(max_runtime=timedelta(seconds=60))
    assert flyte.Timeout(max_runtime=60).max_runtime == timedelta(minutes=1)
    assert flyte.ReusePolicy(idle_ttl=30) == flyte.ReusePolicy(idle_ttl=timedelta(seconds=30))
    assert flyte.ReusePolicy(scaledown_ttl=45).scaledown_ttl == timedelta(seconds=45)
    assert flyte.Cache("auto", max_age=3600).max_age == timedelta(hours=1)
    assert flyte.Backoff(base=5).base == timedelta(seconds=5)


def test_reuse_policy_replicas_and_defaults_match_the_anchor() -> None:
    p = flyte.ReusePolicy(replicas=2)
    assert p.replicas == (2, 2)
    assert p == flyte.ReusePolicy(replicas=(2, 2))
    default = flyte.ReusePolicy()
    assert default.replicas == (2, 2)
    assert default.idle_ttl == default.scaledown_ttl == timedelta(seconds=30)


def test_single_replica_warns_only_without_concurrency() -> None:
    with pytest.warns(UserWarning, match="starv"):
        flyte.ReusePolicy(replicas=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flyte.ReusePolicy(replicas=1, concurrency=4)  # a parent cannot block the only replica


def test_backoff_defaults_are_constant_delay() -> None:
    b = flyte.Backoff(base=timedelta(seconds=10))
    assert (b.factor, b.cap) == (1.0, None)
    assert [b.compute_delay(n) for n in range(3)] == [timedelta(seconds=10)] * 3
    growing = flyte.Backoff(timedelta(seconds=10), 2.0, timedelta(seconds=35))
    assert [growing.compute_delay(n).total_seconds() for n in range(3)] == [10, 20, 35]


@pytest.mark.parametrize(
    ("secret", "env_var"),
    [
        (flyte.Secret("openai-api-key"), "OPENAI_API_KEY"),
        (flyte.Secret(key="token", group="my-team"), "MY_TEAM_TOKEN"),
        (flyte.Secret("db-pass", as_env_var="DB_PASSWORD"), "DB_PASSWORD"),
    ],
)
def test_secret_env_var_derivation(secret: flyte.Secret, env_var: str) -> None:
    assert secret.as_env_var == env_var
    assert secret.env_var_name == env_var


def test_secret_derived_env_var_equals_explicit_one() -> None:
    assert flyte.Secret("api-key") == flyte.Secret("api-key", as_env_var="API_KEY")


def test_secret_mount_is_recorded_and_skips_the_derived_field() -> None:
    s = flyte.Secret("cert", mount=pathlib.Path("/etc/flyte/secrets"))
    assert s.as_env_var is None
    assert s.to_dict()["mount"] == "/etc/flyte/secrets"
    with pytest.raises(ValueError, match="Only /etc/flyte/secrets is supported"):
        flyte.Secret("cert", mount=pathlib.Path("/run/secrets"))


def test_secret_stable_hash_is_process_independent() -> None:
    import subprocess

    code = "import flyte; print(flyte.Secret('k', group='g').stable_hash())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == flyte.Secret("k", group="g").stable_hash()
    assert flyte.Secret("k").stable_hash() != flyte.Secret("k", group="g").stable_hash()


def test_task_cache_none_inherits_the_environment_cache() -> None:
    env = flyte.TaskEnvironment("cache-inherit", cache="auto")

    @env.task(cache=None)
    async def inherits(x: int) -> int:
        return x

    @env.task(cache="disable")
    async def disabled(x: int) -> int:
        return x

    assert inherits.cache.behavior == "auto"
    assert disabled.cache.behavior == "disable"


def test_reusable_environment_keeps_its_service_account() -> None:
    env = flyte.TaskEnvironment("reuse-sa", reusable=flyte.ReusePolicy(2), service_account="runner")

    @env.task(service_account="runner")
    async def same() -> None: ...

    assert same.service_account == "runner"
    with pytest.raises(ValueError, match="Cannot override service_account when environment is reusable"):

        @env.task(service_account="other")
        async def other() -> None: ...


def test_cache_version_override_with_auto_pins_the_version_in_runs() -> None:
    env = flyte.TaskEnvironment("pin-auto")
    calls: list[int] = []

    @env.task(cache=flyte.Cache("auto", version_override="v1"))
    async def double(x: int) -> int:
        calls.append(x)
        return x * 2

    assert flyte.run(double, x=2).outputs()[0] == 4
    assert flyte.run(double, x=2).outputs()[0] == 4
    assert calls == [2]
    assert double.cache.get_version() == "v1"


def test_timeout_int_is_enforced_as_seconds() -> None:
    env = flyte.TaskEnvironment("timeout-int")

    @env.task(timeout=flyte.Timeout(max_runtime=1))
    async def slow() -> None:
        import asyncio

        await asyncio.sleep(30)

    with pytest.raises(Exception, match=r"timeout|ran longer"):
        flyte.run(slow).outputs()[0]


# ---- error types and the anchor's key phrases ----------------------------------------------------


@pytest.mark.parametrize(
    ("build", "phrase"),
    [
        (lambda: flyte.Resources(gpu="X100:1"), "gpu must be one of"),
        (lambda: flyte.Resources(gpu=-1), "gpu must be greater than or equal to 0"),
        (lambda: flyte.Resources(cpu=(1, 2, 3)), "cpu tuple must have exactly two elements"),
        (lambda: flyte.Resources(memory=("1Gi",)), "memory tuple must have exactly two elements"),
        (lambda: flyte.Resources(memory=1024), "memory must be a Kubernetes quantity string"),
        (lambda: flyte.Cache("sometimes"), "Invalid cache behavior"),
        (lambda: flyte.Cache("enable", max_age=-5), "max_age must be nonnegative"),
        (lambda: flyte.Cache("auto").get_version(), "Version parameters must be provided"),
        (lambda: flyte.RetryStrategy(-1), "must be greater than or equal to 0"),
        (lambda: flyte.RetryStrategy(1.5), "RetryStrategy.count must be an int"),  # type: ignore[arg-type]
        (lambda: flyte.Backoff(timedelta(seconds=-1)), "base must be >= 0"),
        (lambda: flyte.Backoff(timedelta(seconds=1), 0.5), "factor must be >= 1.0"),
        (lambda: flyte.Backoff(timedelta(seconds=1), 1.0, timedelta(seconds=-1)), "cap must be >= 0"),
        (lambda: flyte.Backoff(timedelta(seconds=1), 2.0), "cap is required when factor > 1.0"),
        (lambda: flyte.Backoff(timedelta(seconds=1), float("inf")), "finite number"),
        (lambda: flyte.Backoff(timedelta(seconds=1)).compute_delay(-1), "n must be >= 0"),
        (lambda: flyte.ReusePolicy((3, 1)), "must be less than or equal to max"),
        (lambda: flyte.ReusePolicy(concurrency=0), "concurrency must be at least 1"),
        (lambda: flyte.ReusePolicy(scope="everywhere"), 'scope must be "global" or "run"'),  # type: ignore[arg-type]
        (lambda: flyte.ReusePolicy(replicas="two"), "replicas must be an int or a tuple"),  # type: ignore[arg-type]
        (lambda: flyte.Secret("k", as_env_var="bad-name"), "Invalid environment variable name"),
        (lambda: flyte.TaskEnvironment("Bad Name"), "must be in snake_case or kebab-case format"),
        (lambda: flyte.Timeout(max_runtime="1h"), "Timeout must be an instance of"),  # type: ignore[arg-type]
    ],
)
def test_value_errors_carry_the_anchor_phrase(build: Any, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase) as exc:
        build()
    assert isinstance(exc.value, InvalidParameterError)  # names the parameter and the fix


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({"image": 3}, "Expected image to be of type str or Image"),
        ({"resources": 3}, "Expected resources to be of type Resources"),
        ({"secrets": 3}, "Expected secrets to be of type SecretRequest"),
        ({"env_vars": 3}, "Expected env_vars to be of type Dict"),
        ({"depends_on": [3]}, r"Expected depends_on to be of type List\[Environment\]"),
        ({"cache": 3}, "Expected cache to be of type str or Cache"),
        ({"reusable": 3}, "Expected reusable to be of type ReusePolicy"),
        ({"include": "templates/"}, "sequence of str paths"),
        ({"include": [3]}, "include entries must be str"),
    ],
)
def test_task_environment_type_errors(kwargs: dict[str, Any], phrase: str) -> None:
    with pytest.raises(TypeError, match=phrase) as exc:
        flyte.TaskEnvironment(f"typed-{next(_counter)}", **kwargs)
    assert isinstance(exc.value, InvalidParameterError)
    assert exc.value.param == next(iter(kwargs))


def test_cache_max_age_type_error() -> None:
    with pytest.raises(TypeError, match="max_age must be an int"):
        flyte.Cache("auto", max_age="1h")  # type: ignore[arg-type]


def test_add_dependency() -> None:
    a = flyte.TaskEnvironment("dep-a")
    b = flyte.TaskEnvironment("dep-b")
    a.add_dependency(b)
    a.add_dependency(b)
    assert a.depends_on == [b]
    with pytest.raises(ValueError, match="Cannot add self as a dependency"):
        a.add_dependency(a)
    with pytest.raises(TypeError, match="Expected Environment"):
        a.add_dependency(3)  # type: ignore[arg-type]


def test_depends_on_takes_task_and_app_environments() -> None:
    from flyte.app import AppEnvironment

    api = AppEnvironment(name="dep-api")
    worker = flyte.TaskEnvironment("dep-worker", depends_on=[api])
    later = flyte.TaskEnvironment("dep-later")
    worker.add_dependency(later)
    assert worker.depends_on == [api, later]


def test_clone_with_takes_the_anchors_positional_order_and_inherits_none() -> None:
    base = flyte.TaskEnvironment("clone-base", resources=flyte.Resources(cpu=2), cache="auto", queue="q")
    clone = base.clone_with("clone-gpu", "ghcr.io/x/y:1", flyte.Resources(gpu="T4:1"))
    assert (clone.image, clone.resources) == ("ghcr.io/x/y:1", flyte.Resources(gpu="T4:1"))
    assert (clone.cache, clone.queue) == ("auto", "q")
    same = base.clone_with("clone-same", resources=None, cache=None)
    assert (same.resources, same.cache) == (base.resources, "auto")
    assert base.clone_with("clone-noreuse", reusable=None).reusable is None


def test_clone_with_keeps_relative_includes_of_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_module(tmp_path, ("config.yaml",))
    original = _load(path).env
    monkeypatch.chdir(tmp_path)
    clone = original.clone_with("incl-clone")  # called from this test file, elsewhere
    assert clone.include == ("config.yaml",)

    async def uses() -> None: ...

    before = clone.task(uses).source_version()
    assert clone.task(uses).source_version() == before  # same files: same version
    (path.parent / "config.yaml").write_text("lang: nl\n")
    after = original.clone_with("incl-clone2").task(uses).source_version()
    assert after != before


def test_clone_with_unknown_setting_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="foo"):
        flyte.TaskEnvironment("clone-src").clone_with("clone-dst", foo=1)


# ---- strictness we keep (docs/compat.md, "Configuration classes") -------------------------------


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: flyte.RetryStrategy(11), "count"),
        (lambda: flyte.Cache("override"), "behavior"),
        (lambda: flyte.ReusePolicy((0, 0)), "replicas"),
        (lambda: flyte.GPU("T4", 1, partition="1g.5gb"), "partition"),
        (lambda: flyte.GPU("A2", 4), "quantity"),
        (lambda: flyte.Device(1, "TPU"), "device"),
        (lambda: flyte.Resources(cpu=0), "cpu"),
    ],
)
def test_kept_strictness_names_the_parameter(build: Any, param: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        build()
    assert exc.value.param == param


# ---- TaskEnvironment settings the anchor has -----------------------------------------------------


def test_interruptible_queue_service_account_are_recorded_in_the_spec() -> None:
    env = flyte.TaskEnvironment("sched-env", interruptible=True, queue="gpu-pool", service_account="trainer")

    @env.task
    async def inherits() -> None: ...

    @env.task(interruptible=False, queue="cpu-pool", service_account="reader")
    async def overrides() -> None: ...

    spec = inherits.spec()
    assert (spec.interruptible, spec.queue, spec.service_account) == (True, "gpu-pool", "trainer")
    spec = overrides.spec()
    assert (spec.interruptible, spec.queue, spec.service_account) == (False, "cpu-pool", "reader")
    spec = inherits.override(queue="other", interruptible=False).spec()
    assert (spec.interruptible, spec.queue) == (False, "other")
    with pytest.raises(InvalidParameterError, match="interruptible"):
        flyte.TaskEnvironment("sched-bad", interruptible="yes")  # type: ignore[arg-type]


_INCLUDE_MODULE = """
import flyte

env = flyte.TaskEnvironment("incl-env", include={include!r}, cache="auto")


@env.task
async def render(name: str) -> str:
    import os

    marker = os.environ.get("INCLUDE_MARKER")
    if marker:
        with open(marker, "a") as f:
            f.write("render\\n")
    return "hello " + name
"""


def _load(path: Path) -> ModuleType:
    name = f"incl_mod_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _write_module(tmp_path: Path, include: tuple[str, ...]) -> Path:
    src = tmp_path / "pkg"
    (src / "templates").mkdir(parents=True, exist_ok=True)
    (src / "templates" / "greeting.txt").write_text("hello {name}")
    (src / "config.yaml").write_text("lang: en\n")
    path = src / "workflow.py"
    path.write_text(textwrap.dedent(_INCLUDE_MODULE.format(include=include)))
    return path


def test_include_files_change_the_task_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_module(tmp_path, ("templates/", "*.yaml"))
    monkeypatch.chdir(tmp_path)  # relative includes start at the declaring file, not the cwd
    first = _load(path).render
    assert first.spec().include == ["templates/", "*.yaml"]
    same = _load(path).render
    assert same.source_version() == first.source_version()

    (path.parent / "templates" / "greeting.txt").write_text("hi {name}")
    edited_template = _load(path).render
    assert edited_template.source_version() != first.source_version()
    assert edited_template.identity != first.identity

    (path.parent / "config.yaml").write_text("lang: fr\n")
    edited_config = _load(path).render
    assert edited_config.source_version() != edited_template.source_version()


def test_include_is_part_of_the_auto_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "executions.txt"
    monkeypatch.setenv("INCLUDE_MARKER", str(marker))
    path = _write_module(tmp_path, ("config.yaml",))

    def executions() -> int:
        return len(marker.read_text().splitlines()) if marker.exists() else 0

    assert flyte.run(_load(path).render, name="a").outputs()[0] == "hello a"
    assert flyte.run(_load(path).render, name="a").outputs()[0] == "hello a"
    assert executions() == 1  # unchanged files: the cached result is reused
    (path.parent / "config.yaml").write_text("lang: de\n")
    assert flyte.run(_load(path).render, name="a").outputs()[0] == "hello a"
    assert executions() == 2  # edited include: a new version, a cache miss


def test_include_without_files_is_an_error_naming_the_field(tmp_path: Path) -> None:
    path = _write_module(tmp_path, ("missing/*.txt",))
    with pytest.raises(InvalidParameterError, match=r"include path 'missing/\*\.txt'") as exc:
        _load(path)
    assert exc.value.param == "include"
