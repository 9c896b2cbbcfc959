"""Cache entries a process found are answered again from memory (issue 20) only while the cache
table is unchanged: another process's change shows within READ_SNAPSHOT (as a lookup's read
transaction did before), this process's own change at once, whatever code made it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import flyte
from flyte._runtime import reader
from flyte._runtime.journal import PUT_CACHE, READ_SNAPSHOT, CacheEntry, Journal

env = flyte.TaskEnvironment(name="memo")
RUNS: list[int] = []


@env.task(cache="auto")
async def square(x: int) -> int:
    RUNS.append(x)
    return x * x


@env.task
async def squares(n: int) -> int:
    total = 0
    for i in range(n):
        total += await square(i)
    return total


def _entry(key: str, value: bytes, created: float | None = None) -> CacheEntry:
    return CacheEntry(key, "t", value, time.time() if created is None else created, "r", "a")


def test_another_connections_change_shows_after_the_window(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    mine, other = Journal(path), Journal(path)  # two connections, as two processes would have
    try:
        other.commit([(PUT_CACHE, _entry("k", b"J1"))])
        assert mine.cache_lookup("k") == b"J1"  # remembered
        other.commit([(PUT_CACHE, _entry("k", b"J2"))])  # replaced elsewhere
        time.sleep(READ_SNAPSHOT * 2)
        assert mine.cache_lookup("k") == b"J2"
        other.cache_clear()  # deleted elsewhere
        time.sleep(READ_SNAPSHOT * 2)
        assert mine.cache_lookup("k") is None
    finally:
        mine.close()
        other.close()


def test_own_changes_show_at_once_whatever_made_them(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    mine = Journal(path)
    try:
        mine.commit([(PUT_CACHE, _entry("a", b"J1")), (PUT_CACHE, _entry("b", b"J2"))])
        assert mine.cache_lookup("a") == b"J1"
        assert mine.cache_lookup("b") == b"J2"
        mine.execute("UPDATE cache SET outputs=? WHERE key=?", (b"J9", "a"))  # not through commit()
        assert mine.cache_lookup("a") == b"J9"
        mine.execute("DELETE FROM cache WHERE key=?", ("b",))
        assert mine.cache_lookup("b") is None
        mine.commit([(PUT_CACHE, _entry("old", b"J3", created=time.time() - 100))])
        assert mine.cache_lookup("old") == b"J3"
        assert mine.cache_lookup("old", max_age=10) is None  # an entry remembered still ages
    finally:
        mine.close()


def test_a_run_sees_the_cache_cleared_by_another_process(flyte_home: Path) -> None:
    flyte.init()
    RUNS.clear()
    assert flyte.run(squares, n=5).outputs()[0] == 30
    assert flyte.run(squares, n=5).outputs()[0] == 30
    assert RUNS == [0, 1, 2, 3, 4]  # the second run: all hits (remembered now)
    path = reader.journal().path
    code = f"from flyte._runtime.journal import Journal; Journal({path!r}).cache_clear()"
    subprocess.run([sys.executable, "-c", code], check=True)
    time.sleep(READ_SNAPSHOT * 2)
    assert flyte.run(squares, n=5).outputs()[0] == 30
    assert RUNS == [0, 1, 2, 3, 4] * 2
