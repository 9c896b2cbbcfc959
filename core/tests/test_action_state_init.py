"""ActionState and ActionContext have hand-written ``__init__``s (one of each is made per child action,
issue 20): they must take every dataclass field, in order, with the field's default, and give each
instance its own dicts."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from conftest import count_fast_path
from flyte._context import ActionContext
from flyte._runtime.controller import ActionState


def _declared(cls: type) -> list[tuple[str, Any]]:
    out = []
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            out.append((f.name, f.default_factory()))
        else:
            out.append((f.name, f.default))
    return out


@pytest.mark.parametrize("cls", [ActionState, ActionContext])
def test_init_takes_every_field_in_order(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in params] == [f.name for f in dataclasses.fields(cls)]


def test_action_state_defaults_match_the_fields() -> None:
    a = ActionState("a1", "t")
    for name, default in _declared(ActionState):
        if default is dataclasses.MISSING:
            continue
        assert getattr(a, name) == default, name


def test_action_state_dicts_are_its_own() -> None:
    a, b = ActionState("a1", "t"), ActionState("a2", "t")
    a.data["k"] = 1
    a.seqs[("i", "h")] = 1
    a.live_children["c"] = None  # type: ignore[assignment]
    assert b.data == {} and b.seqs == {} and b.live_children == {}
    given: dict[str, Any] = {"x": 1}
    assert ActionState("a3", "t", data=given).data is given


def test_action_context_custom() -> None:
    s = ActionState("a1", "t")
    c1, c2 = ActionContext(None, s), ActionContext(None, s)  # type: ignore[arg-type]
    c1.custom["k"] = "v"
    assert c2.custom == {} and c2.in_trace is False and c2.group is None
    custom = {"a": "b"}
    c3 = ActionContext(None, s, True, "g", custom)  # type: ignore[arg-type]
    assert (c3.in_trace, c3.group, c3.custom) == (True, "g", custom)


# ---- _submit_plain builds its child's ActionState, ActionContext and _Row without the class calls ----

SEEN: list[tuple[Any, Any, Any]] = []


def _slots(cls: type) -> list[str]:
    return [s for c in cls.__mro__ for s in c.__dict__.get("__slots__", ()) if not s.startswith("__")]


def test_the_fast_path_sets_every_slot_as_the_constructors_do(tmp_path: Any, monkeypatch: Any) -> None:
    import asyncio

    import flyte
    from flyte._context import current_action
    from flyte._runtime import controller
    from flyte.testing._support import isolate

    env = flyte.TaskEnvironment(name="slots_env")

    @env.task
    async def leaf(x: int) -> int:
        ac = current_action.get()
        assert ac is not None
        SEEN.append((ac, ac.action, ac.action.row))
        return x

    @env.task
    async def top(n: int) -> int:
        with flyte.group("g1"):
            return sum(await asyncio.gather(*(leaf(i) for i in range(n))))

    taken = count_fast_path(monkeypatch)
    isolate(monkeypatch, tmp_path)
    flyte.init()
    SEEN.clear()
    assert flyte.run(top, n=3).outputs()[0] == 3
    assert taken[0] == 3 and len(SEEN) == 3
    for ac, st, row in SEEN:
        assert type(ac) is ActionContext and type(st) is ActionState and type(row) is controller._Row
        want_ac = ActionContext(ac.controller, st, False, "g1", ac.custom)
        for name in _slots(ActionContext):
            assert getattr(ac, name) == getattr(want_ac, name), name
        want_st = ActionState(st.action_id, "slots_env.leaf", st.parent, 0, st.position)
        want_st.row = row
        for name in _slots(ActionState):
            if name in ("live_children", "seqs", "data", "next_position"):  # (its own, possibly used)
                assert isinstance(getattr(st, name), type(getattr(want_st, name))), name
                continue
            assert getattr(st, name) == getattr(want_st, name), name
        f = row.fixed
        want_row = controller._Row(f[0], f[1], f[2], f[3], leaf, f[6], "g1", row.inputs)
        assert f[4:] == ("task", "slots_env.leaf", leaf.identity, "python")
        for name in _slots(controller._Row):
            if name == "started":
                assert isinstance(row.started, float) and abs(row.started - want_row.started) < 60
                continue
            assert getattr(row, name) == getattr(want_row, name), name
    assert len({id(st.seqs) for _, st, _ in SEEN} | {id(st.data) for _, st, _ in SEEN}) == 6  # own dicts
