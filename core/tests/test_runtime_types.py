"""Values at task boundaries: rich types round-trip (also decoded from the journal on recovery), and
flyte.io.File / Dir pass data by reference, inside and outside a run."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

import flyte
import flyte.errors
import pydantic
import pytest
from conftest import journal_rows
from flyte.io import Dir, File

env = flyte.TaskEnvironment(name="rt_types")
calls: Counter[str] = Counter()


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: float
    tags: list[str]


class Order(pydantic.BaseModel):
    id: int
    items: list[str]
    note: Optional[str] = None  # noqa: UP045 - the spelling under test


class Pair(NamedTuple):
    a: int
    b: str


@dataclass
class Bundle:
    point: Point
    order: Order
    rows: list[dict[str, int]]
    maybe: int | None
    color: Color
    when: dt.datetime
    day: dt.date
    span: dt.timedelta
    pair: Pair
    mapping: dict[str, list[float]]
    blob: bytes


def make_bundle() -> Bundle:
    return Bundle(
        point=Point(1, 2.5, ["a", "b"]),
        order=Order(id=7, items=["x"], note=None),
        rows=[{"a": 1}, {"b": 2}],
        maybe=None,
        color=Color.BLUE,
        when=dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
        day=dt.date(2024, 1, 2),
        span=dt.timedelta(seconds=90),
        pair=Pair(3, "c"),
        mapping={"k": [1.0, 2.5]},
        blob=b"\x00\xffbytes",
    )


@env.task
async def echo_parts(
    point: Point,
    order: Order,
    rows: list[dict[str, int]],
    maybe: Optional[int],  # noqa: UP045
    color: Color,
    when: dt.datetime,
    pair: Pair,
    blob: bytes,
) -> Bundle:
    calls["echo"] += 1
    assert isinstance(point, Point) and isinstance(order, Order) and isinstance(color, Color)
    assert isinstance(pair, Pair)
    b = make_bundle()
    assert (point, order, rows, maybe, color, when, pair, blob) == (
        b.point,
        b.order,
        b.rows,
        b.maybe,
        b.color,
        b.when,
        b.pair,
        b.blob,
    )
    return b


@env.task
async def types_parent(workdir: str) -> Bundle:
    b = make_bundle()
    out = await echo_parts(b.point, b.order, b.rows, b.maybe, b.color, b.when, b.pair, b.blob)
    assert out == b, (out, b)
    assert isinstance(out.point, Point) and isinstance(out.order, Order) and isinstance(out.when, dt.datetime)
    assert isinstance(out.pair, Pair) and out.color is Color.BLUE and isinstance(out.blob, bytes)
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("fail so that recovery decodes the child's output from the journal")
    return out


def test_rich_types_round_trip_and_recover(tmp_path: Path) -> None:
    calls.clear()
    with pytest.raises(Exception) as failed:
        flyte.run(types_parent, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and "recovery decodes" in str(run.error)
    (tmp_path / "go").touch()
    again = flyte.rerun(run.name, recover=True)
    assert again.outputs()[0] == make_bundle()
    assert calls["echo"] == 1  # the child's output came back from the journal


def test_rich_inputs_of_the_root_survive_rerun(tmp_path: Path) -> None:
    b = make_bundle()
    run = flyte.run(echo_parts, b.point, b.order, b.rows, b.maybe, b.color, b.when, b.pair, b.blob)
    assert run.outputs()[0] == b
    # the run's inputs are decoded from the journal for a rerun
    assert flyte.rerun(run.name, recover=False).outputs()[0] == b


@env.task
async def optional_default(x: Optional[int] = None, names: list[str] | None = None) -> str:  # noqa: UP045
    return f"{x}-{names}"


def test_optional_and_defaults() -> None:
    assert flyte.run(optional_default).outputs()[0] == "None-None"
    assert flyte.run(optional_default, x=3, names=["a"]).outputs()[0] == "3-['a']"
    with pytest.raises(flyte.errors.RuntimeDataValidationError, match="names"):
        flyte.run(optional_default, names="abc")


@env.task
async def wants_point(p: Point) -> int:
    return p.x


def test_dataclass_input_validation_names_parameter() -> None:
    with pytest.raises(flyte.errors.RuntimeDataValidationError) as ei:
        flyte.run(wants_point, p={"x": 1, "y": 2.0, "tags": []})
    assert "'p'" in str(ei.value) and "rt_types.wants_point" in str(ei.value)


class Opaque:
    """No JSON schema: passed with cloudpickle (with a warning)."""

    def __init__(self, v: int) -> None:
        self.v = v


@env.task
async def opaque_child(o: Any) -> Any:
    return {"v": o.v}


@env.task
async def opaque_parent(v: int) -> int:
    out = await opaque_child(Opaque(v))
    return int(out["v"])


def test_values_without_schema_fall_back_to_pickle() -> None:
    assert flyte.run(opaque_parent, v=5).outputs()[0] == 5


# ---- File and Dir ----------------------------------------------------------------------------------
@env.task
async def make_big_file(n: int) -> File:
    path = Path(flyte.ctx().raw_data_path.replace("file://", "")) / "scratch.bin"  # type: ignore[union-attr]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a" * n)
    return await File.from_local(path)


@env.task
async def read_file(f: File) -> int:
    async with f.open("rb") as fh:
        return len(await fh.read())


@env.task
async def file_pipeline(n: int) -> int:
    return await read_file(await make_big_file(n))


def test_file_passes_large_data_by_reference(flyte_home: Path) -> None:
    n = 12 * 1024 * 1024  # above the 10 MiB inline limit
    run = flyte.run(file_pipeline, n=n)
    assert run.outputs()[0] == n
    sizes = journal_rows(
        flyte_home, "SELECT MAX(length(outputs)) AS m, MAX(length(inputs)) AS i FROM actions"
    )
    assert sizes[0]["m"] < 4096 and sizes[0]["i"] < 4096


@env.task(cache="auto")
async def count_bytes(f: File) -> int:
    calls["count_bytes"] += 1
    return len(Path(f.download_sync()).read_bytes())


def test_same_file_content_at_two_paths_hits_cache(tmp_path: Path) -> None:
    calls.clear()
    a, b = tmp_path / "a.txt", tmp_path / "sub" / "b.txt"
    b.parent.mkdir()
    a.write_text("same content")
    b.write_text("same content")
    assert flyte.run(count_bytes, File.from_local_sync(a)).outputs()[0] == 12
    assert flyte.run(count_bytes, File.from_local_sync(b)).outputs()[0] == 12
    assert calls["count_bytes"] == 1
    b.write_text("other content")
    assert flyte.run(count_bytes, File.from_local_sync(b)).outputs()[0] == 13
    assert calls["count_bytes"] == 2


@env.task(cache="auto")
async def count_dir(d: Dir) -> int:
    calls["count_dir"] += 1
    return len(await d.list_files())


def test_dir_cache_key(tmp_path: Path) -> None:
    calls.clear()
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "x").write_text("1")
    (two / "x").write_text("2")
    (two / "y").write_text("3")
    assert flyte.run(count_dir, Dir.from_local_sync(one, dir_cache_key="k")).outputs()[0] == 1
    # different content, same key: a hit (the key stands in for the content)
    assert flyte.run(count_dir, Dir.from_local_sync(two, dir_cache_key="k")).outputs()[0] == 1
    assert calls["count_dir"] == 1
    assert flyte.run(count_dir, Dir.from_local_sync(two, dir_cache_key="k2")).outputs()[0] == 2
    # without a key the content hash is used
    assert flyte.run(count_dir, Dir.from_local_sync(two)).outputs()[0] == 2
    assert calls["count_dir"] == 3


@env.task
async def write_dir(n: int) -> Dir:
    base = Path(flyte.ctx().raw_data_path.replace("file://", "")) / "outdir"  # type: ignore[union-attr]
    base.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (base / f"f{i}.txt").write_text(str(i))
    return await Dir.from_local(base)


def test_dir_from_a_run_is_usable_outside(tmp_path: Path) -> None:
    d = flyte.run(write_dir, n=3).outputs()[0]
    assert isinstance(d, Dir)
    names = sorted(f.name for f in d.list_files_sync())
    assert names == ["f0.txt", "f1.txt", "f2.txt"]
    local = d.download_sync(tmp_path / "copy")
    assert sorted(os.listdir(local)) == names
    assert asyncio.run(d.exists())


def test_file_and_dir_work_outside_any_run(tmp_path: Path) -> None:
    import flyte._config

    assert flyte._config._settings is None  # no init
    src = tmp_path / "data.txt"
    src.write_text("hello")
    f = File.from_local_sync(src)
    assert f.hash and f.exists_sync()
    with f.open_sync("rb") as fh:
        assert fh.read() == b"hello"
    dest = f.download_sync(tmp_path / "out" / "copy.txt")
    assert Path(dest).read_text() == "hello"

    async def use_async() -> bytes:
        g = await File.from_local(src)
        async with g.open("rb") as fh:
            return await fh.read()

    assert asyncio.run(use_async()) == b"hello"
    nf = File.new_remote("new.txt")
    with nf.open_sync("wb") as fh:
        fh.write(b"written")
    assert Path(nf.download_sync()).read_bytes() == b"written" and nf.hash

    d = Dir.from_local_sync(tmp_path)
    assert "data.txt" in {x.name for x in d.walk_sync()}
    with pytest.raises(FileNotFoundError):
        File.from_local_sync(tmp_path / "missing")


# ---- values replayed from the journal are the values first returned ---------------------------------
@flyte.trace
async def traced_shapes(x: int) -> Any:
    calls["shapes"] += 1
    return {"tuple": (x, "a"), "int_keys": {1: "one"}, "set": {x}, "point": Point(x, 1.0, [])}


@env.task
async def untyped_child(x):  # type: ignore[no-untyped-def]  # no hints: Any in, Any out
    return (x, {2: "two"})


@env.task
async def shapes_parent(workdir: str) -> list[str]:
    traced = await traced_shapes(1)
    untyped = await untyped_child(5)
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("fail so the values are replayed")
    return [repr(traced), repr(untyped)]


def test_replayed_values_keep_their_python_types(tmp_path: Path) -> None:
    calls.clear()
    with pytest.raises(Exception) as failed:
        flyte.run(shapes_parent, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    (tmp_path / "go").touch()
    out = flyte.rerun(run.name, recover=True).outputs()[0]
    assert calls["shapes"] == 1
    assert out == [
        repr({"tuple": (1, "a"), "int_keys": {1: "one"}, "set": {1}, "point": Point(1, 1.0, [])}),
        repr((5, {2: "two"})),
    ]


@env.task(cache="auto")
async def scaled(x: float) -> str:
    calls["scaled"] += 1
    return f"{type(x).__name__}:{x}"


def test_int_for_float_input_is_the_same_call() -> None:
    calls.clear()
    assert flyte.run(scaled, x=3).outputs()[0] == "float:3.0"
    assert flyte.run(scaled, x=3.0).outputs()[0] == "float:3.0"
    assert calls["scaled"] == 1


@dataclass
class Dataset:
    name: str
    data: File


@env.task(cache="auto")
async def dataset_size(ds: Dataset) -> int:
    calls["dataset"] += 1
    return len(Path(ds.data.download_sync()).read_bytes())


def test_file_inside_a_dataclass_is_keyed_by_content(tmp_path: Path) -> None:
    calls.clear()
    (tmp_path / "a").write_text("12345")
    (tmp_path / "b").write_text("12345")
    assert flyte.run(dataset_size, Dataset("d", File.from_local_sync(tmp_path / "a"))).outputs()[0] == 5
    assert flyte.run(dataset_size, Dataset("d", File.from_local_sync(tmp_path / "b"))).outputs()[0] == 5
    assert calls["dataset"] == 1
    assert flyte.run(dataset_size, Dataset("other", File.from_local_sync(tmp_path / "b"))).outputs()[0] == 5
    assert calls["dataset"] == 2
