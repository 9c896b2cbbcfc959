"""flyte.io.File / Dir used as the anchor SDK's users write them, in real runs (own FLYTE_HOME each).

Producers make values with each constructor form; consumers read them with each handle form
(``async with f.open`` + awaited reads, ``open_sync``, download, walk, list_files, get_file).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import subprocess
from pathlib import Path

import flyte
import flyte.errors
import flyte.io
import pytest
from flyte.io import PARQUET, Dir, EmptyDir, File, HashFunction

env = flyte.TaskEnvironment(name="compat_io")

TEXT = b"alpha\nbeta\ngamma\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _scratch(name: str) -> Path:
    root = Path(flyte.ctx().raw_data_path.replace("file://", "")) / "scratch"  # type: ignore[union-attr]
    root.mkdir(parents=True, exist_ok=True)
    return root / name


# ---- File: three ways to make one, five ways to read it --------------------------------------------
@env.task
async def make_from_local() -> File:
    p = _scratch("local.txt")
    p.write_bytes(TEXT)
    return await File.from_local(p)


@env.task
async def make_new_remote_async() -> File:
    f: File = File.new_remote("async.txt")
    async with f.open("wb") as fh:
        assert await fh.write(TEXT[:6]) == 6
        await fh.write(TEXT[6:])
    return f


@env.task
def make_new_remote_sync() -> File:
    f: File = File.new_remote()
    with f.open_sync("wb") as fh:
        fh.write(TEXT)
    return f


@env.task
async def read_every_way(f: File) -> dict[str, str]:
    out: dict[str, str] = {"name": f.name or "", "hash": f.hash or ""}
    async with f.open("rb") as fh:
        out["read"] = (await fh.read()).decode()
    async with f.open("rb") as fh:
        first = await fh.readline()
        rest = [line async for line in fh]
        out["lines"] = json.dumps([first.decode(), *(x.decode() for x in rest)])
    async with f.open("r") as fh:
        out["readlines"] = json.dumps(await fh.readlines())
    with f.open_sync("rb") as sfh:
        out["sync_iter"] = json.dumps([x.decode() for x in sfh])
    out["download"] = Path(await f.download()).read_text()
    out["exists"] = str(await f.exists() and f.exists_sync())
    return out


@env.task
def read_sync_task(f: File) -> str:
    with f.open_sync("rb") as fh:
        data = fh.read()
    return data.decode() + Path(f.download_sync()).read_text()


@pytest.mark.parametrize("maker", [make_from_local, make_new_remote_async, make_new_remote_sync])
def test_file_made_each_way_is_read_each_way(maker: object) -> None:
    f = flyte.run(maker).outputs()[0]  # type: ignore[arg-type]
    assert isinstance(f, File) and f.hash == _sha(TEXT)
    assert f.name == os.path.basename(f.path.rstrip("/"))
    assert Path(f.path).read_bytes() == TEXT  # a local store gives plain paths, as the anchor's does
    got = flyte.run(read_every_way, f=f).outputs()[0]
    lines = ["alpha\n", "beta\n", "gamma\n"]
    assert got["read"] == TEXT.decode() and got["download"] == TEXT.decode()
    assert json.loads(got["lines"]) == lines
    assert json.loads(got["readlines"]) == lines and json.loads(got["sync_iter"]) == lines
    assert got["hash"] == _sha(TEXT) and got["name"] == f.name and got["exists"] == "True"
    assert flyte.run(read_sync_task, f=f).outputs()[0] == TEXT.decode() * 2


@env.task
async def chain() -> str:
    made = await make_new_remote_async()
    return await read_sync_task.aio(made)


def test_file_travels_between_tasks_of_one_run() -> None:
    assert flyte.run(chain).outputs()[0] == TEXT.decode() * 2


attempts: list[str] = []


@env.task(retries=1)
def write_named(text: str) -> File:
    f: File = File.named_remote("result.txt")
    attempts.append(f.path)
    assert File.named_remote("result.txt").path == f.path
    with f.open_sync("wb") as fh:
        fh.write(text.encode())
    if len(attempts) == 1:
        raise RuntimeError("first attempt fails after writing")
    return f


def test_named_remote_is_stable_across_retries() -> None:
    attempts.clear()
    f = flyte.run(write_named, text="hi").outputs()[0]
    assert len(attempts) == 2 and attempts[0] == attempts[1] == f.path
    assert f.name == "result.txt" and Path(f.download_sync()).read_text() == "hi"
    other = flyte.run(write_named, text="ho").outputs()[0]
    assert other.path != f.path
    with pytest.raises(ValueError, match="running task"):
        File.named_remote("x.txt")


def test_file_constructor_and_existing_remote_default_the_name(tmp_path: Path) -> None:
    src = tmp_path / "data.csv"
    src.write_bytes(b"a,b\n1,2\n")
    f = File(path=str(src))
    assert f.name == "data.csv" and f.hash is None and f.format == ""
    g = File.from_existing_remote(src.as_uri(), file_cache_key="k1")
    assert g.name == "data.csv" and g.hash == "k1" and g.exists_sync()
    assert Path(g.download_sync()).read_bytes() == b"a,b\n1,2\n"
    # a directory as the destination receives the file under its own name
    (tmp_path / "into").mkdir()
    assert g.download_sync(tmp_path / "into") == str(tmp_path / "into" / "data.csv")
    assert (tmp_path / "into" / "data.csv").read_bytes() == b"a,b\n1,2\n"


def test_hash_methods(tmp_path: Path) -> None:
    src = tmp_path / "x.bin"
    src.write_bytes(b"payload")
    f = File.from_local_sync(src, hash_method=HashFunction.from_fn(lambda b: hashlib.md5(b).hexdigest()))
    assert f.hash == hashlib.md5(b"payload").hexdigest()
    assert File.from_local_sync(src, hash_method="my-key").hash == "my-key"
    assert File.from_local_sync(src).hash == _sha(b"payload")
    w: File = File.new_remote("w.bin", hash_method=flyte.io.HashlibAccumulator.from_hash_name("sha1"))
    with w.open_sync("wb") as fh:
        fh.write(b"written")
    assert w.hash == hashlib.sha1(b"written").hexdigest()
    keyed: File = File.new_remote("k.bin", hash_method="fixed-key")
    with keyed.open_sync("wb") as fh:
        fh.write(b"one")
    assert keyed.hash == "fixed-key"  # a key the user chose is kept
    local = File.from_local_sync(src)
    with local.open_sync("wb") as fh:
        fh.write(b"rewritten")
    assert local.hash == _sha(b"rewritten")  # a content hash follows the content
    with pytest.raises(flyte.errors.InvalidParameterError, match="hash_method"):
        File.from_local_sync(src, hash_method=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not exist"):  # the anchor raises ValueError here
        File.from_local_sync(tmp_path / "missing")


# ---- Dir ---------------------------------------------------------------------------------------------
def _tree(root: Path) -> Path:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text("A")
    (root / "b.csv").write_text("B")
    (root / "sub" / "c.txt").write_text("C")
    (root / "sub" / "deep" / "d.txt").write_text("D")
    return root


@env.task
async def make_dir() -> Dir:
    return await Dir.from_local(_tree(_scratch("tree")))


@env.task
def make_dir_sync() -> Dir:
    return Dir.from_local_sync(_tree(_scratch("tree_sync")))


@env.task
async def inspect_dir(d: Dir) -> dict[str, list[str]]:
    async def names(it: object) -> list[str]:
        return sorted([f.name async for f in it])  # type: ignore[attr-defined]

    got = await d.get_file("sub/c.txt")
    missing = await d.get_file("nope.txt")
    local = await d.download()
    return {
        "walk": await names(d.walk()),
        "top": await names(d.walk(recursive=False)),
        "depth2": await names(d.walk(max_depth=2)),
        "walk_sync_txt": sorted(f.name or "" for f in d.walk_sync(file_pattern="*.txt")),
        "list": sorted(f.name or "" for f in await d.list_files()),
        "list_sync": sorted(f.name or "" for f in d.list_files_sync()),
        "get_file": [Path(await got.download()).read_text() if got else "", str(missing)],
        "get_file_sync": [str(d.get_file_sync("a.txt") is not None)],
        "download": sorted(str(p.relative_to(local)) for p in Path(local).rglob("*.txt")),
        "meta": [d.name or "", str(await d.exists() and d.exists_sync()), str(bool(d.hash))],
    }


@pytest.mark.parametrize("maker", [make_dir, make_dir_sync])
def test_dir_made_each_way_is_read_each_way(maker: object, tmp_path: Path) -> None:
    d = flyte.run(maker).outputs()[0]  # type: ignore[arg-type]
    assert isinstance(d, Dir) and not d.is_empty
    got = flyte.run(inspect_dir, d=d).outputs()[0]
    assert got["walk"] == ["a.txt", "b.csv", "c.txt", "d.txt"]
    # As on the anchor, a non-recursive walk goes one folder level down (fsspec maxdepth=2).
    assert got["top"] == ["a.txt", "b.csv", "c.txt"] == got["list"] == got["list_sync"]
    assert got["depth2"] == ["a.txt", "b.csv", "c.txt"]
    assert got["walk_sync_txt"] == ["a.txt", "c.txt", "d.txt"]
    assert got["get_file"] == ["C", "None"] and got["get_file_sync"] == ["True"]
    assert got["download"] == ["a.txt", "sub/c.txt", "sub/deep/d.txt"]
    assert got["meta"] == [d.name, "True", "True"]
    copy = d.download_sync(tmp_path / "copy")
    assert (Path(copy) / "sub" / "deep" / "d.txt").read_text() == "D"
    with pytest.raises(flyte.errors.InvalidParameterError, match="file_name"):
        d.get_file_sync("../escape")


@env.task
def maybe_dir(produce: bool) -> Dir:
    return Dir.from_local_sync(_tree(_scratch("maybe"))) if produce else EmptyDir()


@env.task
def describe(d: Dir) -> str:
    return "empty" if d.is_empty else f"{len(d.list_files_sync())} files"


def test_empty_dir_round_trips_as_a_sentinel() -> None:
    assert flyte.run(describe, d=flyte.run(maybe_dir, produce=False).outputs()[0]).outputs()[0] == "empty"
    assert flyte.run(describe, d=flyte.run(maybe_dir, produce=True).outputs()[0]).outputs()[0] == "3 files"
    assert Dir.empty().is_empty and not EmptyDir().exists_sync()
    with pytest.raises(FileNotFoundError):
        EmptyDir().list_files_sync()


# ---- issue 18 (9): a File/Dir input naming nothing fails, naming the input and the path -----------
ran: list[str] = []


@env.task
def count_files(d: Dir) -> int:
    ran.append("count_files")
    return len(d.list_files_sync())


@env.task
def first_bytes(files: list[File]) -> int:
    ran.append("first_bytes")
    return len(files)


@env.task
async def parent_passes_missing(path: str) -> str:
    try:
        await count_files.aio(Dir(path=path))
    except flyte.errors.RuntimeDataValidationError as e:
        return str(e)
    return "ran"


def test_missing_dir_or_file_input_fails_before_running(tmp_path: Path) -> None:
    ran.clear()
    gone = tmp_path / "never-made"
    with pytest.raises(flyte.errors.RuntimeDataValidationError) as e:
        flyte.run(count_files, d=Dir(path=str(gone))).outputs()[0]
    assert "'d'" in str(e.value) and str(gone) in str(e.value) and "does not exist" in str(e.value)
    real = tmp_path / "real.txt"
    real.write_text("x")
    with pytest.raises(flyte.errors.RuntimeDataValidationError) as e2:
        flyte.run(
            first_bytes, files=[File(path=str(real)), File(path=str(tmp_path / "ghost.txt"))]
        ).outputs()[0]
    assert "'files'" in str(e2.value) and "ghost.txt" in str(e2.value)
    msg = flyte.run(parent_passes_missing, path=str(gone)).outputs()[0]
    assert "'d'" in msg and str(gone) in msg
    assert ran == []
    # an existing but empty directory is a valid input
    (tmp_path / "empty").mkdir()
    assert flyte.run(count_files, d=Dir(path=str(tmp_path / "empty"))).outputs()[0] == 0
    # reading a directory that disappeared raises instead of listing nothing
    with pytest.raises(FileNotFoundError, match="never-made"):
        Dir(path=str(gone)).list_files_sync()


# ---- issue 18 (10): links leaving the directory are refused, nothing outside is uploaded ------------
def test_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    d = tmp_path / "data"
    d.mkdir()
    (d / "ok.txt").write_text("ok")
    (d / "leak.txt").symlink_to(secret)
    with pytest.raises(ValueError, match=r"leak\.txt.*outside the directory"):
        Dir.from_local_sync(d)
    (d / "leak.txt").unlink()
    (d / "sub").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ValueError, match=r"'sub'.*outside"):
        asyncio.run(Dir.from_local(d))
    (d / "sub").unlink()
    (d / "dangling").symlink_to(tmp_path / "nothing-here")
    with pytest.raises(ValueError, match="dangling"):
        Dir.from_local_sync(d)
    (d / "dangling").unlink()
    (d / "alias.txt").symlink_to(d / "ok.txt")  # a link inside the directory is fine
    assert sorted(f.name or "" for f in Dir.from_local_sync(d).walk_sync()) == ["alias.txt", "ok.txt"]


@env.task
def upload_with_link(src: str) -> Dir:
    return Dir.from_local_sync(src)


def test_symlink_outside_fails_inside_a_run_and_stores_nothing(tmp_path: Path, flyte_home: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    d = tmp_path / "data"
    d.mkdir()
    (d / "leak").symlink_to(secret)
    with pytest.raises(ValueError, match="outside the directory"):
        flyte.run(upload_with_link, src=str(d)).outputs()[0]
    stored = [p for p in flyte_home.rglob("*") if p.is_file() and b"TOP-SECRET-CONTENT" in p.read_bytes()]
    assert stored == []


# ---- the public surface matches the anchor's ---------------------------------------------------------
def test_public_names() -> None:
    for name in ("File", "Dir", "EmptyDir", "HashFunction", "PARQUET"):
        assert name in flyte.io.__all__
    assert PARQUET == "parquet"
    assert inspect.isasyncgenfunction(Dir.walk)
    for cls, pairs in {
        File: ("from_local", "download", "exists"),
        Dir: ("from_local", "download", "exists"),
    }.items():
        for m in pairs:
            assert inspect.iscoroutinefunction(getattr(cls, m)) and not inspect.iscoroutinefunction(
                getattr(cls, m + "_sync")
            )


ANCHOR = Path("/work/anchor-venv/bin/python")
_DUMP = """
import inspect, json
from flyte.io import File, Dir
out = {}
for cls in (File, Dir):
    for n, m in vars(cls).items():
        if n.startswith("_") or not callable(getattr(cls, n, None)) or n in ("schema_match", "pre_init"):
            continue
        try:
            out[f"{cls.__name__}.{n}"] = list(inspect.signature(getattr(cls, n)).parameters)
        except (TypeError, ValueError):
            pass
print(json.dumps(out))
"""


@pytest.mark.skipif(not ANCHOR.exists(), reason="the anchor SDK's venv is not on this machine")
def test_method_signatures_match_the_anchor() -> None:
    anchor = json.loads(
        subprocess.run([str(ANCHOR), "-c", _DUMP], capture_output=True, check=True, text=True).stdout
    )
    missing, differ = [], []
    for key, params in anchor.items():
        cls_name, meth = key.split(".")
        if meth in ("lazy_uploader", "Config") or meth.startswith("model_"):
            continue  # remote-backend and pydantic internals
        ours = getattr({"File": File, "Dir": Dir}[cls_name], meth, None)
        if ours is None:
            missing.append(key)
            continue
        have = [p for p in inspect.signature(ours).parameters if p not in ("args", "kwargs")]
        want = [p for p in params if p not in ("args", "kwargs")]
        if have[: len(want)] != want and sorted(have) != sorted(want):
            differ.append((key, want, have))
    assert missing == [] and differ == []


@pytest.mark.slow
def test_values_cross_worker_processes() -> None:
    """In process isolation the reference is re-made from its JSON form in another process."""
    run = flyte.with_runcontext(isolation="process").run(chain)
    assert run.outputs()[0] == TEXT.decode() * 2
    d = flyte.with_runcontext(isolation="process").run(make_dir).outputs()[0]
    got = flyte.with_runcontext(isolation="process").run(inspect_dir, d=d).outputs()[0]
    assert got["walk"] == ["a.txt", "b.csv", "c.txt", "d.txt"] and got["get_file"] == ["C", "None"]
