"""A throwaway PostgreSQL server for tests of a ``postgresql://`` journal (issue 25).

``initdb`` into a fresh folder, ``postgres`` listening on 127.0.0.1 only (a free port, its socket in
that folder), one database made, and at the end the server stopped by the PID this started (SIGINT,
PostgreSQL's fast shutdown, which unlike SIGTERM does not wait for clients still connected; SIGKILL
if it lingers) and the folder removed. The binaries are found on ``PATH`` or in
Debian's ``/usr/lib/postgresql/<version>/bin``; :func:`find_binaries` returns None without them.

PostgreSQL refuses to run as root: under root the server runs as the ``postgres`` (else ``nobody``)
user, in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DB_USER = "flyte"
DB_NAME = "flyte"


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``postgres`` (None when PostgreSQL is not installed)."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(os.path.realpath(initdb)).parent
        if (folder / "postgres").exists():
            return folder
    for folder_s in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        folder = Path(folder_s)
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("PostgreSQL cannot run as root and there is no 'postgres' or 'nobody' user")


@contextmanager
def postgres_server(timeout: float = 60) -> Iterator[str]:
    """Start a server, yield ``postgresql://flyte@127.0.0.1:PORT/flyte``, stop it."""
    bins = find_binaries()
    if bins is None:
        raise RuntimeError("PostgreSQL is not installed (initdb/postgres not found)")
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="flyte-pg-"))
    data = root / "data"
    if user is not None:
        import pwd

        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    kw: dict[str, object] = {"user": user} if user is not None else {}
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [str(bins / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=root,
            **kw,  # type: ignore[call-overload]
        )
        port = _free_port()
        log = open(root / "server.log", "wb")
        proc = subprocess.Popen(
            [
                str(bins / "postgres"),
                "-D",
                str(data),
                "-k",
                str(root),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-c",
                "fsync=off",
                "-c",
                "max_connections=100",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            **kw,  # type: ignore[call-overload]
        )
        log.close()
        url = f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"
        _wait_ready(proc, port, root, timeout)
        _create_db(port)
        yield url
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, root: Path, timeout: float) -> None:
    import psycopg

    end = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"postgres exited ({proc.returncode}): {(root / 'server.log').read_text()[-2000:]}"
            )
        try:
            psycopg.connect(f"postgresql://{DB_USER}@127.0.0.1:{port}/postgres", connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > end:
                raise RuntimeError(f"postgres did not accept connections within {timeout} s") from None
            time.sleep(0.05)


def _create_db(port: int, name: str = DB_NAME) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://{DB_USER}@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]


def new_database(server_url: str, name: str) -> str:
    """A fresh database ``name`` on the server of ``server_url``; its URL."""
    from urllib.parse import urlsplit

    port = urlsplit(server_url).port
    assert port is not None
    _create_db(port, name)
    return f"postgresql://{DB_USER}@127.0.0.1:{port}/{name}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (fast shutdown: SIGTERM's smart one would wait for every client), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
