"""Failures of Spark tasks: Spark's own error class and message reach the parent, a missing Java says
how to install one, and a timeout or Ctrl-C stops the running Spark job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import flyte
import pytest
from conftest import children_of
from flyteplugins.spark import Spark, SparkJavaNotFoundError, SparkJobError, SparkSessionConflictError
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

spark_env = flyte.TaskEnvironment(name="spark-errors", plugin_config=Spark())
env = flyte.TaskEnvironment(name="errors-parent")


@spark_env.task
def count_rows(n: int) -> int:
    return int(SparkSession.builder.getOrCreate().range(n).count())


@spark_env.task
def missing_column() -> int:
    return len(SparkSession.builder.getOrCreate().range(3).select("no_such_column").collect())


@spark_env.task
def failing_job() -> int:
    def boom(x: int) -> int:  # nested: shipped to the Python workers by value, not by module name
        raise ValueError(f"boom-{x}")

    sc = SparkSession.builder.getOrCreate().sparkContext
    return int(sc.parallelize([7], 1).map(boom).sum())


@spark_env.task(timeout=4)
def slow_job() -> int:
    """~60 s of work on 2 cores: only cancellation ends it early."""

    def slow(x: int) -> int:
        time.sleep(0.2)
        return x

    sc = SparkSession.builder.getOrCreate().sparkContext
    return int(sc.parallelize(range(600), 2).map(slow).sum())


def test_sql_error_keeps_its_spark_class_and_message() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(missing_column)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    err = run.error
    assert isinstance(err, AnalysisException)
    assert isinstance(err, flyte.errors.RuntimeUserError) and err.code == "AnalysisException"
    assert "UNRESOLVED_COLUMN" in str(err) and "no_such_column" in str(err)


def test_failed_job_names_the_java_exception() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(failing_job)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    err = run.error
    assert isinstance(err, SparkJobError), repr(err)
    assert err.spark_class == "org.apache.spark.SparkException"
    assert "ValueError: boom-7" in str(err)  # the Python error on the executor, carried in Spark's message
    assert str(err).startswith(
        "Spark job in task 'spark-errors.failing_job' failed: org.apache.spark.SparkException:"
    )
    assert len(str(err)) <= 4000


def test_timeout_cancels_the_running_job() -> None:
    t0 = time.monotonic()
    with pytest.raises(Exception) as failed:
        flyte.run(slow_job)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    elapsed = time.monotonic() - t0
    assert isinstance(run.error, flyte.errors.TaskTimeoutError), repr(run.error)
    assert elapsed < 30
    tracker = SparkSession.builder.getOrCreate().sparkContext.statusTracker()
    deadline = time.monotonic() + 15
    while tracker.getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tracker.getActiveJobsIds() == []  # the job stopped with the task, not ~60 s later
    assert flyte.run(count_rows, n=42).outputs()[0] == 42  # the session is still usable


def test_a_different_conf_while_the_session_is_busy_is_refused() -> None:
    @spark_env.task
    def hold(seconds: float) -> str:
        time.sleep(seconds)
        return SparkSession.builder.getOrCreate().sparkContext.applicationId

    other = hold.override(plugin_config=Spark(spark_conf={"spark.sql.shuffle.partitions": "5"}))

    @env.task
    async def both() -> str:
        import asyncio

        first = asyncio.ensure_future(hold.aio(3.0))
        await asyncio.sleep(1.0)
        try:
            await other.aio(0.0)
        except SparkSessionConflictError as e:
            return f"{await first}|{e}"
        raise AssertionError("the second conf should have been refused")

    app_id, message = flyte.run(both).outputs()[0].split("|", 1)
    assert app_id and "one SparkContext per process" in message
    assert "spark.sql.shuffle.partitions" in message


def _script(body: str) -> str:
    return textwrap.dedent(
        """
        import sys, time
        import flyte
        from pyspark.sql import SparkSession
        from flyteplugins.spark import Spark

        env = flyte.TaskEnvironment(name="sub", plugin_config=Spark())

        def slow(x):
            time.sleep(0.2)
            return x
        """
    ) + textwrap.dedent(body)


def test_missing_java_says_how_to_install_it(tmp_path: Path) -> None:
    code = _script(
        """
        @env.task
        def count() -> int:
            return SparkSession.builder.getOrCreate().range(3).count()

        try:
            flyte.run(count)
        except Exception as e:  # a failed run raises its root task's error
            print(type(e).__name__, e, sep="\\n")
        """
    )
    env_vars = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env_vars["PATH"] = str(tmp_path)  # no java anywhere; python is started by its full path
    out = subprocess.run(
        [sys.executable, "-c", code], env=env_vars, capture_output=True, text=True, timeout=60
    )
    text = out.stdout + out.stderr
    assert "SparkJavaNotFoundError" in out.stdout, text
    assert "apt-get install -y openjdk-17-jre-headless" in out.stdout
    assert "JAVA_HOME" in out.stdout

    env_vars["JAVA_HOME"] = str(tmp_path / "no-jdk")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env_vars, capture_output=True, text=True, timeout=60
    )
    assert f"JAVA_HOME={str(tmp_path / 'no-jdk')!r} has no bin/java" in out.stdout, out.stdout + out.stderr
    assert issubclass(SparkJavaNotFoundError, flyte.errors.NonRecoverableError)  # never retried


def test_ctrl_c_stops_the_job_and_the_process(tmp_path: Path) -> None:
    code = _script(
        """
        @env.task
        def long_job() -> int:
            sc = SparkSession.builder.getOrCreate().sparkContext
            print("JOB-STARTING", flush=True)
            return sc.parallelize(range(1500), 2).map(slow).sum()  # ~150 s unless cancelled

        try:
            flyte.run(long_job)
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
            sys.exit(130)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and "JOB-STARTING" not in line:
            line = proc.stdout.readline()
        assert "JOB-STARTING" in line, proc.stderr.read() if proc.stderr else ""
        jvms = children_of(proc.pid)
        time.sleep(2.0)  # the job is running on its executors now
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    # The process waits for the task's thread at exit, so it ends this early only if the job stopped.
    assert took < 30, f"exit took {took:.1f}s after Ctrl-C"
    assert "INTERRUPTED" in rest, err[-3000:]
    assert proc.returncode == 130
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{p}").exists() for p in jvms) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert jvms and not any(Path(f"/proc/{p}").exists() for p in jvms), "the Spark JVM outlived the process"
