"""``Spark(...)``: the plugin_config that turns a TaskEnvironment's tasks into Spark tasks.

Pure data, no pyspark import: it is built when a module defines its environments, long before any
Spark session exists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from flyte.errors import InvalidParameterError

DEFAULT_APP_NAME = "flyte-spark"
LOCAL_MASTER = "local[*]"
LOOPBACK = "127.0.0.1"
ConfValue = str | int | float | bool
"""Spark settings are strings; numbers and booleans are accepted and written the way Spark spells them."""
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _str_map(owner: str, name: str, value: Any) -> dict[str, ConfValue]:
    """Validated settings, normalised to strings (``True`` -> ``"true"``) as Spark reads them."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            owner, name, value, "Use a dict of str to str, e.g. {'spark.executor.cores': '2'}."
        )
    out: dict[str, ConfValue] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise InvalidParameterError(owner, name, value, f"Keys must be non-empty strings; got {k!r}.")
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, (str, int, float)):
            out[k] = str(v)
        else:
            raise InvalidParameterError(
                owner, name, value, f"Value of {k!r} must be a str, int, float or bool."
            )
    return out


def _check_pod(owner: str, name: str, value: Any) -> Any:
    if value is None or isinstance(value, Mapping) or callable(getattr(value, "to_k8s_pod", None)):
        return value
    if callable(getattr(value, "to_dict", None)):
        return value
    raise InvalidParameterError(
        owner, name, value, "Use a pod template object (with to_k8s_pod() or to_dict()) or a dict pod spec."
    )


def is_loopback_master(master: str) -> bool:
    """True for ``local``/``local[n]`` and for cluster URLs on this machine (driver may bind to 127.0.0.1)."""
    if master == "local" or master.startswith("local["):
        return True
    hosts = urlparse(master).netloc.split(",")
    return all(h.rsplit(":", 1)[0] in _LOOPBACK_HOSTS for h in hosts if h)


@dataclass
class Spark:
    """How a Spark task's session is configured, locally and in the job spec sent to a cluster.

    ``spark_conf`` goes to the SparkSession builder (``spark.master`` picks the cluster; the default is
    ``local[*]``); ``hadoop_conf`` becomes ``spark.hadoop.*``; ``executor_path`` is the Python the
    executors run; ``applications_path`` is the main application file of the job spec;
    ``driver_pod``/``executor_pod`` are pod templates for a Kubernetes Spark operator.

    Mutable like flyte-sdk's (``deepcopy`` then edit, for ``task.override(plugin_config=...)``); every
    assignment is checked as the constructor's arguments are.
    """

    spark_conf: Mapping[str, ConfValue] = field(default_factory=dict)
    hadoop_conf: Mapping[str, ConfValue] = field(default_factory=dict)
    executor_path: str | None = None
    applications_path: str | None = None
    driver_pod: Any = None
    executor_pod: Any = None

    def __setattr__(self, name: str, value: Any) -> None:
        owner = "Spark"
        if name in ("spark_conf", "hadoop_conf"):
            value = _str_map(owner, name, value)
        elif name in ("executor_path", "applications_path"):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidParameterError(owner, name, value, "Use a non-empty path string or None.")
        elif name in ("driver_pod", "executor_pod"):
            _check_pod(owner, name, value)
        object.__setattr__(self, name, value)

    def __hash__(self) -> int:
        """Hashable although it holds dicts (the generated hash would fail on them)."""
        return hash(repr(self))

    @property
    def master(self) -> str:
        return str(self.spark_conf.get("spark.master") or LOCAL_MASTER)

    def session_conf(self) -> dict[str, str]:
        """The complete conf the local session is built with; also the key under which it is reused.

        On this machine (``local[*]`` or a cluster URL on 127.0.0.1) the driver binds to 127.0.0.1 so
        nothing listens on the machine's other addresses; the user's ``spark_conf`` wins over that.
        """
        conf: dict[str, str] = {
            "spark.app.name": DEFAULT_APP_NAME,
            "spark.master": self.master,
            # Spark's console progress bar would draw over flyte's own progress view.
            "spark.ui.showConsoleProgress": "false",
        }
        if is_loopback_master(self.master):
            conf["spark.driver.host"] = LOOPBACK
            conf["spark.driver.bindAddress"] = LOOPBACK
        for k, v in self.hadoop_conf.items():
            conf[k if k.startswith("spark.hadoop.") else f"spark.hadoop.{k}"] = str(v)
        conf.update({k: str(v) for k, v in self.spark_conf.items()})
        conf["spark.pyspark.python"] = self.python_for_executors(conf)
        return conf

    def python_for_executors(self, conf: Mapping[str, str]) -> str:
        """The Python the executors run. On this machine that is this interpreter (it has the task's
        code and packages) unless ``executor_path`` names one that exists here: ``executor_path`` is
        usually the image's Python, which only the cluster has."""
        if conf.get("spark.pyspark.python"):
            return conf["spark.pyspark.python"]
        local = is_loopback_master(self.master)
        if self.executor_path and (not local or os.path.exists(self.executor_path)):
            return self.executor_path
        return os.environ.get("PYSPARK_PYTHON") or sys.executable
