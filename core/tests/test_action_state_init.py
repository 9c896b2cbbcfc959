"""ActionState and ActionContext have hand-written ``__init__``s (one of each is made per child action,
issue 20): they must take every dataclass field, in order, with the field's default, and give each
instance its own dicts."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
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
