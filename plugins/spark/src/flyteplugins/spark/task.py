"""The module path flyte-sdk users import from: ``from flyteplugins.spark.task import Spark``.

``PysparkFunctionTask`` is the name the flyte-sdk plugin gives its task class; here it is ``SparkTask``.
"""

from __future__ import annotations

from flyteplugins.spark._config import Spark
from flyteplugins.spark._task import TASK_TYPE, SparkTask

PysparkFunctionTask = SparkTask
DEFAULT_SPARK_CONTEXT_NAME = "FlyteSpark"
"""The app name flyte-sdk gives its sessions; sessions here are named by ``Spark.session_conf()``."""

__all__ = ["DEFAULT_SPARK_CONTEXT_NAME", "TASK_TYPE", "PysparkFunctionTask", "Spark", "SparkTask"]
