"""The task cache: shared across runs and processes, keyed by the task's source (or a pinned version),
its inputs (minus ignored ones); overwrite_cache, disable_run_cache and `flyte cache clear`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import flyte
import pytest
from click.testing import CliRunner
from conftest import journal_rows
from flyte._cache import VersionParameters
from flyte.cli.main import cli

env = flyte.TaskEnvironment(name="rt_cache", cache="auto")
calls: Counter[str] = Counter()

MODULE = """
import os
import flyte

env = flyte.TaskEnvironment(name="cache_mod")


def mark(what: str) -> None:
    with open(os.environ["CACHE_MARKER"], "a") as f:
        f.write(what + "\\n")


@env.task(cache={cache})
async def work(x: int) -> int:
    mark("work")
    return x * {mult}


@env.task(cache="auto")
async def other(x: int) -> int:
    mark("other")
    return x + 1


@env.task
async def main(x: int) -> int:
    return await work(x) + await other(x)
"""


class Mod:
    """A workflow module on disk that a test rewrites between runs in fresh processes."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "mods"
        self.dir.mkdir()
        self.marker = tmp_path / "marker.txt"
        self.n = 0

    def write(self, cache: str = '"auto"', mult: int = 2) -> None:
        (self.dir / "cache_mod.py").write_text(textwrap.dedent(MODULE.format(cache=cache, mult=mult)))

    def run(self, x: int = 3) -> int:
        self.n += 1
        code = (
            "import flyte, cache_mod;"
            f" r = flyte.with_runcontext(name='c{self.n}').run(cache_mod.main, x={x}); print(r.outputs()[0])"
        )
        env_ = dict(
            os.environ, PYTHONPATH=str(self.dir), CACHE_MARKER=str(self.marker), PYTHONDONTWRITEBYTECODE="1"
        )
        p = subprocess.run([sys.executable, "-c", code], env=env_, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return int(p.stdout.strip())

    def counts(self) -> Counter[str]:
        return Counter(self.marker.read_text().split()) if self.marker.exists() else Counter()


def test_auto_cache_hits_across_processes_and_source_edit_invalidates(
    tmp_path: Path, flyte_home: Path
) -> None:
    m = Mod(tmp_path)
    m.write(mult=2)
    assert m.run() == 6 + 4
    assert m.run() == 6 + 4
    assert m.counts() == {"work": 1, "other": 1}
    hits = journal_rows(
        flyte_home, "SELECT task_name, cache_hit, attempts FROM actions WHERE run='c2' AND cache_hit=1"
    )
    assert sorted(r["task_name"] for r in hits) == ["cache_mod.other", "cache_mod.work"]
    m.write(mult=3)  # edit only `work`
    assert m.run() == 9 + 4
    assert m.counts() == {"work": 2, "other": 1}  # `other` still hits


def test_pinned_version_survives_edits(tmp_path: Path) -> None:
    # behavior="auto" with a version_override pins the version and still reads the cache (as on the
    # anchor); behavior="override" never reads it (see tests/compat/test_corpus_fixes.py).
    m = Mod(tmp_path)
    m.write(cache='flyte.Cache(behavior="auto", version_override="v1")', mult=2)
    assert m.run() == 6 + 4
    m.write(cache='flyte.Cache(behavior="auto", version_override="v1")', mult=5)
    assert m.run() == 6 + 4  # the pinned version says "same code": the old result is reused
    assert m.counts()["work"] == 1
    m.write(cache='flyte.Cache(behavior="auto", version_override="v2")', mult=5)
    assert m.run() == 15 + 4
    assert m.counts()["work"] == 2


@env.task(cache=flyte.Cache(behavior="auto", ignored_inputs=("stamp",)))
async def ignores_stamp(x: int, stamp: str) -> int:
    calls["ignores"] += 1
    return x * 10


def test_ignored_inputs_are_not_part_of_the_key() -> None:
    calls.clear()
    assert flyte.run(ignores_stamp, x=1, stamp="monday").outputs()[0] == 10
    assert flyte.run(ignores_stamp, x=1, stamp="tuesday").outputs()[0] == 10
    assert calls["ignores"] == 1
    assert flyte.run(ignores_stamp, x=2, stamp="tuesday").outputs()[0] == 20
    assert calls["ignores"] == 2


@env.task
async def cached_inc(x: int) -> int:
    calls["inc"] += 1
    return x + calls["inc"] * 1000  # a different value each time it really runs


@env.task(cache="disable")
async def inc_twice(x: int) -> list[int]:
    return [await cached_inc(x), await cached_inc(x)]


def test_cache_hit_within_a_run_and_across_runs(flyte_home: Path) -> None:
    calls.clear()
    first = flyte.run(inc_twice, x=1).outputs()[0]
    assert first == [1001, 1001] and calls["inc"] == 1
    assert flyte.run(cached_inc, x=1).outputs()[0] == 1001


def test_overwrite_cache_recomputes_and_replaces_the_entry() -> None:
    calls.clear()
    assert flyte.run(cached_inc, x=5).outputs()[0] == 1005
    assert flyte.with_runcontext(overwrite_cache=True).run(cached_inc, x=5).outputs()[0] == 2005
    assert calls["inc"] == 2
    assert flyte.run(cached_inc, x=5).outputs()[0] == 2005  # the new entry
    assert calls["inc"] == 2


def test_disable_run_cache_neither_reads_nor_writes() -> None:
    calls.clear()
    assert flyte.with_runcontext(disable_run_cache=True).run(cached_inc, x=7).outputs()[0] == 1007
    assert flyte.run(cached_inc, x=7).outputs()[0] == 2007
    assert flyte.with_runcontext(disable_run_cache=True).run(cached_inc, x=7).outputs()[0] == 3007
    assert flyte.run(cached_inc, x=7).outputs()[0] == 2007


def test_cache_clear_cli(flyte_home: Path) -> None:
    calls.clear()
    flyte.run(cached_inc, x=1)
    flyte.run(ignores_stamp, x=1, stamp="s")
    assert len(journal_rows(flyte_home, "SELECT key FROM cache")) == 2
    res = CliRunner().invoke(cli, ["cache", "clear", "--task", "rt_cache.ignores_stamp"])
    assert res.exit_code == 0, res.output
    assert "cleared 1 cache entry" in res.output
    assert [r["task_name"] for r in journal_rows(flyte_home, "SELECT task_name FROM cache")] == [
        "rt_cache.cached_inc"
    ]
    res = CliRunner().invoke(cli, ["cache", "clear"])
    assert res.exit_code == 0 and "cleared 1 cache entry" in res.output
    assert journal_rows(flyte_home, "SELECT key FROM cache") == []
    assert flyte.run(cached_inc, x=1).outputs()[0] == 2001  # recomputed


@env.task
async def cached_fails(x: int) -> int:
    calls["fails"] += 1
    raise ValueError("no")


def test_failures_are_not_cached() -> None:
    calls.clear()
    for _ in range(2):  # a failure is not cached: the second run fails again
        with pytest.raises(Exception) as failed:
            flyte.run(cached_fails, x=1)
        assert failed.value.flyte_run.status == "FAILED"  # type: ignore[attr-defined]
    assert calls["fails"] == 2


# 1.5 s: the second run must hit within max_age of the first, which a loaded machine can take 0.3 s for
@env.task(cache=flyte.Cache(behavior="auto", max_age=timedelta(seconds=1.5)))
async def short_lived(x: int) -> int:
    calls["short"] += 1
    return x


def test_max_age_expires_entries() -> None:
    calls.clear()
    flyte.run(short_lived, x=1)
    flyte.run(short_lived, x=1)
    assert calls["short"] == 1
    time.sleep(1.6)  # past max_age: the entry is stale however fast or slow the runs were
    flyte.run(short_lived, x=1)
    assert calls["short"] == 2


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def serialized(x: int) -> int:
    calls["serialized"] += 1
    await asyncio.sleep(0.05)
    return x * 2


@env.task(cache="auto")
async def not_serialized(x: int) -> int:
    calls["not_serialized"] += 1
    await asyncio.sleep(0.05)
    return x * 2


@env.task(cache="disable")
async def same_call_five_times(x: int) -> list[int]:
    a = await asyncio.gather(*(serialized(x) for _ in range(5)))
    b = await asyncio.gather(*(not_serialized(x) for _ in range(5)))
    return [*a, *b]


def test_serialize_runs_identical_concurrent_calls_once(flyte_home: Path) -> None:
    calls.clear()
    run = flyte.run(same_call_five_times, x=4)
    assert run.outputs()[0] == [8] * 10
    assert calls["serialized"] == 1
    assert calls["not_serialized"] == 5
    hits = journal_rows(
        flyte_home,
        "SELECT SUM(cache_hit) AS n FROM actions WHERE run=? AND task_name='rt_cache.serialized'",
        (run.name,),
    )
    assert hits[0]["n"] == 4


class Pinned:
    """A custom CachePolicy: the version comes from outside the code (e.g. a git hash)."""

    def __init__(self, version: str) -> None:
        self.version = version

    def get_version(self, salt: str, params: VersionParameters) -> str:
        return self.version


@env.task(cache=flyte.Cache(behavior="auto", policies=[Pinned("g1")]))
async def by_policy(x: int) -> int:
    calls["policy"] += 1
    return x


def test_custom_cache_policy_decides_the_version() -> None:
    calls.clear()
    flyte.run(by_policy, x=1)
    flyte.run(by_policy.override(cache=flyte.Cache(behavior="auto", policies=[Pinned("g1")])), x=1)
    assert calls["policy"] == 1
    flyte.run(by_policy.override(cache=flyte.Cache(behavior="auto", policies=[Pinned("g2")])), x=1)
    assert calls["policy"] == 2
