"""flyte.storage over our object stores: local folders and file:// URIs always, s3:// through
flyte-plugin-s3 against a moto server when the plugin's test extras are installed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import flyte.storage as storage
import pytest


def test_names_match_the_reference_sdk() -> None:
    assert set(storage.__all__) == {
        "ABFS", "GCS", "S3", "Storage", "exists", "exists_sync", "get", "get_configured_fsspec_kwargs",
        "get_random_local_directory", "get_random_local_path", "get_stream", "get_underlying_filesystem",
        "is_remote", "join", "open", "put", "put_stream",
    }  # fmt: skip
    for name in ("get", "put", "exists", "open", "put_stream"):
        assert asyncio.iscoroutinefunction(getattr(storage, name)), name


def test_random_local_paths() -> None:
    p = storage.get_random_local_path("data.csv")
    assert p.name == "data.csv" and p.parent.is_dir() and not p.exists()
    assert storage.get_random_local_path() != storage.get_random_local_path()
    d = storage.get_random_local_directory()
    assert d.is_dir() and not any(d.iterdir())
    assert (
        storage.is_remote("s3://b/k") and not storage.is_remote(str(d)) and not storage.is_remote("file:///x")
    )


def test_local_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("hello")

    async def go() -> None:
        uri = await storage.put(str(src))
        assert uri.startswith("file://") and uri.endswith("/in.txt")
        assert await storage.exists(uri) and storage.exists_sync(uri)
        assert not await storage.exists(str(tmp_path / "missing"))
        back = await storage.get(uri)
        assert Path(back).read_text() == "hello" and back != str(src)
        target = tmp_path / "out" / "copy.txt"
        assert await storage.get(uri, str(target)) == str(target) and target.read_text() == "hello"
        streamed = await storage.put_stream(b"x" * 25, name="blob.bin")
        assert [len(c) async for c in storage.get_stream(streamed, chunk_size=10)] == [10, 10, 5]
        async with await storage.open(streamed) as f:
            assert await f.read(3) == b"xxx"
        dest = str(tmp_path / "w" / "note.txt")
        async with await storage.open(dest, "w") as f:
            await f.write("written")
        assert Path(dest).read_text() == "written"

    asyncio.run(go())


def test_uploads_go_under_the_raw_data_path_or_the_current_run(tmp_path: Path) -> None:
    flyte.init(raw_data_path=str(tmp_path / "raw"))
    src = tmp_path / "a.txt"
    src.write_text("A")
    uri = asyncio.run(storage.put(str(src)))
    assert uri.startswith(f"file://{tmp_path / 'raw'}/uploads/")

    env = flyte.TaskEnvironment("storage_env")

    @env.task
    async def upload(text: str) -> str:
        return await storage.put_stream(text.encode(), name="t.txt")

    run = flyte.run(upload, text="in a run")
    inside = run.outputs()[0]
    assert f"/runs/{run.name}/" in inside
    assert (
        asyncio.run(storage.get(inside)) and Path(asyncio.run(storage.get(inside))).read_text() == "in a run"
    )


def test_folders_need_recursive(tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.txt").write_text("F")
    with pytest.raises(flyte.errors.InvalidParameterError, match="recursive"):
        asyncio.run(storage.put(str(folder)))
    uri = asyncio.run(storage.put(str(folder), recursive=True))
    back = asyncio.run(storage.get(uri, recursive=True))
    assert (Path(back) / "sub" / "f.txt").read_text() == "F"


def test_bad_input_is_named() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="mode"):
        asyncio.run(storage.open("/tmp/x", "a+"))
    with pytest.raises(flyte.errors.InvalidParameterError, match="chunk_size"):
        asyncio.run(anext(storage.get_stream("/tmp/x", chunk_size=0)))
    with pytest.raises(FileNotFoundError, match="nothing at"):
        asyncio.run(storage.get("/nonexistent/file"))
    with pytest.raises(flyte.errors.PluginError, match="gs://"):
        storage.exists_sync("gs://bucket/key")


def test_config_classes_feed_flyte_init() -> None:
    s3 = storage.S3(endpoint="http://127.0.0.1:9000", region="us-east-1", addressing_style="path")
    opts = s3.get_fsspec_kwargs()
    assert opts["endpoint_url"] == "http://127.0.0.1:9000" and opts["region"] == "us-east-1"
    with pytest.raises(flyte.errors.InvalidParameterError, match="boto3's chain"):
        storage.S3(access_key_id="AKIA", secret_access_key="s").get_fsspec_kwargs()
    flyte.init(storage=s3)
    assert storage.get_configured_fsspec_kwargs("s3")["endpoint_url"] == "http://127.0.0.1:9000"
    assert storage.ABFS(account_name="acct").get_fsspec_kwargs()["account_name"] == "acct"
    assert isinstance(storage.GCS.auto(), storage.Storage)


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    testing = pytest.importorskip("flyteplugins.s3.testing")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASTORAGETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "storage-" + uuid.uuid4().hex)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    from flyte._runtime.store import clear_store_cache

    with testing.MotoServer() as server:
        bucket = "st-" + uuid.uuid4().hex[:10]
        server.create_bucket(bucket)
        flyte.init(raw_data_path=f"s3://{bucket}/data", storage=server.storage_options())
        yield server, bucket
    clear_store_cache()


def test_s3_round_trip(s3: tuple[Any, str], tmp_path: Path) -> None:
    _, bucket = s3
    src = tmp_path / "in.txt"
    src.write_text("to s3")
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "g.txt").write_text("G")

    async def go() -> None:
        uri = await storage.put(str(src))
        assert uri.startswith(f"s3://{bucket}/data/uploads/")
        assert await storage.exists(uri)
        assert Path(await storage.get(uri)).read_text() == "to s3"
        key = f"s3://{bucket}/explicit/blob"
        assert await storage.put_stream(b"abcdef", to_path=key) == key
        assert b"".join([c async for c in storage.get_stream(key, chunk_size=4)]) == b"abcdef"
        async with await storage.open(f"s3://{bucket}/written.txt", "wb") as f:
            await f.write(b"via open")
        async with await storage.open(f"s3://{bucket}/written.txt") as f:
            assert await f.read() == b"via open"
        folder = await storage.put(str(tree), to_path=f"s3://{bucket}/tree", recursive=True)
        back = await storage.get(folder, recursive=True)
        assert (Path(back) / "d" / "g.txt").read_text() == "G"
        assert not await storage.exists(f"s3://{bucket}/nothing-here")

    asyncio.run(go())
