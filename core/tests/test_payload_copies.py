"""Issue 20: a long text passed to a child is written into its JSON form with one copy, and the
bytes are exactly what the JSON encoder writes (so action IDs and cache keys do not change)."""

from __future__ import annotations

import flyte as _flyte
import pytest
from flyte._runtime import codec

B = codec.BIG_TEXT


def _echo_round_trip(env_name: str, text: str) -> _flyte.Run:
    """Run parent -> ``echo`` -> parent with ``text`` (the parent checks the returned text equals it)."""
    env = _flyte.TaskEnvironment(name=env_name)

    @env.task(max_inline_io_bytes=64 * B)
    async def echo(data: str) -> str:
        return data

    @env.task(max_inline_io_bytes=64 * B)
    async def parent(data: str) -> int:
        out = await echo(data)
        assert out == data
        return len(out)

    return _flyte.run(parent, data=text)


@pytest.mark.parametrize(
    "value",
    [
        "a" * B,
        "é" * B,
        "😀" * B,
        "a" * (B - 1),
        "a" * B + '"',
        "a" * B + "\\",
        "a" * (B + 5) + "\n",
        "\x00" + "a" * B,
        "a" * (3 * B) + "\x1f",
        "x" * (2 * B + 7),
        5,
        1.5,
        None,
        True,
        "short",
    ],
)
def test_same_bytes_as_the_json_encoder(value: object) -> None:
    assert codec.prim_json_bytes(value) == codec.JSON_TAG + codec._prim_dumps(value).encode()
    inputs = {"b": value, "a": 1, "c": "a" * B}
    assert codec.prim_json_bytes(inputs) == codec.JSON_TAG + codec._prim_dumps(inputs).encode()


def test_a_long_text_input_keeps_its_action_hash() -> None:
    """The inputs' stored bytes and their hash are those of the JSON encoder's form."""
    text = "0123456789abcdef" * (4 * B // 16)
    c = codec.InterfaceCodec.__new__(codec.InterfaceCodec)
    c.all_prim = True
    data, digest = codec.InterfaceCodec.encode_inputs(c, {"data": text})
    assert data == codec.JSON_TAG + codec._prim_dumps({"data": text}).encode()
    assert digest == codec.digest(codec._prim_dumps({"data": text}))


@pytest.mark.parametrize(
    "text",
    ["0123456789abcdef" * (B // 8), "x" * (B + 3) + "\n", "a" * B + '"', "é" * B, "a" * (B - 1)],
)
def test_unjoined_parts_are_the_same_bytes_and_hash(text: str) -> None:
    """What the controller writes in slices (``TextParts``) is byte for byte the joined JSON, with
    the same inputs hash; text JSON must escape (or non-ASCII) stays on the joined path."""
    c = codec.InterfaceCodec.__new__(codec.InterfaceCodec)
    c.all_prim = True
    inputs = {"data": text, "n": 3}
    data, digest = codec.InterfaceCodec.encode_inputs_lazy(c, inputs)
    joined = codec.JSON_TAG + codec._prim_dumps(inputs).encode()
    assert bytes(data) == joined and len(data) == len(joined)
    assert digest == codec.digest(codec._prim_dumps(inputs, canonical=True))
    lazy = isinstance(data, codec.TextParts)
    plain = text.isprintable() and '"' not in text and "\\" not in text
    assert lazy == (text.isascii() and len(text) >= B and plain)
    out = codec.prim_json_lazy(text)
    assert bytes(out) == codec.JSON_TAG + codec._prim_dumps(text).encode()


@pytest.mark.parametrize("text", ["0123456789abcdef" * (3 * B // 16), "a\tb" * B])
def test_a_long_text_round_trip_through_a_child(text: str) -> None:
    """Parent -> child -> parent with a 3 MB text: stored in slices, read back equal."""
    run = _echo_round_trip("payload_copies", text)
    assert run.outputs()[0] == len(text)
    from flyte._runtime.journal import open_journal

    journal = open_journal(_flyte._config.get_settings().journal_path)
    child = [a for a in journal.list_actions(run.name) if a["task_name"].endswith("echo")]
    assert len(child) == 1
    full = journal.get_action(run.name, child[0]["action_id"])
    assert full is not None and bytes(full["outputs"])[:1] == b"R"  # in the store, by reference


def test_a_text_found_plain_is_skipped_by_identity_only() -> None:
    """``scan(plain=...)`` trusts the very object it was given (a str cannot change), never an equal
    or other text, and never when a digest is asked (the digest reads every byte)."""
    bad = "a" * B + "\x01"
    parts = codec.TextParts([codec.JSON_TAG + b'"', bad, b'"'])
    assert parts.scan() == (False, "")
    assert parts.scan(plain=("a" * B + "\x02",)) == (False, "")  # another text: read
    assert parts.scan(plain=(bad,))[0] is True  # the same object: not read again
    good = "0123456789abcdef" * (2 * B // 16)
    parts = codec.TextParts([codec.JSON_TAG + b'"', good, b'"'])
    ok, hashed = parts.scan(digest_after=1, plain=(good,))
    assert ok and hashed == codec.digest(codec._prim_dumps(good))
    assert parts.texts() == (good,)


def _stored_output(run_name: str, task_suffix: str) -> bytes:
    import flyte
    from flyte._runtime.journal import open_journal
    from flyte._runtime.store import LocalObjectStore

    journal = open_journal(flyte._config.get_settings().journal_path)
    child = [a for a in journal.list_actions(run_name) if a["task_name"].endswith(task_suffix)]
    assert len(child) == 1
    full = journal.get_action(run_name, child[0]["action_id"])
    assert full is not None
    ref = bytes(full["outputs"])
    assert ref[:1] == b"R"  # in the store, by reference
    return LocalObjectStore().get_bytes(ref[1:].decode())


def test_a_child_returning_its_input_text_is_not_scanned_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: the output of a child that returns the long text it was given is not checked for
    control characters a second time; what is stored is still the JSON encoder's bytes."""
    calls: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    scan = codec.TextParts.scan

    def spy(self: codec.TextParts, digest_after: int | None = None, plain: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
        calls.append((self.texts(), plain))
        return scan(self, digest_after, plain)

    monkeypatch.setattr(codec.TextParts, "scan", spy)
    text = "0123456789abcdef" * (3 * B // 16)
    run = _echo_round_trip("payload_skip", text)
    assert run.outputs()[0] == len(text)
    outs = [(texts, plain) for texts, plain in calls if texts and plain]
    assert outs and all(t[0] is p[0] for t, p in outs)  # the output's scan was told its input text
    assert _stored_output(run.name, "echo") == codec.JSON_TAG + codec._prim_dumps(text).encode()


def test_a_child_returning_a_changed_text_is_scanned() -> None:
    """A text the child made (here with a control character) is checked and escaped as JSON must,
    even though its input was a plain text of the same length."""
    import flyte

    env = flyte.TaskEnvironment(name="payload_changed")
    text = "0123456789abcdef" * (3 * B // 16)

    @env.task(max_inline_io_bytes=64 * B)
    async def tweak(data: str) -> str:
        return data[:-1] + "\x01"

    @env.task(max_inline_io_bytes=64 * B)
    async def parent(data: str) -> str:
        return await tweak(data)

    run = flyte.run(parent, data=text)
    want = text[:-1] + "\x01"
    assert run.outputs()[0] == want
    stored = _stored_output(run.name, "tweak")
    assert stored == codec.JSON_TAG + codec._prim_dumps(want).encode() and b"\\u0001" in stored


@pytest.mark.parametrize("char", ['"', "\\", "\x1f"])
@pytest.mark.parametrize("at", [0, B - 1, B, 2 * B + 3])
def test_the_scan_finds_every_byte_json_escapes(char: str, at: int) -> None:
    """The quote and backslash are found in the scan's one pass (not by separate searches), at
    any offset including a slice boundary: such a text is never written unescaped."""
    text = "x" * at + char + "y" * (2 * B + 4 - at)
    assert not codec.TextParts([codec.JSON_TAG + b'"', text, b'"']).scan()[0]
    assert not codec.TextParts([codec.JSON_TAG + b'"', text, b'"']).scan(digest_after=1)[0]
    out = codec.prim_json_lazy(text)
    assert isinstance(out, bytes) and out == codec.JSON_TAG + codec._prim_dumps(text).encode()
    c = codec.InterfaceCodec.__new__(codec.InterfaceCodec)
    c.all_prim = True
    inputs = {"a": "z" * B, "data": text}
    data, hashed = codec.InterfaceCodec.encode_inputs_lazy(c, inputs)
    assert isinstance(data, bytes) and data == codec.JSON_TAG + codec._prim_dumps(inputs).encode()
    assert hashed == codec.digest(codec._prim_dumps(inputs, canonical=True))


class _Overstated:
    """Parts whose length says more than their chunks hold (the store must keep what was written)."""

    def __init__(self, data: bytes, extra: int) -> None:
        self.data, self.extra = data, extra

    def __len__(self) -> int:
        return len(self.data) + self.extra

    def chunks(self):  # type: ignore[no-untyped-def]
        yield self.data


def test_a_large_value_is_reserved_then_written_exactly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Over 8 MiB the local store allocates the blocks first; the object is still exactly the bytes
    written (no zero tail when a length overstates), and no temporary file is left."""
    import os

    from flyte._runtime import store

    s = store.LocalObjectStore()
    data = os.urandom(9 << 20)
    uri = s.put_bytes(store.path_to_uri(str(tmp_path / "a" / "v")), data)
    assert s.get_bytes(uri) == data
    uri = s.put_parts(store.path_to_uri(str(tmp_path / "b" / "v")), _Overstated(data, 3 << 20))
    assert s.get_bytes(uri) == data
    text = "0123456789abcdef" * ((9 << 20) // 16)
    parts = codec.TextParts([codec.JSON_TAG + b'"', text, b'"'])
    uri = s.put_parts(store.path_to_uri(str(tmp_path / "c" / "v")), parts)
    assert s.get_bytes(uri) == codec.JSON_TAG + codec._prim_dumps(text).encode()
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_a_disk_too_full_to_reserve_is_a_storage_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """No space for the reservation: the store's own error naming the path, nothing left behind;
    a filesystem without the call (EOPNOTSUPP) is written the plain way."""
    import errno
    import os

    from flyte._runtime import store
    from flyte.errors import StorageError

    def full(fd: int, offset: int, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    s = store.LocalObjectStore()
    data = b"x" * (9 << 20)
    with pytest.raises(StorageError, match=r"full|space") as info:
        s.put_bytes(store.path_to_uri(str(tmp_path / "a" / "v")), data)
    assert str(tmp_path / "a") in str(info.value)
    assert not list((tmp_path / "a").iterdir())

    def unsupported(fd: int, offset: int, size: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    uri = s.put_bytes(store.path_to_uri(str(tmp_path / "b" / "v")), data)
    assert s.get_bytes(uri) == data


# ---- a recovered run reads the stored text back ----------------------------------------------------
_recover_env = _flyte.TaskEnvironment(name="payload_recover")
_echo_calls: list[int] = []


@_recover_env.task(max_inline_io_bytes=64 * B)
async def echo_counted(data: str) -> str:
    _echo_calls.append(1)
    return data


@_recover_env.task(max_inline_io_bytes=64 * B)
async def recover_parent(data: str, workdir: str) -> int:
    import os

    out = await echo_counted(data)
    if not os.path.exists(os.path.join(workdir, "go")):
        raise RuntimeError("failure after the child")
    return len(out) + (out == data) + (out is data)


def test_a_recovered_run_reads_back_the_returned_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The child's output (its input text, stored without a second scan) replays from the store on
    recovery: the child does not run again, and the parent gets an equal text (a new object)."""
    _echo_calls.clear()
    text = "0123456789abcdef" * (3 * B // 16)
    with pytest.raises(Exception) as failed:
        _flyte.run(recover_parent, data=text, workdir=str(tmp_path))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and _echo_calls == [1]
    (tmp_path / "go").touch()
    again = _flyte.rerun(run.name, recover=True)
    assert again.outputs()[0] == len(text) + 1  # equal, read back from the store, not the same object
    assert _echo_calls == [1]
