"""Errors of Spark tasks, and the translation of py4j's opaque ones into the Spark exception behind them."""

from __future__ import annotations

import re
from typing import Any

from flyte.errors import NonRecoverableError

JAVA_INSTALL_HINT = (
    "Spark needs a Java runtime (Java 17; 8 and 11 also work with pyspark 3.5). Install one:\n"
    "  Debian/Ubuntu:  apt-get install -y openjdk-17-jre-headless\n"
    "  Fedora/RHEL:    dnf install -y java-17-openjdk-headless\n"
    "  macOS:          brew install openjdk@17\n"
    "  conda:          conda install -c conda-forge openjdk=17\n"
    "or point JAVA_HOME at an installed JDK/JRE (its bin/java is used)."
)
MAX_MESSAGE_CHARS = 4000
"""Spark job failures carry whole stack traces; the message keeps the head, ``__cause__`` has it all."""


class SparkJavaNotFoundError(NonRecoverableError):
    """No usable ``java``: retrying cannot help, so it is not retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="SparkJavaNotFoundError")


class SparkSessionError(RuntimeError):
    """The Spark session could not be started (the JVM exited, a bad conf value, an unreachable master)."""


class SparkSessionConflictError(RuntimeError):
    """Spark allows one SparkContext per process; a task needs another conf while one is in use."""


class SparkJobError(RuntimeError):
    """A Spark job failed in the JVM; ``spark_class`` is the Java exception class, e.g.
    ``org.apache.spark.SparkException``, and the message is that exception's message."""

    def __init__(self, message: str, spark_class: str = "", spark_message: str = "") -> None:
        super().__init__(message)
        self.spark_class = spark_class
        self.spark_message = spark_message


def _is_py4j_java_error(exc: BaseException) -> bool:
    return any(c.__name__ == "Py4JJavaError" and c.__module__.startswith("py4j") for c in type(exc).__mro__)


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 20] + "\n... (truncated)"


def condense(message: str) -> str:
    """A Spark failure message without the JVM stack frames and pyspark's own traceback frames, so
    the user's Python error (e.g. ``ValueError: boom`` raised on an executor) is in the first lines."""
    message = message.split("\nDriver stacktrace:", 1)[0]
    out: list[str] = []
    skipping_frame = False
    for line in message.splitlines():
        stripped = line.strip()
        if (stripped.startswith("at ") and line[:1] in ("\t", " ")) or re.match(
            r"^\s*\.\.\. \d+ more$", line
        ):
            continue
        if line.startswith('  File "'):
            skipping_frame = "/pyspark/" in line or "pyspark.zip" in line
            if skipping_frame:
                continue
        elif skipping_frame and line.startswith("    "):
            continue
        else:
            skipping_frame = False
        if stripped or (out and out[-1].strip()):
            out.append(line)
    return "\n".join(out).strip()


def translate(exc: BaseException, task_name: str) -> BaseException:
    """py4j's ``Py4JJavaError`` names no Spark class; give the parent the Java exception's class and
    message instead. pyspark's own exceptions (``AnalysisException``, ``PythonException``...) already
    name the Spark error and are passed on unchanged so ``except AnalysisException`` keeps working."""
    if not _is_py4j_java_error(exc):
        return exc
    java: Any = getattr(exc, "java_exception", None)
    try:
        spark_class = str(java.getClass().getName())
        spark_message = str(java.getMessage() or "")
    except Exception:  # the JVM may be gone; fall back to py4j's text
        spark_class, spark_message = "java.lang.Throwable", str(exc)
    return SparkJobError(
        _short(f"Spark job in task {task_name!r} failed: {spark_class}: {condense(spark_message)}"),
        spark_class=spark_class,
        spark_message=spark_message,
    )
