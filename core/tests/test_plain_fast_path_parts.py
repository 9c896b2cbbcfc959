"""``Controller.call`` judges a template once for ``_submit_plain`` (its ``_Plain`` parts, issue 20,
eighth round): the one-int input encoded inline, the body called with its input by position where
that binds it the same, an int output encoded at once. Every such shortcut must record what the
general path records (the same program, the same run name, two homes), and a template edited after
its first call must be judged again."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import count_fast_path, journal_rows
from flyte._runtime import controller
from flyte.testing._support import isolate

env = flyte.TaskEnvironment(name="plain_parts")

CALLS: dict[str, int] = {}


@env.task
async def kw_only(*, x: int) -> int:  # keyword-only: the body is never given it by position
    return x * 3


def _logged(fn: Callable[..., Coroutine[Any, Any, int]]) -> Callable[..., Coroutine[Any, Any, int]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> int:  # (*args, **kwargs): keywords as given
        assert not args, args
        return await fn(**kwargs) + 1000

    return wrapper


@env.task
@_logged
async def wrapped(x: int) -> int:
    return x


@env.task(max_inline_io_bytes=12)
async def tiny(x: int) -> int:  # b'J{"x":123}' fits, a ten-digit input or output does not
    return x * 10**12 if x == 7 else x


@env.task
async def to_float(x: int) -> float:  # an int returned where a float is declared
    return x


@env.task
async def plain(x: int) -> int:
    return -x


@env.task
async def program(n: int) -> str:
    got: list[Any] = list(await asyncio.gather(*(kw_only(i) for i in range(n))))  # by position
    got += await asyncio.gather(*(wrapped(i) for i in range(n)))
    got += await asyncio.gather(plain(2), plain(2), plain(-(10**30)), to_float(3))
    got.append(await tiny(123))
    for call in (lambda: plain(True), lambda: tiny(1234567890), lambda: tiny(7)):
        try:  # a bool for an int; an input over the limit; an output over it
            await call()
        except Exception as e:
            got.append(type(e).__name__)
    return repr(got)


COLS = (
    "run, action_id, parent_id, position, kind, task_name, task_identity, task_type, status, attempts, "
    "cache_hit, inputs, outputs, group_name, mode, meta"
)


def _run_in(home_dir: Path, monkeypatch: pytest.MonkeyPatch, fast: bool) -> tuple[str, list[Any], int]:
    monkeypatch.setattr(controller, "FAST_CALLS", fast)
    home_dir.mkdir()
    home = isolate(monkeypatch, home_dir)
    taken = count_fast_path(monkeypatch)
    flyte.init()
    out = flyte.with_runcontext(name="parts-run").run(program, n=4).outputs()[0]
    rows = [tuple(r) for r in journal_rows(home, f"SELECT {COLS} FROM actions ORDER BY action_id")]
    errors = journal_rows(home, "SELECT error FROM actions WHERE status = 'FAILED'")
    assert len(errors) == 1 and "max_inline_io_bytes" in errors[0]["error"], errors  # the output
    return out, rows, taken[0]


def test_inline_encoding_and_positional_calls_record_what_the_general_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_fast, rows_fast, taken = _run_in(tmp_path / "fast", monkeypatch, True)
    out_slow, rows_slow, not_taken = _run_in(tmp_path / "slow", monkeypatch, False)
    assert taken >= 4 + 4 + 4 + 1 and not_taken == 0
    expected = [0, 3, 6, 9, 1000, 1001, 1002, 1003, -2, -2, 10**30, 3.0, 123]  # to_float(3): a float
    errors = ["RuntimeDataValidationError", "InlineIOMaxBytesBreached", "InlineIOMaxBytesBreached"]
    assert out_fast == out_slow == repr([*expected, *errors])
    assert rows_fast == rows_slow
    assert len(rows_fast) == 1 + 4 + 4 + 4 + 2  # (the bool and the big input: refused before a row)
    inputs = sorted(bytes(r[11]) for r in rows_fast if r[5].endswith(".plain"))
    assert inputs == sorted([b'J{"x":2}', b'J{"x":2}', b'J{"x":-1' + b"0" * 30 + b"}"])


@env.task
async def sometimes(x: int) -> int:
    CALLS["sometimes"] = CALLS.get("sometimes", 0) + 1
    if CALLS["sometimes"] == 1:
        raise ValueError("first try fails")
    return x


@env.task
async def calls_sometimes(x: int) -> int:
    return await sometimes(x)


def test_a_template_edited_after_a_call_is_judged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    CALLS.clear()
    with pytest.raises(Exception, match="first try fails"):  # no retries: the fast path, one try
        flyte.run(calls_sometimes, x=1)
    assert sometimes.__dict__.get("_flyte_plain")  # judged plain, kept on the template
    monkeypatch.setattr(sometimes, "retries", flyte.RetryStrategy(count=1))  # now one retry
    assert "_flyte_plain" not in sometimes.__dict__
    CALLS.clear()
    assert flyte.run(calls_sometimes, x=5).outputs()[0] == 5  # the retry ran: the general path
    assert CALLS["sometimes"] == 2
    assert sometimes.__dict__.get("_flyte_plain") is False  # with retries: never the fast path


def test_a_template_that_cannot_be_judged_fails_where_the_call_is_awaited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judging a template computes its identity; an identity that cannot be made (an included file
    removed after the task was declared) must fail when the call is awaited, as on the general path,
    not when the coroutine is made."""
    isolate(monkeypatch, tmp_path)
    extra = tmp_path / "extra.py"
    extra.write_text("X = 1\n")
    inc_env = flyte.TaskEnvironment(name="plain_parts_inc", include=(str(extra),))

    @inc_env.task
    async def kid(x: int) -> int:
        return x

    @env.task
    async def parent(x: int) -> str:
        try:
            pending = kid(x)
        except Exception as e:
            return f"at the call: {type(e).__name__}"
        try:
            await pending
        except Exception as e:
            return f"at the await: {type(e).__name__}"
        return "ran"

    extra.unlink()
    flyte.init()
    assert flyte.run(parent, x=1).outputs()[0] == "at the await: InvalidParameterError"
    assert "_flyte_plain" not in kid.__dict__  # not kept: judged again at the next call


@env.task
async def two_parents_child(x: int) -> int:
    await asyncio.sleep(0)
    return x


@env.task
async def one_parent(base: int) -> int:
    total = 0
    for i in range(3):  # each call waits a loop turn: the other parent's calls come in between
        total += await two_parents_child(base + i % 2)
    return total


@env.task
async def two_parents(n: int) -> int:
    return sum(await asyncio.gather(one_parent(n), one_parent(n + 100), one_parent(n)))


def test_interleaved_parents_get_the_general_paths_action_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The action-ID digest's head is kept for the last parent seen (``_Plain.id_head``): parents
    calling the same task in turn must still get each its own IDs, as on the general path."""
    got = []
    for fast in (True, False):
        monkeypatch.setattr(controller, "FAST_CALLS", fast)
        (tmp_path / str(fast)).mkdir()
        home = isolate(monkeypatch, tmp_path / str(fast))
        flyte.init()
        assert flyte.with_runcontext(name="two-parents").run(two_parents, n=1).outputs()[0] == 4 + 304 + 4
        got.append([tuple(r) for r in journal_rows(home, f"SELECT {COLS} FROM actions ORDER BY action_id")])
    assert got[0] == got[1] and len(got[0]) == 1 + 3 + 9
    assert len({r[1] for r in got[0]}) == 13
