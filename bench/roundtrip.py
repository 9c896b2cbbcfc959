"""The floor under a worker-process action: two bare Python processes ping-ponging a small message.

    python bench/roundtrip.py                 # 2000 round trips, blocking and asyncio
    python bench/roundtrip.py -n 5000 --repeat 5

A parent and a child (``python bench/roundtrip.py --child FD MODE``, no flyte imported) share a
``socketpair``; the parent sends a framed pickle the size of a small ``run`` message (8-byte length,
then the body), the child answers with one the size of a ``done``. Two modes:

- ``blocking``: plain ``sendall`` / ``recv`` on both sides (the kernel's wake-up and nothing else);
- ``asyncio``: an event loop on both sides, the way our driver and workers read: the parent's end is
  an ``asyncio.BufferedProtocol`` resolving a future, the child's is read from ``loop.add_reader``.

A sequential chain step in process mode is one such round trip plus our own work (journal, IDs,
pickling the inputs and output, the claim log), so this is what the machine allows for it. Reported
per round trip: wall, and CPU of parent and child (``getrusage``), best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import resource
import socket
import subprocess
import sys
import time
from typing import Any

HEADER = 8
RUN_MSG = ("run", "a0-1-abcdef", {"tmpl": None, "tmpl_id": 0, "inputs": b"\x80\x05K\x01.", "attempt": 0})
DONE_MSG = ("done", "a0-1-abcdef", True, b"\x80\x05K\x02.", None)


def _frame(msg: Any) -> bytes:
    body = pickle.dumps(msg, protocol=5)
    return len(body).to_bytes(HEADER, "big") + body


def _split(buf: bytearray) -> list[Any]:
    """Every whole message in ``buf`` (consumed), unpickled."""
    out, pos = [], 0
    while len(buf) - pos >= HEADER:
        end = pos + HEADER + int.from_bytes(buf[pos : pos + HEADER], "big")
        if end > len(buf):
            break
        out.append(pickle.loads(bytes(buf[pos + HEADER : end])))
        pos = end
    del buf[:pos]
    return out


# ---- child -------------------------------------------------------------------------------------------
def _child_blocking(sock: socket.socket) -> None:
    buf = bytearray()
    done = _frame(DONE_MSG)
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return
        buf += chunk
        for msg in _split(buf):
            sock.sendall(_frame(("cpu", time.process_time())) if msg == ("cpu",) else done)


def _child_asyncio(sock: socket.socket) -> None:
    loop = asyncio.new_event_loop()
    sock.setblocking(False)
    buf = bytearray()

    def reply() -> None:
        sock.send(_frame(DONE_MSG))  # small: the socket buffer takes it at once

    def readable() -> None:
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            loop.stop()
            return
        buf.extend(chunk)
        for msg in _split(buf):
            if msg == ("cpu",):
                sock.send(_frame(("cpu", time.process_time())))
            else:
                loop.call_soon(reply)  # as a worker does: the action runs as a task, its result after

    loop.add_reader(sock.fileno(), readable)
    loop.run_forever()


def child_main(fd: int, mode: str) -> None:
    sock = socket.socket(fileno=fd)
    (_child_blocking if mode == "blocking" else _child_asyncio)(sock)
    os._exit(0)


# ---- parent ------------------------------------------------------------------------------------------
def _spawn(mode: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    mine, theirs = socket.socketpair()
    fd = theirs.fileno()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(fd), mode], pass_fds=(fd,))
    theirs.close()
    return proc, mine


def _ask(sock: socket.socket, msg: Any) -> Any:
    """One blocking request and its answer (the socket idle before)."""
    sock.sendall(_frame(msg))
    buf = bytearray()
    while True:
        buf += sock.recv(1 << 16)
        got = _split(buf)
        if got:
            return got[0]


def _run_blocking(sock: socket.socket, n: int) -> None:
    msg = _frame(RUN_MSG)
    buf = bytearray()
    for _ in range(n):
        sock.sendall(msg)
        while not _split(buf):
            buf += sock.recv(1 << 16)


class _Link(asyncio.BufferedProtocol):
    """Reads into one kept buffer, as our driver does: a plain ``Protocol`` gets a fresh 256 KiB
    ``bytes`` per read, which glibc maps and unmaps (~18 µs a round trip on a 2-vCPU VM)."""

    def __init__(self) -> None:
        self.buf = bytearray(1 << 16)
        self.end = 0
        self.waiter: asyncio.Future[Any] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        got = bytearray(self.buf[: self.end])  # the messages here are small: a copy is cheap
        msgs = _split(got)
        self.buf[: len(got)] = got  # what _split left (a partial message) back at the front
        self.end = len(got)
        for msg in msgs:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(msg)


async def _run_asyncio(sock: socket.socket, n: int) -> None:
    loop = asyncio.get_running_loop()
    _, link = await loop.create_connection(_Link, sock=sock)
    msg = _frame(RUN_MSG)
    for _ in range(n):
        link.waiter = loop.create_future()
        link.transport.write(msg)
        await link.waiter
    link.transport.close()


def measure(mode: str, n: int) -> dict[str, float]:
    """One child, ``n`` round trips after a warm-up; per round trip: wall, parent CPU, child CPU."""
    proc, sock = _spawn(mode)
    _run_blocking(sock, 200)  # warm-up
    k0 = _ask(sock, ("cpu",))[1]
    if mode != "blocking":
        loop = asyncio.new_event_loop()
        timed = sock.dup()  # its transport closes it; ``sock`` stays for the last question
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if mode == "blocking":
        _run_blocking(sock, n)
    else:
        loop.run_until_complete(_run_asyncio(timed, n))
        loop.close()
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    sock.setblocking(True)  # the loop made the shared file description non-blocking
    child = _ask(sock, ("cpu",))[1] - k0
    sock.close()
    proc.wait()
    parent = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    return {"wall": wall / n, "parent_cpu": parent / n, "child_cpu": child / n}


def best(mode: str, n: int, repeat: int) -> dict[str, float]:
    runs = [measure(mode, n) for _ in range(repeat)]
    return {k: min(r[k] for r in runs) for k in runs[0]}


def fmt_us(s: float) -> str:
    return f"{s * 1e6:.0f} µs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="round trips per measurement")
    ap.add_argument("--repeat", type=int, default=3, help="fresh child processes per mode (best of)")
    ap.add_argument("--child", nargs=2, metavar=("FD", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_main(int(args.child[0]), args.child[1])
    print("| raw round trip (two processes, socketpair) | wall | parent CPU | child CPU |")
    print("| --- | ---: | ---: | ---: |")
    for mode in ("blocking", "asyncio"):
        r = best(mode, args.n, args.repeat)
        print(f"| {mode} | {fmt_us(r['wall'])} | {fmt_us(r['parent_cpu'])} | {fmt_us(r['child_cpu'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
