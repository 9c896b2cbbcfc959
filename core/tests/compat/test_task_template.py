"""Task types written as the anchor's plugin authors write them: keyword-only dataclass subclasses
of TaskTemplate with their own fields, or plain subclasses that override hooks; a type that no plugin
registers still runs its own ``execute`` in the run's process."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

import flyte
import pytest
from flyte.extend import NativeInterface, SerializationContext, TaskTemplate


def _value(run: Any) -> Any:
    out = run.outputs()[0]
    return out[0] if isinstance(out, tuple) else out


@dataclass(kw_only=True)
class Greeting(TaskTemplate):
    """A task type with its own dataclass fields, never registered through an entry point."""

    greeting: str = "hello"
    task_type: str = "greeting_unregistered"

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return {"greeting": self.greeting}

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return f"{self.greeting}, {kwargs['who']}"


class Shout(TaskTemplate):
    """A plain subclass that only overrides hooks (no decorator)."""

    async def execute(self, **inputs: Any) -> Any:
        return str(inputs["text"]).upper()

    def container_args(self, sctx: SerializationContext) -> list[str]:
        return ["shout", "--text", "{{.inputs.text}}"]

    def sql(self, sctx: SerializationContext) -> str | None:
        return None


greet = Greeting(
    name="compat_tt.greet",
    interface=NativeInterface.from_types({"who": (str, inspect.Parameter.empty)}, {"o0": str}),
    greeting="bonjour",
)
shout = Shout(name="compat_tt.shout", interface=NativeInterface.from_types({"text": str}, str))

env = flyte.TaskEnvironment(name="compat_tt")


@env.task
async def main(who: str) -> str:
    return await shout(text=await greet(who=who))


def test_kw_only_dataclass_subclass_has_its_fields() -> None:
    names = [f.name for f in dataclasses.fields(Greeting)]
    assert "greeting" in names and "name" in names
    assert greet.greeting == "bonjour"
    spec = greet.spec().model_dump()
    assert spec["custom_config"] == {"greeting": "bonjour"}
    assert shout.spec().model_dump()["container_args"] == ["shout", "--text", "{{.inputs.text}}"]


def test_unregistered_task_types_run_their_execute_in_process() -> None:
    run = flyte.run(main, who="monde")
    assert _value(run) == "BONJOUR, MONDE"


def test_override_copies_and_keeps_subclass_fields() -> None:
    louder = greet.override(retries=2)
    assert type(louder) is Greeting and louder.greeting == "bonjour"
    assert louder is not greet and greet.retries.count == 0


def test_setting_a_field_changes_the_identity() -> None:
    g = Greeting(name="compat_tt.g2", interface=greet.interface, greeting="hi")
    before = g.identity
    g.plugin_config = {"a": 1}
    assert g.identity != before


def test_unregistered_type_without_execute_names_what_to_install() -> None:
    class Nothing(TaskTemplate):
        pass

    nothing = Nothing(
        name="compat_tt.nothing", task_type="no_such_type", interface=NativeInterface.from_types({}, None)
    )
    nenv = flyte.TaskEnvironment(name="compat_tt_none")

    @nenv.task
    async def calls() -> None:
        await nothing()

    with pytest.raises(Exception, match="no_such_type"):
        _value(flyte.run(calls))


def test_has_default_marker_needs_a_value() -> None:
    with pytest.raises(ValueError, match="default_inputs"):
        NativeInterface.from_types({"x": (int, NativeInterface.has_default)}, {})
    iface = NativeInterface.from_types(
        {"x": (int, NativeInterface.has_default)}, {"o0": int}, default_inputs={"x": 3}
    )
    assert iface.bind("t", (), {}) == {"x": 3}
    assert iface.outputs == {"o0": int}
