"""The plugin without a JVM: discovery through the entry point, ``Spark(...)`` and the job spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import flyte
import pytest
from flyte.extend import SerializationContext
from flyteplugins.spark import Spark, SparkTask

GOLDEN = Path(__file__).parent / "golden"


class FakePodTemplate:
    """Stands in for a pod-template object from another plugin: only ``to_k8s_pod()`` is used."""

    def to_k8s_pod(self) -> dict[str, Any]:
        return {"metadata": {"labels": {"role": "executor"}}, "spec": {"nodeSelector": {"pool": "spark"}}}


def full_env() -> flyte.TaskEnvironment:
    return flyte.TaskEnvironment(
        name="spark-golden",
        plugin_config=Spark(
            spark_conf={
                "spark.executor.instances": 2,
                "spark.executor.memory": "2g",
                "spark.dynamicAllocation.enabled": False,
            },
            hadoop_conf={"fs.s3a.endpoint": "http://127.0.0.1:9000"},
            executor_path="/usr/bin/python3.11",
            applications_path="local:///app/main.py",
            driver_pod={"metadata": {"labels": {"role": "driver"}}},
            executor_pod=FakePodTemplate(),
        ),
    )


def _golden(name: str, data: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    assert data == json.loads(path.read_text())


def test_custom_config_matches_golden() -> None:
    @full_env().task
    def etl(n: int) -> int:
        return n

    _golden("spark_job.full", etl.custom_config(SerializationContext()))

    @flyte.TaskEnvironment(name="spark-defaults", plugin_config=Spark()).task
    def defaults(n: int) -> int:
        return n

    _golden("spark_job.defaults", defaults.custom_config(SerializationContext()))
    sctx = SerializationContext(
        extra={"interpreter_path": "/venv/bin/python", "entrypoint_path": "/venv/bin/run.py"}
    )
    job = defaults.custom_config(sctx)
    assert (
        job["executorPath"] == "/venv/bin/python" and job["mainApplicationFile"] == "local:///venv/bin/run.py"
    )


def test_task_spec_carries_the_job_and_the_task_type() -> None:
    @full_env().task
    def etl(n: int) -> int:
        return n

    spec = etl.spec().model_dump(mode="json")
    assert spec["task_type"] == "spark"
    assert spec["custom_config"]["sparkConf"]["spark.executor.instances"] == "2"
    assert spec["custom_config"]["applicationType"] == "PYTHON"


def test_environment_and_override_pick_the_spark_task() -> None:
    env = flyte.TaskEnvironment(
        name="spark-pick", plugin_config=Spark(spark_conf={"spark.master": "local[1]"})
    )

    @env.task
    def t(n: int) -> int:
        return n

    assert isinstance(t, SparkTask) and t.task_type == "spark"
    other = t.override(plugin_config=Spark(spark_conf={"spark.master": "local[2]"}))
    assert isinstance(other, SparkTask) and other.spark.master == "local[2]" and t.spark.master == "local[1]"
    assert other.identity != t.identity  # the conf is part of the task's identity


def test_spark_config_validation() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="spark_conf"):
        Spark(spark_conf=["spark.master"])  # type: ignore[arg-type]
    with pytest.raises(flyte.errors.InvalidParameterError, match=r"spark\.foo"):
        Spark(spark_conf={"spark.foo": object()})  # type: ignore[dict-item]
    with pytest.raises(flyte.errors.InvalidParameterError, match="driver_pod"):
        Spark(driver_pod=42)
    with pytest.raises(flyte.errors.InvalidParameterError, match="executor_path"):
        Spark(executor_path="")
    assert Spark(spark_conf={"a": True, "b": 3}).spark_conf == {"a": "true", "b": "3"}


def test_session_conf_binds_to_loopback_only_on_this_machine() -> None:
    local = Spark().session_conf()
    assert local["spark.master"] == "local[*]"
    assert local["spark.driver.host"] == local["spark.driver.bindAddress"] == "127.0.0.1"
    assert local["spark.pyspark.python"] == sys.executable

    on_loopback = Spark(spark_conf={"spark.master": "spark://127.0.0.1:7077"}).session_conf()
    assert on_loopback["spark.driver.bindAddress"] == "127.0.0.1"

    remote = Spark(
        spark_conf={"spark.master": "spark://10.1.2.3:7077"}, executor_path="/opt/py"
    ).session_conf()
    assert "spark.driver.bindAddress" not in remote and remote["spark.pyspark.python"] == "/opt/py"

    mine = Spark(spark_conf={"spark.driver.host": "myhost"}, hadoop_conf={"fs.x": "1"}).session_conf()
    assert mine["spark.driver.host"] == "myhost" and mine["spark.hadoop.fs.x"] == "1"
    # An executor_path that exists only in the cluster's image is not used for local runs.
    assert Spark(executor_path="/nonexistent/python").session_conf()["spark.pyspark.python"] == sys.executable


def test_discovered_through_the_entry_point_without_importing_pyspark() -> None:
    code = (
        "import sys, flyte\n"
        "from flyte._plugins.manager import load_plugins\n"
        "from flyteplugins.spark import Spark\n"
        "env = flyte.TaskEnvironment(name='x', plugin_config=Spark())\n"
        "@env.task\n"
        "def t() -> int:\n"
        "    return 1\n"
        "info = load_plugins().plugins['spark']\n"
        "print(info.distribution, info.task_types, sorted(info.types), info.error)\n"
        "print('heavy:', sorted(m for m in ('pyspark', 'pandas', 'pyarrow', 'py4j') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("flyte-plugin-spark ['spark']") and first.endswith("None")
    # pandas inputs are the core's (flyte.io.DataFrame conversions); the plugin adds Spark's type.
    assert "pyspark.sql.dataframe.DataFrame" in first and "pandas.core.frame.DataFrame" not in first
    assert second == "heavy: []"
