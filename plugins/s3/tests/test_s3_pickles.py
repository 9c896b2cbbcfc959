"""Pickled values (types with no JSON schema) are signed with HMAC-SHA256 when written and verified
before they are loaded: a value tampered with in the shared bucket (or the journal), an unsigned one,
or one signed with another key is refused with a clear error instead of being unpickled."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import flyte
import flyte.errors
import pytest
import s3_flows as flows
from flyte._runtime import codec
from flyteplugins.s3.testing import MotoServer
from s3_testkit import S3Env, s3_env

pytestmark = pytest.mark.filterwarnings("ignore:.*has no JSON schema")


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as s:
        yield s


@pytest.fixture
def s3(server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    yield from s3_env(server, tmp_path, monkeypatch, retry_deadline=3)


def failed_run_with_a_blob(s3: S3Env, tmp_path: Path, size: int) -> tuple[flyte.Run, Path, bytes]:
    """A run whose child returned a pickled Blob and whose parent then failed; the blob's record."""
    flag = tmp_path / "flag"
    flag.touch()
    with pytest.raises(Exception) as failed:
        flyte.run(flows.use_blob, size=size, flag=str(flag))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and "flag set" in str(run.error)
    con = sqlite3.connect(s3.home / "journal.db")
    (outputs,) = con.execute(
        "SELECT outputs FROM actions WHERE run=? AND task_name='s3flows.make_blob'", (run.name,)
    ).fetchone()
    con.close()
    flag.unlink()
    return run, flag, bytes(outputs)


def stored_key(s3: S3Env, ref: bytes) -> str:
    assert ref[:1] == b"R"
    return ref[1:].decode().split(f"s3://{s3.bucket}/", 1)[1]


def test_the_key_is_made_once_with_owner_only_permissions(s3: S3Env) -> None:
    key = codec.pickle_key()
    path = s3.home / "pickle.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().strip() == key and len(key) == 64
    codec._key_cache.clear()
    assert codec.pickle_key() == key  # read back, not remade


def test_signed_pickles_round_trip_and_survive_recovery(s3: S3Env, tmp_path: Path) -> None:
    run, _, ref = failed_run_with_a_blob(s3, tmp_path, 300_000)
    data = s3.get(stored_key(s3, ref))
    assert data[:1] == codec.PICKLE_TAG and data[1:].startswith(codec.SIG_MAGIC)
    again = flyte.rerun(run.name, recover=True)
    assert again.status == "SUCCEEDED" and again.outputs()[0] == 300_000


def test_a_tampered_pickle_in_the_bucket_is_refused(s3: S3Env, tmp_path: Path) -> None:
    run, _, ref = failed_run_with_a_blob(s3, tmp_path, 300_000)
    key = stored_key(s3, ref)
    data = bytearray(s3.get(key))
    data[-100] ^= 0x01  # one bit, inside the pickle
    s3.put(key, bytes(data))
    with pytest.raises(Exception) as failed:
        flyte.rerun(run.name, recover=True)
    again = failed.value.flyte_run  # type: ignore[attr-defined]
    assert again.status == "FAILED"
    assert isinstance(again.error, codec.UntrustedPickleError), again.error
    assert "signature does not match" in str(again.error)


def test_an_unsigned_pickle_is_refused_and_never_loaded(s3: S3Env, tmp_path: Path) -> None:
    run, _, ref = failed_run_with_a_blob(s3, tmp_path, 300_000)
    canary = tmp_path / "pwned"
    # what someone with write access to the bucket could put there: a pickle that runs code
    evil = cloudpickle.dumps(_Exploit(str(canary)))
    s3.put(stored_key(s3, ref), codec.PICKLE_TAG + evil)
    with pytest.raises(Exception) as failed:
        flyte.rerun(run.name, recover=True)
    again = failed.value.flyte_run  # type: ignore[attr-defined]
    assert again.status == "FAILED" and "not signed" in str(again.error)
    assert not canary.exists()


def test_a_pickle_signed_with_another_key_names_the_setting(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTE_PICKLE_KEY", "key-of-machine-a")
    run, _, _ = failed_run_with_a_blob(s3, tmp_path, 300_000)
    monkeypatch.setenv("FLYTE_PICKLE_KEY", "key-of-machine-b")
    with pytest.raises(Exception) as failed:
        flyte.rerun(run.name, recover=True)
    again = failed.value.flyte_run  # type: ignore[attr-defined]
    assert again.status == "FAILED" and "FLYTE_PICKLE_KEY" in str(again.error)
    assert "another key" in str(again.error)
    flyte.init(raw_data_path=s3.raw, storage=s3.server.storage_options(), pickle_key="key-of-machine-a")
    assert flyte.rerun(run.name, recover=True).status == "SUCCEEDED"  # init(pickle_key=) wins


def test_a_tampered_inline_pickle_in_the_journal_is_refused(s3: S3Env, tmp_path: Path) -> None:
    run, _, ref = failed_run_with_a_blob(s3, tmp_path, 100)  # small: inline in the journal
    assert ref[:1] == codec.PICKLE_TAG
    tampered = bytearray(ref)
    tampered[-5] ^= 0x20
    con = sqlite3.connect(s3.home / "journal.db")
    con.execute(
        "UPDATE actions SET outputs=? WHERE run=? AND task_name='s3flows.make_blob'",
        (bytes(tampered), run.name),
    )
    con.commit()
    con.close()
    with pytest.raises(Exception) as failed:
        flyte.rerun(run.name, recover=True)
    again = failed.value.flyte_run  # type: ignore[attr-defined]
    assert isinstance(again.error, flyte.errors.NonRecoverableError)
    assert "signature does not match" in str(again.error)


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (open, (self.path, "w"))
