"""The seeds' authoring API: environments, the task decorator, overrides, .aio(), plain calls."""

import asyncio
import dataclasses

import flyte
import flyte.errors
import pytest
from flyte._task import AsyncFunctionTaskTemplate


def test_environment_name_is_validated_with_the_accepted_form() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError) as e:
        flyte.TaskEnvironment(name="Data Processing")
    assert "name='Data Processing'" in str(e.value) and "lowercase" in str(e.value)


def test_task_fqn_and_clone_with_inherits_everything_else() -> None:
    base = flyte.TaskEnvironment(
        name="data-processing",
        image="ghcr.io/flyteorg/flyte-worker:v1.0.0",
        resources=flyte.Resources(cpu=2, memory="4Gi"),
        env_vars={"A": "1"},
    )

    @base.task
    async def process_data(data: list[int]) -> int:
        return sum(data)

    assert process_data.name == "data-processing.process_data"
    gpu = base.clone_with(name="data-processing-gpu", resources=flyte.Resources(gpu="T4:1"), cache="auto")
    assert gpu.image == base.image and gpu.env_vars == {"A": "1"}
    assert gpu.resources is not None and gpu.resources.gpu_count() == 1
    assert gpu.cache == "auto" and base.cache == "disable"
    with pytest.raises(flyte.errors.InvalidParameterError, match="imagee"):
        base.clone_with(name="x", imagee="nope")


def test_decorator_with_and_without_arguments_for_sync_and_async() -> None:
    env = flyte.TaskEnvironment(name="deco")

    @env.task
    def sync_task(x: int) -> int:
        return x + 1

    @env.task(cache="auto", retries=3, timeout=600, short_name="flaky", docs="d")
    async def async_task(x: int) -> int:
        return x + 1

    assert isinstance(sync_task, AsyncFunctionTaskTemplate) and sync_task.is_sync
    assert not async_task.is_sync
    assert async_task.retries.count == 3 and async_task.short_name == "flaky" and async_task.docs == "d"
    assert async_task.timeout is not None and async_task.timeout.max_runtime_seconds == 600
    assert async_task.cache.behavior == "auto"
    # Outside a run a task is a plain call: this is how users unit-test tasks.
    assert sync_task(1) == 2
    assert asyncio.run(async_task(1)) == 2
    assert asyncio.run(sync_task.aio(4)) == 5


def test_decorator_resources_override_the_environment() -> None:
    env = flyte.TaskEnvironment(name="res", resources=flyte.Resources(cpu=1, memory="1Gi"))

    @env.task(resources=flyte.Resources(cpu=4, memory="8Gi"))
    async def big() -> None: ...

    assert big.resources is not None and big.resources.cpu_limit() == 4


def test_override_returns_a_new_template_and_can_reset_values() -> None:
    env = flyte.TaskEnvironment(name="ovr")

    @env.task(retries=3, timeout=60)
    async def t(x: int) -> int:
        return x

    o = t.override(retries=0, timeout=None, resources=flyte.Resources(memory="16Gi"), cache="disable")
    assert o is not t and o.retries.count == 0 and o.timeout is None
    assert t.retries.count == 3 and t.timeout is not None and t.resources is None
    assert dataclasses.replace(t) is not t
    for field in ("name", "image", "interface"):
        with pytest.raises(flyte.errors.InvalidParameterError, match=f"invalid {field}="):
            t.override(**{field: "x"})


def test_reusable_environment_refuses_resource_overrides_unless_reuse_is_off() -> None:
    env = flyte.TaskEnvironment(name="reuse", reusable=flyte.ReusePolicy(replicas=2, concurrency=2))

    @env.task
    async def infer(x: int) -> int:
        return x

    with pytest.raises(flyte.errors.InvalidParameterError, match="reusable='off'"):
        infer.override(resources=flyte.Resources(memory="16Gi"))
    with pytest.raises(flyte.errors.InvalidParameterError, match="env_vars"):
        infer.override(env_vars={"A": "1"})
    o = infer.override(resources=flyte.Resources(memory="16Gi"), reusable="off")
    assert o.reusable is None and o.resources is not None


def test_concurrency_above_one_is_refused_for_sync_tasks_at_definition() -> None:
    env = flyte.TaskEnvironment(name="conc", reusable=flyte.ReusePolicy(replicas=2, concurrency=2))
    with pytest.raises(flyte.errors.InvalidParameterError) as e:

        @env.task
        def sync(x: int) -> int:
            return x

    assert "concurrency" in str(e.value) and "async def" in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"retries": 11}, "retries"),
        ({"timeout": -1}, "timeout"),
        ({"max_inline_io_bytes": 0}, "max_inline_io_bytes"),
        ({"cache": "sometimes"}, "cache"),
    ],
)
def test_bad_decorator_arguments_fail_at_definition(kwargs: dict[str, object], param: str) -> None:
    env = flyte.TaskEnvironment(name="bad")
    with pytest.raises(flyte.errors.InvalidParameterError) as e:

        @env.task(**kwargs)  # type: ignore[call-overload]
        async def t() -> None: ...

    assert param in str(e.value)


def test_bad_environment_values_name_the_field() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="resources"):
        flyte.TaskEnvironment(name="x", resources={"cpu": 1})  # type: ignore[arg-type]
    with pytest.raises(flyte.errors.InvalidParameterError, match="env_vars"):
        flyte.TaskEnvironment(name="x", env_vars={"A": 1})  # type: ignore[dict-item]


def test_import_flyte_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, flyte; print(','.join(m for m in ('pydantic', 'pluggy', 'asyncio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
