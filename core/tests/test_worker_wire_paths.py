"""The per-action paths of process mode that issue 20 made leaner keep their meaning.

- both ends read every whole message of a read and keep a partial one for the next (the bytes are
  parsed where they arrived when nothing was left over; the driver reads into one kept buffer, and a
  message bigger than it gets its own);
- small plain values travel as themselves inside a message (tagged outputs), others as before;
- a worker's claim log records read back the same (the claim's JSON is written directly);
- a signature made with a key given matches the one made by looking it up.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from flyte._runtime import codec
from flyte._runtime.placement import adopt, wire
from flyte._runtime.placement.pool import _READ_SIZE, _Link
from flyte._runtime.placement.worker_main import Conn, RemoteActionState

MESSAGES: list[Any] = [("run", "a1", {"x": 1}), ("reply", 7, (True, b"\x00" * 300)), ("stop",)]


def _framed() -> bytes:
    return b"".join(wire.frame(m) for m in MESSAGES)


@pytest.mark.parametrize("cut", [1, 5, 8, 9, 20, 40, 100, 200, 350])
def test_worker_reads_whole_messages_and_keeps_the_rest(cut: int) -> None:
    ours, theirs = socket.socketpair()
    try:
        conn = Conn(theirs)
        data = _framed()
        got: list[Any] = []
        for part in (data[:cut], data[cut : cut + 13], data[cut + 13 :]):
            if part:
                ours.sendall(part)
                got += conn.pump()
        assert got == MESSAGES
        assert not conn._buf
    finally:
        ours.close()
        theirs.close()


def test_worker_pump_raises_eof_when_the_controller_closes() -> None:
    ours, theirs = socket.socketpair()
    conn = Conn(theirs)
    ours.close()
    with pytest.raises(EOFError):
        conn.pump()
    theirs.close()


class _Manager:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def _on_message(self, w: Any, msg: Any) -> None:
        assert w == "worker"
        self.got.append(msg)

    def _on_done(self, w: Any, aid: str, ok: bool, payload: Any, peak: int | None) -> None:
        self._on_message(w, ("done", aid, ok, payload, peak))


def _feed(link: _Link, data: bytes) -> None:
    """What the loop does with a buffered protocol: read into its buffer, then say how much came."""
    while data:
        room = link.get_buffer(-1)
        n = min(len(room), len(data))
        room[:n] = data[:n]
        room.release()
        link.buffer_updated(n)
        data = data[n:]


@pytest.mark.parametrize("cut", [0, 1, 8, 9, 30, 200, 349])
def test_driver_reads_whole_messages_and_keeps_the_rest(cut: int) -> None:
    mgr = _Manager()
    link = _Link(mgr)  # type: ignore[arg-type]
    data = _framed()
    _feed(link, data[:cut])  # before attach: kept until the worker is known
    link.attach("worker")  # type: ignore[arg-type]
    for i in range(cut, len(data), 17):
        _feed(link, data[i : i + 17])
    assert mgr.got == MESSAGES
    assert link._start == link._end == 0


@pytest.mark.parametrize("size", [_READ_SIZE - 20, _READ_SIZE, 3 * _READ_SIZE + 5])
def test_driver_takes_a_message_bigger_than_its_read_buffer(size: int) -> None:
    """A message that does not fit the read buffer, behind a small one and cut anywhere, gets a buffer
    of its own size; once handled the link goes back to its usual buffer."""
    mgr = _Manager()
    link = _Link(mgr)  # type: ignore[arg-type]
    link.attach("worker")  # type: ignore[arg-type]
    big = ("done", "a2", b"z" * size)
    data = wire.frame(("ping",)) + wire.frame(big) + wire.frame(("stop",))
    for i in range(0, len(data), 40_000):
        _feed(link, data[i : i + 40_000])
    assert mgr.got == [("ping",), big, ("stop",)]
    assert len(link._buf) == _READ_SIZE and link._start == link._end == 0


def test_driver_reads_one_whole_message_per_read() -> None:
    """The usual read (a chain step's result): one whole message at the front of the buffer, handled
    (a result through ``_on_done``), the buffer back at its front; also when handling it raises."""

    class Failing(_Manager):
        def _on_done(self, w: Any, aid: str, ok: bool, payload: Any, peak: int | None) -> None:
            super()._on_done(w, aid, ok, payload, peak)
            if aid == "boom":
                raise RuntimeError("handler failed")

    mgr = Failing()
    link = _Link(mgr)  # type: ignore[arg-type]
    link.attach("worker")  # type: ignore[arg-type]
    sent: list[Any] = [("done", f"a{i}", True, ("v", i), None) for i in range(3)]
    sent += [("ready",), ("done", "big", True, b"x" * (_READ_SIZE - 100), 5)]
    for m in sent:
        _feed(link, wire.frame(m))
        assert link._start == link._end == 0
    with pytest.raises(RuntimeError):
        _feed(link, wire.frame(("done", "boom", False, b"e", None)))
    assert link._start == link._end == 0  # handled, not read again
    _feed(link, wire.frame(("done", "after", True, ("v", 0), None)))
    assert mgr.got == [*sent, ("done", "boom", False, b"e", None), ("done", "after", True, ("v", 0), None)]
    assert len(link._buf) == _READ_SIZE


def test_driver_link_reads_from_a_real_socket() -> None:
    """Through asyncio's own transport (it calls get_buffer/buffer_updated): a burst of messages and
    one larger than the read buffer all arrive, in order."""
    big = ("done", "a3", b"q" * (2 * _READ_SIZE + 3))
    sent = [*MESSAGES, big, ("stop",)]

    async def main() -> list[Any]:
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        mgr = _Manager()
        loop = asyncio.get_running_loop()
        transport, link = await loop.create_connection(lambda: _Link(mgr), sock=ours)
        link.attach("worker")  # type: ignore[arg-type]
        await loop.sock_sendall(theirs, b"".join(wire.frame(m) for m in sent))
        for _ in range(500):
            if len(mgr.got) == len(sent):
                break
            await asyncio.sleep(0.01)
        transport.close()
        theirs.close()
        return mgr.got

    assert asyncio.run(main()) == sent


@pytest.mark.parametrize(
    "value",
    [1, "s", b"b", None, {"a": 1}, [1, "x"], ("v", 1), ("ref", "file:///x"), (), {}],
)
def test_small_plain_outputs_travel_as_themselves(value: Any) -> None:
    assert wire.small_plain(value)
    payload = wire.out_payload(None, "file:///nowhere", "a1", value)
    assert payload == (wire.VALUE, value)
    got = wire.out_value(None, payload)
    assert type(got) is type(value) and got == value


@pytest.mark.parametrize(
    "value",
    [
        "x" * (wire.INLINE_TEXT + 1),
        {"k": b"y" * (wire.INLINE_TEXT + 1)},
        [1] * 65,
        {"nested": {"x": 1}},
        (1, (2,)),
        {1: "int key"},
    ],
)
def test_other_outputs_keep_their_own_pickle(value: Any) -> None:
    assert not wire.small_plain(value)
    payload = wire.out_payload(None, "file:///nowhere", "a1", value)
    assert isinstance(payload, bytes) and payload == wire.dumps(value)
    assert wire.out_value(None, payload) == value


def test_remote_action_state_is_a_fresh_action_state() -> None:
    a = RemoteActionState("id1", "t", 2, "session")
    b = RemoteActionState("id2", "t")
    assert (a.action_id, a.task_name, a.attempt, a.worker, a.parent) == ("id1", "t", 2, "session", None)
    assert b.attempt == 0 and b.worker is None
    a.data["x"] = 1
    a.seqs[("i", "h")] = 1
    assert b.data == {} and b.seqs == {} and a.live_children == {} and a.log is None
    assert a.child_key.__func__ is RemoteActionState.child_key  # type: ignore[attr-defined]


@pytest.mark.parametrize("action_id", ["0a1b2c3d" * 4, 'odd "id" \\ with\nnewline', "a0"])
def test_claim_log_records_read_back(tmp_path: Path, action_id: str) -> None:
    prefix = tmp_path.as_uri()
    log = adopt.ClaimLog(None, prefix)
    t0 = time.time()
    log.claim(action_id, 3, fresh=True)
    t1 = time.time()
    log.outcome(action_id, True, (wire.VALUE, {"out": 1}), None)
    index = adopt._ClaimIndex(str(tmp_path / adopt.CLAIMS))
    index.refresh()
    found = index.lookup(action_id)
    assert found is not None
    lease, loc = found
    assert lease["a"] == action_id and lease["attempt"] == 3
    assert isinstance(lease["started"], float) and t0 - 1e-3 <= lease["started"] <= t1 + 1e-3
    assert loc is not None
    assert adopt._log_outcome(loc) == (True, (wire.VALUE, {"out": 1}), None)


def test_claim_json_matches_the_encoder(tmp_path: Path) -> None:
    """The claim written directly is the JSON the encoder writes (same keys, same order)."""
    log = adopt.ClaimLog(None, tmp_path.as_uri())
    log.claim("abc123", 0, fresh=True)
    data = next((tmp_path / adopt.CLAIMS).iterdir()).read_bytes()
    records = []
    pos = 0
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        records.append((data[pos + 4 : pos + 5], data[pos + 5 : pos + 5 + n]))
        pos += 5 + n
    kind, body = records[-1]
    assert kind == b"C"
    claim = json.loads(body)
    assert list(claim) == ["a", "attempt", "started"]
    assert claim["a"] == "abc123" and claim["attempt"] == 0 and isinstance(claim["started"], float)


def test_a_signature_with_the_key_given_is_the_looked_up_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(codec.PICKLE_KEY_ENV, "k" * 32)
    body = b"payload"
    assert codec.sign_pickle(body, codec.pickle_key()) == codec.sign_pickle(body)
    assert codec.verify_pickle(codec.sign_pickle(body, b"k" * 32)) == body


def _records(folder: Path) -> list[bytes]:
    kinds = []
    for f in folder.iterdir():
        data = f.read_bytes()
        pos = 0
        while pos + 5 <= len(data):
            n = int.from_bytes(data[pos : pos + 4], "big")
            kinds.append(data[pos + 4 : pos + 5])
            pos += 5 + n
    return kinds


def test_a_held_outcome_goes_with_the_next_claim_or_when_the_driver_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's outcome for a live driver is written with its next claim (one write per action);
    when the driver goes (end of file on the socket) it is written first thing, so a recovering
    driver finds it."""
    from flyte._runtime.placement import worker_main

    driver, ours = socket.socketpair()
    w = worker_main.Worker(worker_main.Conn(ours), {"run_name": "r", "run_prefix": tmp_path.as_uri()})
    try:
        claims = tmp_path / adopt.CLAIMS
        w.claims.claim("aaa", 0, fresh=True)
        w._done("aaa", (True, (wire.VALUE, 5), None))
        assert Conn(driver).recv() == ("done", "aaa", True, (wire.VALUE, 5), None)  # sent at once
        assert _records(claims) == [b"H", b"C"]  # held
        w.claims.claim("bbb", 0, fresh=True)
        assert _records(claims) == [b"H", b"C", b"O", b"C"]
        w._done("bbb", (True, (wire.VALUE, 6), None))
        assert _records(claims) == [b"H", b"C", b"O", b"C"]

        class Exited(Exception):
            pass

        def fake_exit() -> None:
            raise Exited

        monkeypatch.setattr(worker_main, "_exit", fake_exit)
        driver.close()  # the driver is gone
        with pytest.raises(Exited):  # idle: it exits, after writing what it held
            w._receive()
        index = adopt._ClaimIndex(str(claims))
        index.refresh()
        for aid, value in (("aaa", 5), ("bbb", 6)):
            found = index.lookup(aid)
            assert found is not None and found[1] is not None
            assert adopt._log_outcome(found[1]) == (True, (wire.VALUE, value), None)
    finally:
        ours.close()
        w.loop.close()
        w.controller.sync_pool.shutdown(wait=False)  # type: ignore[attr-defined]


def test_step_now_runs_the_one_step_scheduled_as_its_own_task() -> None:
    """From a loop callback: the task's first step runs at once, as the current task; a second
    callback scheduled meanwhile (another thread's, say) leaves both to the loop, in order."""
    import asyncio

    loop = asyncio.new_event_loop()
    seen: list[Any] = []

    async def body(tag: str) -> None:
        seen.append((tag, asyncio.current_task() is tasks[tag]))
        await asyncio.sleep(0)
        seen.append((tag, "resumed"))

    tasks: dict[str, asyncio.Task[None]] = {}

    def from_callback() -> None:
        ready = wire.run_queue(loop)
        assert ready is not None
        before = len(ready)
        tasks["now"] = loop.create_task(body("now"))
        wire.step_now(ready, before)
        seen.append("after now")
        before = len(ready)
        tasks["later"] = loop.create_task(body("later"))
        loop.call_soon(seen.append, "other")
        wire.step_now(ready, before)  # two were added: nothing runs here
        seen.append("after later")

    try:
        loop.call_soon(from_callback)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert seen[:3] == [("now", True), "after now", "after later"]
        assert ("later", True) in seen and seen.index(("later", True)) < seen.index("other")
        assert ("now", "resumed") in seen and ("later", "resumed") in seen
    finally:
        loop.close()


def test_a_signer_signs_as_sign_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """``codec.signer`` (the claim log's outcomes) writes the bytes ``sign_pickle`` writes, for
    each of two keys, and they verify."""
    for key in (b"k" * 32, b"other key"):
        monkeypatch.setenv(codec.PICKLE_KEY_ENV, key.decode())
        sign = codec.signer(codec.pickle_key())
        for body in (b"", b"payload", b"\x00" * 1000):
            assert sign(body) == codec.sign_pickle(body)
            assert codec.verify_pickle(sign(body)) == body


def test_worker_reads_one_message_per_read_then_a_split_one() -> None:
    """A read of exactly one message (the usual one: unpickled from the kept buffer, nothing
    kept), then one cut in two, then two in one read: each comes out whole, once, and a value read
    earlier is not changed by later reads into the same buffer."""
    ours, theirs = socket.socketpair()
    try:
        conn = Conn(theirs)
        first = wire.frame(("reply", 1, (True, b"a" * 100)))
        ours.sendall(first)
        got = conn.pump()
        assert got == [("reply", 1, (True, b"a" * 100))] and not conn._buf
        second = wire.frame(("reply", 2, (True, b"b" * 100)))
        ours.sendall(second[:5])
        assert conn.pump() == []
        ours.sendall(second[5:] + first)
        assert conn.pump() == [("reply", 2, (True, b"b" * 100)), ("reply", 1, (True, b"a" * 100))]
        assert not conn._buf
        assert got == [("reply", 1, (True, b"a" * 100))]
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize(
    "limits",
    [[5], [None], [3, 7], [7, None, 3], [0, 4, 2], [2**40, 2**33], [None, None], [1, 1, 1]],
)
def test_a_workers_memory_limit_is_the_largest_of_its_actions(limits: list[int | None]) -> None:
    """``update_limit``: the largest limit of the actions a worker runs, none if one has none."""
    from types import SimpleNamespace

    from flyte._runtime.placement.pool import WorkerProc

    w = WorkerProc.__new__(WorkerProc)
    w.active = {f"a{i}": v for i, v in enumerate(limits)}
    w.watched = SimpleNamespace(limit=-1)  # type: ignore[assignment]
    w.update_limit()
    want = None if any(v is None for v in limits) else max(v for v in limits if v)
    assert w.watched.limit == want
