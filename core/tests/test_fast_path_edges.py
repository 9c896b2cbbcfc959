"""Edge cases of the child-call fast paths (issue 20, eighth round): ``Controller._submit_plain`` with
its ``_Plain`` parts (a one-int input encoded inline, the body called by position, an int output
encoded at once), the direct cache-hit row in ``submit`` and ``Journal.cache_lookup`` answering from
its memo inside a live snapshot. A shortcut must not change what a user sees or what the journal
records: each case is run with the fast paths and without them (``FAST_CALLS`` off, or the
row path a listener keeps) and the two must agree."""

from __future__ import annotations

import asyncio
import enum
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import count_fast_path, journal_rows
from flyte._runtime import controller
from flyte._runtime.journal import PUT_CACHE, READ_SNAPSHOT, CacheEntry, Journal
from flyte.testing._support import isolate

env = flyte.TaskEnvironment(name="fast_edges")
RAN: list[Any] = []


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class MyInt(int):
    pass


@env.task
async def inc(x: int) -> int:
    RAN.append(x)
    return x + 1


@env.task
async def flip(b: bool) -> bool:
    return not b


@env.task
async def with_default(x: int = 5) -> int:
    return x * 2


@env.task
async def two(x: int, y: int = 3) -> int:
    return x * y


@env.task
async def pos_only(x: int, /) -> int:  # (the body is called with keywords, as by the anchor: it fails)
    return x


@env.task
async def var_pos(*xs: int) -> int:  # no declared input
    return sum(xs)


@env.task
async def var_kw(x: int, **rest: int) -> int:  # one input; the body also takes keywords
    return x + len(rest)


@env.task
async def gives(x: int) -> int:
    """Returns what ``-> int`` does not promise for some inputs (the check must be the general one)."""
    values: dict[int, Any] = {0: True, 1: 1.5, 2: None, 3: "3", 4: Level.HIGH, 5: MyInt(7), 6: -(10**40)}
    return values[x]  # type: ignore[no-any-return]


@env.task
async def as_float(x: int) -> float:
    return x  # an int where a float is declared: given back as a float, as an int input would be


@env.task
async def boom(x: int) -> int:
    raise ValueError(f"bad {x}")


@env.task
async def nap(x: int) -> int:
    await asyncio.sleep(5)
    return x


@env.task
async def nested(x: int) -> int:
    got = await asyncio.gather(inc(x), inc(x), inc(-x))
    try:
        await asyncio.wait_for(nap(x), 0.02)  # a grandchild timed out inside a child
    except TimeoutError:
        pass
    return sum(got)


@env.task
async def naps(x: int) -> int:
    """Cancelled while its own children sleep: they must end ABORTED on both paths."""
    return sum(await asyncio.gather(nap(x), nap(x + 1), inc(x)))


@env.task
async def edges(n: int) -> str:
    got: list[Any] = []
    got += await asyncio.gather(*(inc(i) for i in range(-n, n)))
    got += await asyncio.gather(inc(3), inc(x=3), inc(0), inc(-0), inc(10**30), inc(-(10**30)))
    got += await asyncio.gather(flip(True), flip(False), with_default(4), with_default(), two(2))
    got += await asyncio.gather(as_float(3), nested(2), nested(2))
    for call in (
        lambda: inc(True),  # a bool for an int
        lambda: inc(Level.HIGH),  # an IntEnum for an int
        lambda: inc(MyInt(4)),  # an int subclass
        lambda: flip(1),  # an int for a bool
        *(lambda i=i: gives(i) for i in range(7)),
        lambda: boom(1),
        lambda: asyncio.wait_for(nap(1), 0.02),
        lambda: pos_only(3),
        lambda: var_pos(3),
        lambda: var_kw(3),
        lambda: inc(10**5000),  # over Python's int-to-text limit: refused before a row, on both paths
        lambda: asyncio.wait_for(naps(4), 0.05),
    ):
        try:
            got.append(repr(await call()))
        except BaseException as e:  # (TimeoutError included)
            got.append(type(e).__name__)
    return repr(got)


COLS = (
    "run, action_id, parent_id, position, kind, task_name, task_identity, task_type, status, attempts, "
    "cache_hit, inputs, outputs, group_name, mode, meta"
)


def _rows(home: Path) -> list[tuple[Any, ...]]:
    """The actions' rows, a stored value's reference without the home it is kept under."""
    where = str(home).encode()
    return [
        tuple(bytes(v).replace(where, b"<home>") if isinstance(v, bytes) else v for v in r)
        for r in journal_rows(home, f"SELECT {COLS} FROM actions ORDER BY action_id")
    ]


def _run_in(
    home_dir: Path, monkeypatch: pytest.MonkeyPatch, fast: bool, task: Any, **inputs: Any
) -> tuple[Any, list[tuple[Any, ...]], int]:
    monkeypatch.setattr(controller, "FAST_CALLS", fast)
    home_dir.mkdir()
    home = isolate(monkeypatch, home_dir)
    taken = count_fast_path(monkeypatch)
    flyte.init()
    out = flyte.with_runcontext(name="edges-run").run(task, **inputs).outputs()[0]
    return out, _rows(home), taken[0]


def test_edge_inputs_and_outputs_match_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_fast, rows_fast, taken = _run_in(tmp_path / "fast", monkeypatch, True, edges, n=3)
    out_slow, rows_slow, not_taken = _run_in(tmp_path / "slow", monkeypatch, False, edges, n=3)
    assert taken > 20 and not_taken == 0
    assert out_fast == out_slow
    got = eval(out_fast)  # a repr of ints, bools, floats and names
    assert got[:6] == [-2, -1, 0, 1, 2, 3]
    assert got[6:12] == [4, 4, 1, 1, 10**30 + 1, -(10**30) + 1]
    assert got[12:17] == [False, True, 8, 10, 6]
    assert got[17] == 3.0 and isinstance(got[17], float) and got[18] == got[19] == 3 + 3 + (-2 + 1)
    errors = got[20:]
    assert errors[:4] == [
        "RuntimeDataValidationError",
        "3",
        "5",
        "RuntimeDataValidationError",
    ]  # (int subclasses are ints, by the general path's validation; a bool is not an int, nor an int a bool)
    assert errors[4:8] == ["RuntimeDataValidationError"] * 4  # True, 1.5, None, "3" for -> int
    assert errors[8:11] == [repr(Level.HIGH), "7", repr(-(10**40))]  # int subclasses are ints
    assert errors[11:] == [
        "RuntimeUserError",
        "TimeoutError",
        "RuntimeUserError",
        "ValueError",
        "3",
        "ValueError",
        "TimeoutError",
    ]
    assert rows_fast == rows_slow
    aborted = [r for r in rows_fast if r[8] == "ABORTED"]
    assert sorted(r[5].rsplit(".", 1)[1] for r in aborted) == ["nap"] * 5 + ["naps"]
    seqs = [r for r in rows_fast if r[5].endswith(".inc") and bytes(r[11]) == b'J{"x":3}']
    assert len(seqs) == 2 and len({r[1] for r in seqs}) == 2  # inc(3), inc(x=3): one key, two seqs


@env.task
async def huge_out(x: int) -> int:
    return 10**262_200 + x  # over the journal's inline limit, under max_inline_io_bytes


@env.task
async def calls_huge_out(x: int) -> int:
    return (await huge_out(x)) % 1000


@pytest.fixture
def any_int_size() -> Iterator[None]:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)


@pytest.mark.usefixtures("any_int_size")
def test_an_int_output_over_the_journal_limit_is_stored_as_the_general_path_stores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_fast, rows_fast, taken = _run_in(tmp_path / "fast", monkeypatch, True, calls_huge_out, x=5)
    out_slow, rows_slow, _ = _run_in(tmp_path / "slow", monkeypatch, False, calls_huge_out, x=5)
    assert taken == 1 and out_fast == out_slow == 5
    [fast] = [r for r in rows_fast if r[5].endswith(".huge_out")]
    [slow] = [r for r in rows_slow if r[5].endswith(".huge_out")]
    assert bytes(slow[12])[:1] == b"R"  # the general path keeps a reference in the journal
    assert len(bytes(fast[12])) < 1024  # not the 262 kB value inline
    assert rows_fast == rows_slow


# ---- a template changed after its first call ----------------------------------------------------
@env.task
async def later(x: int) -> int:
    RAN.append(("later", x))
    if x < 0:
        await asyncio.sleep(5)
    return x * 10


@env.task
async def calls_later(x: int) -> int:
    return await later(x)


@env.task
async def calls_later_overridden(x: int) -> str:
    got = [await later.override(cache="auto")(x), await later.override(cache="auto")(x)]
    try:
        got.append(await later.override(timeout=0.05)(-x))
    except Exception as e:
        got.append(type(e).__name__)
    got.append(await later(x))  # the original: unchanged by its overrides
    return repr(got)


def _later_runs() -> list[Any]:
    return [r for r in RAN if isinstance(r, tuple) and r[0] == "later"]


def test_settings_changed_after_the_first_call_take_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    RAN.clear()
    assert flyte.run(calls_later, x=1).outputs()[0] == 10
    assert later.__dict__.get("_flyte_plain")  # judged for the fast path
    monkeypatch.setattr(later, "cache", flyte.Cache(behavior="auto"))  # cached from now on
    assert flyte.run(calls_later, x=2).outputs()[0] == 20
    assert flyte.run(calls_later, x=2).outputs()[0] == 20
    assert _later_runs() == [("later", 1), ("later", 2)]  # the second run hit the cache
    monkeypatch.setattr(later, "cache", flyte.Cache(behavior="disable"))
    monkeypatch.setattr(later, "timeout", flyte.Timeout(max_runtime=0.05))  # a deadline from now on
    with pytest.raises(Exception) as info:
        flyte.run(calls_later, x=-1)
    assert type(info.value).__name__ == "MaxRuntimeExceededError", info.value
    monkeypatch.setattr(later, "timeout", None)
    monkeypatch.setattr(later, "max_inline_io_bytes", 8)  # b'J{"x":3}' fits, its output b"J30" too
    assert flyte.run(calls_later, x=3).outputs()[0] == 30
    with pytest.raises(Exception, match="max_inline_io_bytes"):
        flyte.run(calls_later, x=12345)  # the input is over the new limit


def test_overrides_of_a_judged_template_keep_their_own_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    flyte.init()
    RAN.clear()
    assert flyte.run(calls_later, x=4).outputs()[0] == 40  # the original judged plain first
    out = flyte.run(calls_later_overridden, x=5).outputs()[0]
    assert eval(out)[:2] == [50, 50] and eval(out)[3] == 50
    assert eval(out)[2] == "MaxRuntimeExceededError", out
    assert _later_runs() == [("later", 4), ("later", 5), ("later", -5), ("later", 5)]  # one hit


# ---- a template reused by runs in other homes --------------------------------------------------------
@env.task(cache="auto")
async def cached_inc(x: int) -> int:
    RAN.append(("cached", x))
    return x + 1


@env.task
async def uses_both(x: int) -> int:
    got = await asyncio.gather(inc(x), inc(x + 1))
    return sum(got) + await cached_inc(x) + await cached_inc(x)  # one after the other: the second hits


def test_a_template_reused_in_other_homes_records_what_a_fresh_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    RAN.clear()
    out_a, rows_a, _ = _run_in(tmp_path / "a", monkeypatch, True, uses_both, x=1)  # judged here
    out_b, rows_b, taken = _run_in(tmp_path / "b", monkeypatch, True, uses_both, x=1)  # reused
    out_c, rows_c, _ = _run_in(tmp_path / "c", monkeypatch, False, uses_both, x=1)  # general path
    assert taken >= 2 and out_a == out_b == out_c == 2 + 3 + 2 + 2
    assert rows_a == rows_b == rows_c  # (each home computed its own cache entry: no hit across homes)
    assert [r for r in RAN if isinstance(r, tuple)].count(("cached", 1)) == 3
    isolate(monkeypatch, tmp_path / "a")  # back to the first home: its entry answers
    flyte.init()
    assert flyte.run(uses_both, x=1).outputs()[0] == out_a
    assert [r for r in RAN if isinstance(r, tuple)].count(("cached", 1)) == 3


# ---- cache hits: version, max_age, another connection's changes ----------------------------------------
@env.task(cache=flyte.Cache(behavior="auto", version_override="1"))
async def versioned(x: int) -> int:
    RAN.append(("versioned", x))
    return x * 7


@env.task
async def hits(x: int) -> int:
    got = [await versioned(x), await versioned(x), await versioned(-x), await versioned(x)]
    return sum(got)


def _versioned_runs() -> int:
    return sum(1 for r in RAN if isinstance(r, tuple) and r[0] == "versioned")


def test_direct_hits_follow_version_max_age_and_other_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = isolate(monkeypatch, tmp_path)
    flyte.init()
    RAN.clear()
    assert flyte.run(hits, x=3).outputs()[0] == 21 * 3 - 21
    assert _versioned_runs() == 2  # x and -x; the repeats hit
    assert flyte.run(hits, x=3).outputs()[0] == 42 and _versioned_runs() == 2  # every call a hit
    monkeypatch.setattr(versioned, "cache", flyte.Cache(behavior="auto", version_override="2"))
    assert flyte.run(hits, x=3).outputs()[0] == 42 and _versioned_runs() == 4  # a new version: computed
    monkeypatch.setattr(versioned, "cache", flyte.Cache(behavior="auto", version_override="1"))
    assert flyte.run(hits, x=3).outputs()[0] == 42 and _versioned_runs() == 4  # the old entries answer
    # another connection (as another process) rewrites one entry and ages the others
    other = sqlite3.connect(home / "journal.db")
    try:
        with other:
            other.execute("UPDATE cache SET outputs=? WHERE outputs=?", (b"J1000", b"J21"))
        time.sleep(READ_SNAPSHOT * 3)
        assert flyte.run(hits, x=3).outputs()[0] == 3 * 1000 - 21 and _versioned_runs() == 4
        with other:
            other.execute("UPDATE cache SET created_at=created_at-1000")
        monkeypatch.setattr(
            versioned, "cache", flyte.Cache(behavior="auto", version_override="1", max_age=60)
        )
        time.sleep(READ_SNAPSHOT * 3)
        assert flyte.run(hits, x=3).outputs()[0] == 42 and _versioned_runs() == 6  # too old: computed
        with other:
            other.execute("DELETE FROM cache")
        time.sleep(READ_SNAPSHOT * 3)
        assert flyte.run(hits, x=3).outputs()[0] == 42 and _versioned_runs() == 8
    finally:
        other.close()
    statuses = journal_rows(
        home,
        "SELECT cache_hit, COUNT(*) AS n FROM actions WHERE task_name LIKE ? GROUP BY 1",
        ("%.versioned",),
    )
    assert {r["cache_hit"]: r["n"] for r in statuses}[1] == 4 * 7 - 8


def test_hot_lookups_see_another_connections_change_after_the_window(tmp_path: Path) -> None:
    """Lookups one after another keep finding the key in memory inside a live snapshot; the snapshot
    must still end after READ_SNAPSHOT, so a change made elsewhere shows however busy the lookups are."""
    path = str(tmp_path / "j.db")
    mine, other = Journal(path), Journal(path)
    try:
        now = time.time()
        other.commit([(PUT_CACHE, CacheEntry("k", "t", b"J1", now, "r", "a"))])
        assert mine.cache_lookup("k") == b"J1"
        for change, want, age in (
            ((PUT_CACHE, CacheEntry("k", "t", b"J2", now, "r", "a")), b"J2", None),
            ((PUT_CACHE, CacheEntry("k", "t", b"J2", now - 100, "r", "a")), None, 50.0),
            (("DELETE FROM cache WHERE key=?", ("k",)), None, None),
        ):
            assert mine.cache_lookup("k") is not None  # in memory, the snapshot live
            other.commit([change])
            until = time.monotonic() + READ_SNAPSHOT * 4
            while True:  # (no pause: each lookup inside the last one's window; the last after it)
                late = time.monotonic() > until
                got = mine.cache_lookup("k", age)
                if late:
                    break
            assert got == want, change
            if want is None and age is None:
                break
            other.commit([(PUT_CACHE, CacheEntry("k", "t", b"J2", now, "r", "a"))])
            time.sleep(READ_SNAPSHOT * 2)
    finally:
        mine.close()
        other.close()


@env.task
async def where(x: int) -> int:
    import os

    return os.getpid()


@env.task
async def calls_where(x: int) -> int:
    import os

    return int(await where(x) != os.getpid())


def test_an_isolation_set_after_the_first_call_takes_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = isolate(monkeypatch, tmp_path)
    flyte.init()
    assert flyte.run(calls_where, x=1).outputs()[0] == 0  # inline: the fast path
    monkeypatch.setattr(where, "isolation", "process")
    assert flyte.run(calls_where, x=2).outputs()[0] == 1  # in a worker process now
    modes = journal_rows(
        home, "SELECT mode FROM actions WHERE task_name LIKE ? ORDER BY started_at", ("%.where",)
    )
    assert [r["mode"] for r in modes] == ["inline", "process"]


@pytest.mark.parametrize("setting", ["disable_run_cache", "overwrite_cache"])
def test_a_cached_task_in_a_run_without_cache_reads_matches_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """A run that disables the cache sends a cached task down the fast path (nothing to look up or
    write); one that overwrites it keeps the general path (an entry is written). Both as without it."""
    results = {}
    for fast in (True, False):
        monkeypatch.setattr(controller, "FAST_CALLS", fast)
        home_dir = tmp_path / str(fast)
        home_dir.mkdir()
        home = isolate(monkeypatch, home_dir)
        flyte.init()
        RAN.clear()
        flyte.with_runcontext(name="warm").run(uses_both, x=1)  # an entry for cached_inc(1)
        out = flyte.with_runcontext(name="again", **{setting: True}).run(uses_both, x=1).outputs()[0]
        entries = journal_rows(home, "SELECT key, outputs, run FROM cache ORDER BY key")
        results[fast] = (out, _rows(home), [tuple(r) for r in entries], list(RAN))
    assert results[True] == results[False]
    out, _, entries, ran = results[True]
    assert out == 9 and len(entries) == 1
    assert ran.count(("cached", 1)) == 1 + 2  # the second run read no entry: both its calls ran
    assert entries[0][2] == ("warm" if setting == "disable_run_cache" else "again")
