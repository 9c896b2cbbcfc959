"""A cached child called on the run's loop looks its key up before anything else (issue 20, ninth
round: ``Controller._submit_hit``, the template's part of the key judged once per template). A hit
never reaches ``Controller.submit``; a miss, a changed template, an overwriting run or ignored inputs
behave as they do there: the same runs, the same hits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import journal_rows
from flyte._runtime import controller
from flyte.testing._support import isolate

env = flyte.TaskEnvironment(name="hit_first")
RAN: list[Any] = []


@env.task(cache="auto")
async def square(x: int) -> int:
    RAN.append(x)
    return x * x


@env.task(cache=flyte.Cache(behavior="auto", ignored_inputs=("note",)))
async def noted(note: str) -> str:  # one input, left out of its key: every call shares one entry
    RAN.append(note)
    return "done"


@env.task
async def program(n: int) -> int:
    return sum(await asyncio.gather(*(square(i) for i in range(n))))


@env.task
async def notes() -> list[str]:
    return [await noted("a"), await noted("b")]


def _counting_submit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    submit = controller.Controller.submit

    def counted(self: Any, *a: Any, **k: Any) -> Any:
        calls[0] += 1
        return submit(self, *a, **k)

    monkeypatch.setattr(controller.Controller, "submit", counted)
    return calls


def test_hits_skip_submit_and_misses_take_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = isolate(monkeypatch, tmp_path)
    calls = _counting_submit(monkeypatch)
    flyte.init()
    RAN.clear()
    assert flyte.with_runcontext(name="cold").run(program, n=6).outputs()[0] == 55
    assert sorted(RAN) == list(range(6)) and calls[0] == 6 + 1  # each miss once more, plus the root
    calls[0] = 0
    assert flyte.with_runcontext(name="warm").run(program, n=6).outputs()[0] == 55
    assert len(RAN) == 6 and calls[0] == 1  # the root only: every child a hit
    rows = journal_rows(
        home, "SELECT cache_hit, status FROM actions WHERE run = 'warm' AND parent_id IS NOT NULL"
    )
    assert [tuple(r) for r in rows] == [(1, "SUCCEEDED")] * 6
    # An overwriting run reads nothing: every body runs again
    RAN.clear()
    assert flyte.with_runcontext(name="over", overwrite_cache=True).run(program, n=3).outputs()[0] == 5
    assert sorted(RAN) == [0, 1, 2]


def test_an_edited_template_is_judged_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    original = square.cache
    try:
        RAN.clear()
        flyte.run(program, n=3)
        flyte.run(program, n=3)
        assert sorted(RAN) == [0, 1, 2]  # the second run all hits
        square.cache = flyte.Cache(behavior="auto", salt="fresh")  # a new key namespace: misses
        RAN.clear()
        flyte.run(program, n=3)
        flyte.run(program, n=3)
        assert sorted(RAN) == [0, 1, 2]
        square.cache = flyte.Cache(behavior="disable")  # never read: every call runs
        RAN.clear()
        flyte.run(program, n=3)
        assert sorted(RAN) == [0, 1, 2]
    finally:
        square.cache = original


def test_ignored_inputs_still_share_an_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    RAN.clear()
    assert flyte.run(notes).outputs()[0] == ["done", "done"]
    assert RAN == ["a"]  # "b" hit the entry "a" wrote


@env.task(cache="auto")
async def shaped(x: int) -> float:  # an int output check does not cover a float's text
    RAN.append(x)
    return x / 2


@env.task(cache="auto")
async def negated(x: int) -> int:
    RAN.append(-x)
    return -x * 10**20 if x == 3 else -x  # a negative, a zero and an int past 18 digits


@env.task
async def shapes() -> list[Any]:
    return [await shaped(i) for i in range(4)] + [await negated(i) for i in range(4)]


def test_a_hit_decodes_what_the_run_returned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    RAN.clear()
    cold = flyte.run(shapes).outputs()[0]
    warm = flyte.run(shapes).outputs()[0]
    assert len(RAN) == 8  # the second run all hits
    assert cold == warm == [0.0, 0.5, 1.0, 1.5, 0, -1, -2, -3 * 10**20]
    assert [type(v) for v in warm] == [type(v) for v in cold]
