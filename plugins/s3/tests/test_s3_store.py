"""The S3 store against real S3-compatible servers on 127.0.0.1 (SeaweedFS and moto): objects, files,
directories, large transfers, key safety, options, transient failures and the runtime's retries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte.errors
import pytest
from flyte._plugins.manager import load_plugins
from flyte._runtime.store import ObjectStoreError, RetryingStore, store_for
from flyteplugins.s3 import S3ObjectStore, parse_s3_uri
from flyteplugins.s3.testing import MotoServer
from s3_testkit import SERVERS, S3Env, aws_env, s3_env, start_server


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    with start_server(request.param) as s:
        yield s


@pytest.fixture
def s3(server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    yield from s3_env(server, tmp_path, monkeypatch, retry_deadline=3)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto alone: the tests that inject faults or pause the server."""
    with MotoServer() as s:
        yield s


@pytest.fixture
def s3_moto(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    yield from s3_env(moto, tmp_path, monkeypatch, retry_deadline=3)


def test_plugin_is_discovered_through_its_entry_point() -> None:
    info = load_plugins(reload=True).plugins["s3"]
    assert info.error is None, info.error
    assert info.distribution == "flyte-plugin-s3"
    assert info.storage == ["s3"]


def test_hooks_module_does_not_import_boto3() -> None:
    code = "import flyteplugins.s3.hooks, flyteplugins.s3, sys; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_store_for_makes_one_retrying_store_per_scheme_and_options(s3: S3Env) -> None:
    a = store_for(f"{s3.raw}/x")
    assert a is store_for(f"s3://{s3.bucket}/other")
    assert isinstance(a, RetryingStore) and isinstance(a.inner, S3ObjectStore)
    assert a.deadline == 3


def test_bytes_files_and_directories_round_trip(s3: S3Env, tmp_path: Path) -> None:
    store = store_for(s3.raw)
    uri = f"{s3.raw}/a/b.bin"
    assert store.put_bytes(uri, b"\x00hello") == uri
    assert store.get_bytes(uri) == b"\x00hello"
    assert store.exists(uri) and store.exists(f"{s3.raw}/a") and not store.exists(f"{s3.raw}/nope")
    with pytest.raises(FileNotFoundError):
        store.get_bytes(f"{s3.raw}/missing")

    src = tmp_path / "tree"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "sub" / "deep" / "leaf.txt").write_text("leaf")
    store.put_file(str(src), f"{s3.raw}/tree")
    assert sorted(s3.keys("data/tree")) == ["data/tree/sub/deep/leaf.txt", "data/tree/top.txt"]
    dest = tmp_path / "copy"
    store.get_file(f"{s3.raw}/tree", str(dest))
    assert (dest / "sub" / "deep" / "leaf.txt").read_text() == "leaf"
    one = tmp_path / "one.txt"
    store.get_file(f"{s3.raw}/tree/top.txt", str(one))
    assert one.read_text() == "top"
    with pytest.raises(FileNotFoundError):
        store.get_file(f"{s3.raw}/none", str(tmp_path / "none"))


def test_keys_with_dot_segments_are_refused(s3: S3Env) -> None:
    store = store_for(s3.raw)
    for uri in (f"{s3.raw}/../other", f"{s3.raw}/a/./b", f"s3://{s3.bucket}/.."):
        with pytest.raises(ValueError, match="segments"):
            store.put_bytes(uri, b"x")
    assert parse_s3_uri("s3://bkt/a/b..c/d") == ("bkt", "a/b..c/d")  # dots inside a name are fine


def test_a_directory_download_never_leaves_its_target(s3_moto: S3Env, tmp_path: Path) -> None:
    # a bucket is often shared: someone wrote keys that would climb out of the download directory
    # (moto stores such keys as given; SeaweedFS refuses to store them at all)
    s3_moto.put("data/evil/ok.txt", b"ok")
    s3_moto.put("data/evil/../../../outside.txt", b"pwned")
    target = tmp_path / "dl" / "here"
    with pytest.raises(ValueError, match="leave the target directory"):
        store_for(s3_moto.raw).get_file(f"{s3_moto.raw}/evil", str(target))
    assert not list(tmp_path.rglob("outside.txt"))


def test_credentials_are_refused_as_storage_options(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_env(monkeypatch)
    with pytest.raises(flyte.errors.InitializationError, match="standard chain"):
        S3ObjectStore({"endpoint_url": server.endpoint_url, "aws_secret_access_key": "x"})
    with pytest.raises(flyte.errors.InitializationError, match="unknown s3 storage option 'endpoint'"):
        S3ObjectStore({"endpoint": server.endpoint_url})


def test_transient_errors_are_classified(s3_moto: S3Env) -> None:
    inner = S3ObjectStore(s3_moto.server.storage_options())
    inner.put_bytes(f"{s3_moto.raw}/k", b"v")
    for status, code in ((503, "SlowDown"), (500, "InternalError"), (400, "ThrottlingException")):
        s3_moto.server.inject_faults(1, status=status, code=code)
        with pytest.raises(Exception) as e:
            inner.get_bytes(f"{s3_moto.raw}/k")
        assert inner.is_transient(e.value), (status, code)
    s3_moto.server.inject_faults(1, status=403, code="AccessDenied")
    with pytest.raises(Exception) as e:
        inner.get_bytes(f"{s3_moto.raw}/k")
    assert not inner.is_transient(e.value)
    s3_moto.server.pause()
    try:
        with pytest.raises(Exception) as e:
            inner.get_bytes(f"{s3_moto.raw}/k")
        assert inner.is_transient(e.value)  # connection refused
    finally:
        s3_moto.server.resume()


def test_runtime_retries_transient_errors_with_backoff(
    s3_moto: S3Env, caplog: pytest.LogCaptureFixture
) -> None:
    store = store_for(s3_moto.raw)
    store.put_bytes(f"{s3_moto.raw}/k", b"v")
    s3_moto.server.inject_faults(4, status=503, code="SlowDown")
    t = time.monotonic()
    assert store.get_bytes(f"{s3_moto.raw}/k") == b"v"
    assert 0.1 < time.monotonic() - t < 3  # backed off (0.1, 0.2, 0.4, 0.8 s, with jitter)
    assert "retrying" in caplog.text


def test_runtime_gives_up_after_the_deadline_with_a_storage_error(s3_moto: S3Env) -> None:
    store = store_for(s3_moto.raw)
    s3_moto.server.pause()
    try:
        t = time.monotonic()
        with pytest.raises(flyte.errors.StorageError, match="still failing after") as e:
            store.put_bytes(f"{s3_moto.raw}/k", b"v")
        assert 2 < time.monotonic() - t < 6  # the 3 s deadline
        assert isinstance(e.value, ObjectStoreError) and e.value.kind == "system"
        assert isinstance(e.value, flyte.errors.NonRecoverableError)  # never retried as a user error
    finally:
        s3_moto.server.resume()
    s3_moto.server.inject_faults(1, status=403, code="AccessDenied")
    t = time.monotonic()
    with pytest.raises(ObjectStoreError, match="AccessDenied") as e:
        store.get_bytes(f"{s3_moto.raw}/k")
    assert time.monotonic() - t < 1 and not e.value.transient  # permanent: not retried


RSS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from flyte._runtime.store import store_for
    import flyte

    def status(field):  # this process's own memory (VmHWM is per address space: fresh after exec)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])

    def reset_peak():  # VmHWM := VmRSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def peak_growth(fn):
        before = status("VmRSS")
        reset_peak()
        fn()
        return status("VmHWM") - before

    flyte.init(raw_data_path="s3://BUCKET/x", storage={"endpoint_url": sys.argv[1], "region": "us-east-1"})
    src, dst, size = sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = store_for("s3://BUCKET/x")
    warm = src + ".warm"
    with open(warm, "wb") as f:
        f.write(b"w" * 1024)
    store.put_file(warm, "s3://BUCKET/x/warm")          # imports, clients and threads are paid for
    store.get_file("s3://BUCKET/x/warm", dst + ".warm")
    with open(src, "wb") as f:                            # the big file, written in chunks
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    t = time.monotonic()
    up_kib = peak_growth(lambda: store.put_file(src, "s3://BUCKET/x/big.bin"))
    up = time.monotonic() - t
    t = time.monotonic()
    down_kib = peak_growth(lambda: store.get_file("s3://BUCKET/x/big.bin", dst))
    down = time.monotonic() - t
    control_kib = 0
    if len(sys.argv) < 6:                                 # control: get_bytes does hold it all
        whole = []
        control_kib = peak_growth(lambda: whole.append(store.get_bytes("s3://BUCKET/x/big.bin")))
        assert len(whole[0]) == size
    print(json.dumps({"up_kib": up_kib, "down_kib": down_kib, "control_kib": control_kib,
                      "up": up, "down": down}))
    """
)


def test_large_files_use_multipart_and_stream(s3: S3Env, tmp_path: Path) -> None:
    size = 64 << 20
    src, dst = tmp_path / "big.src", tmp_path / "big.dst"
    script = RSS_SCRIPT.replace("BUCKET", s3.bucket)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script, s3.server.endpoint_url, str(src), str(dst), str(size)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert dst.stat().st_size == size and dst.read_bytes()[-4096:] == src.read_bytes()[-4096:]
    head = s3.client().head_object(Bucket=s3.bucket, Key="x/big.bin")
    assert "-" in head["ETag"], head["ETag"]  # a multipart upload's ETag is "<md5>-<parts>"
    up_mib, down_mib = result["up_kib"] / 1024, result["down_kib"] / 1024
    control_mib = result["control_kib"] / 1024
    print(
        f"64 MiB: upload {result['up']:.2f}s (peak RSS +{up_mib:.1f} MiB), download {result['down']:.2f}s "
        f"(+{down_mib:.1f} MiB); get_bytes of the same object, which holds it whole: +{control_mib:.1f} MiB"
    )
    # the measurement does see a whole-file buffer when there is one (most of the 64 MiB: the last
    # pages of a fresh buffer can be shared zero pages, so not always all of it)
    assert control_mib > 48
    assert up_mib < 32 and down_mib < 32, "a transfer held a large part of the file in memory"


def test_one_gib_streams_through_seaweedfs_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 GiB up to and down from a real object store on disk, with the process's peak RSS growing by
    less than 64 MiB each way (moto would hold the object in its own memory, so SeaweedFS alone)."""
    size = 1 << 30
    aws_env(monkeypatch)
    with start_server("seaweedfs") as server:
        server.create_bucket("big")
        src, dst = tmp_path / "big.src", tmp_path / "big.dst"
        script = RSS_SCRIPT.replace("BUCKET", "big")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [
            sys.executable,
            "-c",
            script,
            server.endpoint_url,
            str(src),
            str(dst),
            str(size),
            "no-control",
        ]
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert dst.stat().st_size == size
        with open(src, "rb") as a, open(dst, "rb") as b:  # compare in chunks: never 1 GiB in memory
            while chunk := a.read(1 << 24):
                assert chunk == b.read(1 << 24)
        up_mib, down_mib = result["up_kib"] / 1024, result["down_kib"] / 1024
        print(
            f"1 GiB via SeaweedFS: upload {result['up']:.1f}s (peak RSS +{up_mib:.1f} MiB), "
            f"download {result['down']:.1f}s (+{down_mib:.1f} MiB)"
        )
        assert up_mib < 64 and down_mib < 64, "a transfer held a large part of the file in memory"
