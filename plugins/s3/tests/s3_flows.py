"""Workflows the S3 tests run (a module of its own: recovered runs re-import their task by file)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import flyte
from flyte.io import Dir, File

env = flyte.TaskEnvironment(name="s3flows")
BIG = 300_000  # above the journal's 256 KiB inline limit: goes to the object store


def _mark(workdir: str, name: str) -> None:
    """Count executions: one line per run of a task body."""
    with open(os.path.join(workdir, name), "a") as f:
        f.write("x\n")


@env.task
async def big(i: int) -> str:
    return chr(ord("a") + i % 26) * BIG


@env.task
async def fanout(n: int) -> int:
    outs = await asyncio.gather(*(big(i) for i in range(n)))
    return sum(len(o) for o in outs)


# ---- File / Dir ------------------------------------------------------------------------------------
@env.task
async def write_file(text: str) -> File:
    path = Path(tempfile.mkdtemp()) / "notes.txt"
    path.write_text(text)
    return await File.from_local(path)


@env.task
async def write_new_remote(text: str, name: str) -> File:
    f: File = File.new_remote(file_name=name)
    async with f.open("wb") as fh:
        await fh.write(text.encode())
    return f


@env.task
async def read_file(f: File) -> str:
    assert await f.exists()
    async with f.open("rb") as fh:
        return (await fh.read()).decode()


@env.task
async def write_dir(n: int) -> Dir:
    root = Path(tempfile.mkdtemp()) / "parts"
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        (root / ("sub" if i % 2 else "") / f"p{i}.txt").write_text(str(i))
    return await Dir.from_local(root)


@env.task
async def sum_dir(d: Dir) -> int:
    total = 0
    async for f in d.walk():
        async with f.open("rb") as fh:
            total += int(await fh.read())
    return total


@env.task
async def files_and_dirs(text: str, n: int) -> str:
    f = await write_file(text)
    g = await write_new_remote(text.upper(), "copy.txt")
    d = await write_dir(n)
    return f"{await read_file(f)}|{await read_file(g)}|{await sum_dir(d)}"


@env.task
async def browse_dir(n: int) -> dict[str, list[str]]:
    """Dir handles on an S3 directory: listings come from the bucket, files stay remote until read."""
    d = await write_dir(n)
    top = [f async for f in d.walk(recursive=False)]
    got = await d.get_file("sub/p1.txt")
    missing = Dir(path=d.path.rstrip("/") + "-absent")
    return {
        "schemes": sorted({f.path.split("://")[0] for f in d.walk_sync()}),
        "top": sorted(f.name or "" for f in top),
        "list": sorted(f.name or "" for f in d.list_files_sync()),
        "deep": sorted(f.name or "" for f in d.walk_sync(max_depth=2, file_pattern="p[13].txt")),
        "get_file": [Path(await got.download()).read_text() if got else ""],
        "none": [str(d.get_file_sync("nope.txt"))],
        "exists": [str(await d.exists()), str(missing.exists_sync())],
    }


@env.task
async def escape_names(text: str) -> list[str]:
    """File names from values: none may address anything outside the run's prefix (a name with
    ``..`` is refused when the File is made; the others stay under the prefix)."""
    out = []
    for name in ("../../../escape.txt", "..", "a/../../b.txt", "..\\..\\c.txt"):
        try:
            f = await write_new_remote(text, name)
        except flyte.errors.InvalidParameterError as e:
            out.append(f"refused:{e.param}")
            continue
        out.append(f.path)
    return out


# ---- faults ----------------------------------------------------------------------------------------
@env.task
async def step(i: int, workdir: str, gate: str) -> str:
    """A step whose output goes to the store; step 2 waits at the gate (the test stops S3 there)."""
    _mark(workdir, f"step-{i}")
    if i == 2 and gate:
        Path(workdir, "at-gate").touch()
        while not os.path.exists(gate):
            await asyncio.sleep(0.02)
    return str(i) * BIG


@env.task
async def upload_step(i: int, workdir: str, gate: str) -> File:
    """Like ``step`` but its result is a File uploaded from inside the task."""
    _mark(workdir, f"upload-{i}")
    if i == 2 and gate:
        Path(workdir, "at-gate").touch()
        while not os.path.exists(gate):
            await asyncio.sleep(0.02)
    path = Path(tempfile.mkdtemp()) / f"u{i}.txt"
    path.write_text(str(i))
    return await File.from_local(path)


@env.task(retries=3)
async def retried_upload(i: int, workdir: str, gate: str) -> File:
    """``upload_step`` with user retries: a storage outage must not spend them (issue 18)."""
    _mark(workdir, f"retried-{i}")
    if i == 2 and gate:
        Path(workdir, "at-gate").touch()
        while not os.path.exists(gate):
            await asyncio.sleep(0.02)
    path = Path(tempfile.mkdtemp()) / f"r{i}.txt"
    path.write_text(str(i))
    return await File.from_local(path)


@env.task
async def retried_uploads(n: int, workdir: str, gate: str = "") -> int:
    total = 0
    for i in range(n):
        total += int(await read_file(await retried_upload(i, workdir, gate)))
    return total


@env.task
async def small(i: int, workdir: str) -> int:
    _mark(workdir, f"small-{i}")
    return i * i


@env.task(retries=0)
async def pipeline(n: int, workdir: str, gate: str = "") -> int:
    total = 0
    for i in range(n):
        total += len(await step(i, workdir, gate))
    return total


@env.task(retries=0)
async def upload_pipeline(n: int, workdir: str, gate: str = "") -> int:
    total = 0
    for i in range(n):
        total += await small(i, workdir)
        f = await upload_step(i, workdir, gate)
        total += int(await read_file(f))
    return total


# ---- pickles ---------------------------------------------------------------------------------------
class Blob:
    """No JSON schema (a plain class): passed with cloudpickle, so signed."""

    def __init__(self, data: bytes) -> None:
        self.data = data


@env.task
async def make_blob(size: int) -> Blob:
    return Blob(b"z" * size)


@env.task(retries=0)
async def use_blob(size: int, flag: str) -> int:
    blob = await make_blob(size)
    if os.path.exists(flag):
        raise RuntimeError("flag set: failing after the child")
    return len(blob.data)


@env.task
async def slow(seconds: float) -> float:
    t = time.monotonic()
    await asyncio.sleep(seconds)
    return time.monotonic() - t


@env.task(retries=0)
async def resumable(n: int, workdir: str, flag: str) -> int:
    """Inline values, values in the store and a signed pickle; fails while ``flag`` exists."""
    total = 0
    for i in range(n):
        total += await small(i, workdir)
        total += len(await step(i, workdir, ""))
    blob = await make_blob(1000)
    if os.path.exists(flag):
        raise RuntimeError("flag set: failing on purpose")
    return total + len(blob.data)
