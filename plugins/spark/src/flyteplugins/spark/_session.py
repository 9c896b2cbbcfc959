"""One Spark session per process, reused by every Spark task that asks for the same conf.

Starting a session costs seconds (a JVM, then a SparkContext and its first job's warm-up); a run with
several Spark tasks pays it once. Spark allows a single SparkContext per process, so a task with a
different conf stops the idle session and starts its own; while another task still uses a session
with a different conf, it fails with ``SparkSessionConflictError`` instead of pulling it from under
that task. ``FLYTE_SPARK_REUSE_SESSION=0`` stops the session after each task instead.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flyteplugins.spark._config import LOOPBACK, is_loopback_master
from flyteplugins.spark._errors import (
    JAVA_INSTALL_HINT,
    SparkJavaNotFoundError,
    SparkSessionConflictError,
    SparkSessionError,
)

log = logging.getLogger("flyteplugins.spark")

REUSE_ENV = "FLYTE_SPARK_REUSE_SESSION"
STOP_TIMEOUT_S = 30.0
"""``stop_session()`` returns within this: Spark's own stop (its jobs cancelled, the SparkContext and
the JVM closed) gets this long, then the JVM this process launched is killed and forgotten."""


def find_java() -> str:
    """The ``java`` Spark will launch (``$JAVA_HOME/bin/java``, else ``java`` on PATH), or a clear error."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = os.path.join(home, "bin", "java")
        if os.access(java, os.X_OK):
            return java
        raise SparkJavaNotFoundError(f"JAVA_HOME={home!r} has no bin/java.\n{JAVA_INSTALL_HINT}")
    java_on_path = shutil.which("java")
    if java_on_path is None:
        raise SparkJavaNotFoundError(
            f"No 'java' found (JAVA_HOME is unset and PATH has none).\n{JAVA_INSTALL_HINT}"
        )
    return java_on_path


@dataclass
class SessionStats:
    """What the pool did in this process: for tests, the benchmark and ``session_info()``."""

    starts: int = 0
    reuses: int = 0
    stops: int = 0
    start_seconds: float = 0.0


class SessionPool:
    """Holds the process's Spark session, the conf it was built with and how many tasks use it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._session: Any = None
        self._key: tuple[tuple[str, str], ...] | None = None
        self._users = 0
        self._atexit = False
        self.stats = SessionStats()

    # ---- acquire / release ---------------------------------------------------------------------
    def acquire(self, conf: Mapping[str, str]) -> Any:
        """The session for ``conf``, started or reused; pair with ``release``."""
        key = tuple(sorted(conf.items()))
        with self._lock:
            if self._session is not None and not _alive(self._session):
                self._forget()  # the user's code called spark.stop(); start afresh
            if self._session is not None and self._key == key:
                self._users += 1
                self.stats.reuses += 1
                return self._session
            if self._session is not None:
                if self._users > 0:
                    raise SparkSessionConflictError(
                        "Spark allows one SparkContext per process, and a running Spark task uses one with a "
                        f"different conf ({_diff(self._key or (), key)}). Give the tasks the same Spark "
                        "conf, or run them one after the other."
                    )
                self._stop_locked()
            self._session = self._start(conf)
            self._key = key
            self._users = 1
            return self._session

    def release(self, session: Any) -> None:
        with self._lock:
            if session is not self._session:
                return
            self._users = max(0, self._users - 1)
            if self._users == 0 and os.environ.get(REUSE_ENV, "1") == "0":
                self._stop_locked()

    async def acquire_async(self, conf: Mapping[str, str]) -> Any:
        """``acquire`` off the event loop (a start takes seconds); a cancelled caller's lease is returned."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, self.acquire, dict(conf))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            fut.add_done_callback(self._release_done)
            raise

    def _release_done(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.release(fut.result())

    # ---- lifecycle -----------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        """The live session, if any (for reading DataFrames back outside a Spark task)."""
        with self._lock:
            if self._session is not None and not _alive(self._session):
                self._forget()
            return self._session

    @property
    def conf(self) -> dict[str, str]:
        return dict(self._key or ())

    def stop(self) -> None:
        """Stop the session (tests, the benchmark, process exit)."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._session is None:
            return
        session = self._session
        done = threading.Event()

        def stop() -> None:
            try:
                session.stop()
            except Exception as e:  # a dead JVM cannot be stopped twice; forget it either way
                log.debug("stopping the Spark session failed: %s", e)
            finally:
                done.set()

        threading.Thread(target=stop, name="flyte-spark-stop", daemon=True).start()
        if not done.wait(STOP_TIMEOUT_S):
            log.warning("the Spark session did not stop within %gs: killing its JVM", STOP_TIMEOUT_S)
            _kill_gateway()
            done.wait(5.0)  # Spark's stop fails fast without its JVM: let it finish before a new start
        self.stats.stops += 1
        self._forget()

    def _forget(self) -> None:
        self._session = None
        self._key = None
        self._users = 0

    def _start(self, conf: Mapping[str, str]) -> Any:
        import time

        t0 = time.perf_counter()
        find_java()
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        master = conf.get("spark.master", "local[*]")
        foreign = SparkContext._active_spark_context
        if foreign is not None and foreign.master != master:
            log.warning(
                "stopping a Spark session not started by flyte (master %s) to start %s",
                foreign.master,
                master,
            )
            SparkSession.builder.getOrCreate().stop()
        if is_loopback_master(master):
            # Read by the JVM when it starts (first session of the process): its web UIs and the
            # Python workers bind to loopback too, not to the machine's other addresses.
            os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
        # pyspark reads the executors' Python from PYSPARK_PYTHON when the SparkContext is created.
        saved = os.environ.get("PYSPARK_PYTHON")
        os.environ["PYSPARK_PYTHON"] = conf["spark.pyspark.python"]
        try:
            builder: Any = SparkSession.builder
            for k, v in conf.items():
                builder = builder.config(k, v)
            session = builder.getOrCreate()
        except Exception as e:
            raise _start_error(e, master) from e
        finally:
            if saved is None:
                os.environ.pop("PYSPARK_PYTHON", None)
            else:
                os.environ["PYSPARK_PYTHON"] = saved
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        self.stats.starts += 1
        self.stats.start_seconds += time.perf_counter() - t0
        log.info("started Spark session (master %s) in %.1fs", master, time.perf_counter() - t0)
        return session


def _kill_gateway() -> None:
    """Kill the JVM pyspark launched for this process and forget it, so a next session starts anew."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)  # set by pyspark when it launched the JVM itself
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None


def _alive(session: Any) -> bool:
    sc = getattr(session, "_sc", None)
    return sc is not None and getattr(sc, "_jsc", None) is not None


def _diff(old: tuple[tuple[str, str], ...], new: tuple[tuple[str, str], ...]) -> str:
    a, b = dict(old), dict(new)
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:5]) or "same keys"


def _start_error(e: Exception, master: str) -> Exception:
    text = f"{type(e).__name__}: {e}"
    if "JAVA_GATEWAY_EXITED" in text or "Java gateway process exited" in text:
        return SparkSessionError(
            f"The Spark JVM exited while starting (java: {find_java()}). Its output above says why; "
            f"a Java version pyspark does not support is a common cause.\n{JAVA_INSTALL_HINT}"
        )
    return SparkSessionError(f"Could not start a Spark session on {master}: {text}")


POOL = SessionPool()
"""The process's session pool (one SparkContext per process is Spark's rule)."""


def session_info() -> dict[str, Any]:
    """Starts, reuses and stops of the process's Spark session, and the conf of the live one."""
    s = POOL.stats
    return {
        "starts": s.starts,
        "reuses": s.reuses,
        "stops": s.stops,
        "start_seconds": round(s.start_seconds, 3),
        "active": POOL.session is not None,
        "conf": POOL.conf,
    }


def stop_session() -> None:
    """Stop the process's Spark session now (the next Spark task starts a new one)."""
    POOL.stop()
