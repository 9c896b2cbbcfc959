"""SparkTask: a Python function that runs with a Spark session ready, as a task of type "spark".

The controller runs it in-process (``backend=None``): ``pre`` gets the process's session (started or
reused) and puts it in ``flyte.ctx().data["spark_session"]``; ``execute`` runs the function with the
action's Spark jobs tagged, so a timeout or Ctrl-C cancels exactly those jobs, and stores a returned
DataFrame as Parquet in the run's object store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import flyte
from flyte.extend import AsyncFunctionTaskTemplate, SerializationContext, run_sync
from flyteplugins.spark._config import Spark
from flyteplugins.spark._dataframe import persist, reread
from flyteplugins.spark._errors import translate
from flyteplugins.spark._session import POOL
from typing_extensions import ParamSpec

P = ParamSpec("P")
R = TypeVar("R")

TASK_TYPE = "spark"
DEFAULT_INTERPRETER = "/opt/venv/bin/python"
"""``executorPath`` of the job spec when neither ``Spark(executor_path=)`` nor the serialization
context's ``extra["interpreter_path"]`` names one: the Python of flyte's default images."""
DEFAULT_ENTRYPOINT = "/opt/venv/bin/runtime.py"
"""Main application file of the job spec (``local://`` + this) unless ``applications_path`` is given
or the serialization context's ``extra["entrypoint_path"]`` names another."""

log = logging.getLogger("flyteplugins.spark")

_leases: dict[tuple[str, str, int], Any] = {}
_leases_lock = threading.Lock()


def _action_key() -> tuple[str, str, int] | None:
    tctx = flyte.ctx()
    return None if not tctx else (tctx.run_name, tctx.action_id, tctx.attempt)


def _job_tag(key: tuple[str, str, int] | None) -> str:
    """Spark job tags may not contain commas; run names and action IDs never do."""
    if key is None:
        return "flyte-local"
    run, action, attempt = key
    return f"flyte-{run}-{action[:16]}-{attempt}"


def _pod_spec(pod: Any) -> Any:
    if pod is None or isinstance(pod, Mapping):
        return None if pod is None else dict(pod)
    for method in ("to_k8s_pod", "to_dict"):
        fn = getattr(pod, method, None)
        if callable(fn):
            return fn()
    return pod


def _cancel(session: Any, tag: str) -> None:
    try:
        session.sparkContext.cancelJobsWithTag(tag)
        log.info("cancelled the Spark jobs of %s", tag)
    except Exception as e:  # the JVM may already be gone (Ctrl-C at exit)
        log.debug("cancelling Spark jobs %s failed: %s", tag, e)


@dataclass(kw_only=True)
class SparkTask(AsyncFunctionTaskTemplate[P, R]):
    """A task whose function finds a Spark session ready (``flyte.ctx().data["spark_session"]``,
    ``SparkSession.builder.getOrCreate()``). Chosen by ``TaskEnvironment(plugin_config=Spark(...))``."""

    task_type: str = TASK_TYPE
    plugin_config: Any = field(default_factory=Spark)

    @property
    def spark(self) -> Spark:
        cfg = self.plugin_config
        if cfg is None:
            return Spark()
        if not isinstance(cfg, Spark):
            raise TypeError(
                f"Task {self.name!r}: plugin_config must be flyteplugins.spark.Spark, "
                f"got {type(cfg).__name__}"
            )
        return cfg

    # ---- the job spec (for a Spark operator on a cluster) ------------------------------------------
    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        """The SparkJob spec: conf, main application file, executor Python, pod templates."""
        cfg = self.spark
        job: dict[str, Any] = {
            "applicationType": "PYTHON",
            "mainApplicationFile": cfg.applications_path
            or "local://" + sctx.extra.get("entrypoint_path", DEFAULT_ENTRYPOINT),
            "mainClass": "",
            "executorPath": cfg.executor_path or sctx.extra.get("interpreter_path", DEFAULT_INTERPRETER),
            "sparkConf": {k: str(v) for k, v in cfg.spark_conf.items()},
            "hadoopConf": {k: str(v) for k, v in cfg.hadoop_conf.items()},
        }
        if cfg.driver_pod is not None:
            job["driverPod"] = _pod_spec(cfg.driver_pod)
        if cfg.executor_pod is not None:
            job["executorPod"] = _pod_spec(cfg.executor_pod)
        return job

    # ---- running in a run ----------------------------------------------------------------------------
    async def pre(self) -> dict[str, Any]:
        """Get the session (reused when the conf matches) before the function runs."""
        session = await POOL.acquire_async(self.spark.session_conf())
        key = _action_key()
        if key is not None:
            with _leases_lock:
                old = _leases.pop(key, None)
                _leases[key] = session
            if old is not None:
                POOL.release(old)
        return {"spark_session": session}

    async def execute(self, **inputs: Any) -> Any:
        key = _action_key()
        with _leases_lock:
            session = _leases.pop(key, None) if key is not None else None
        if session is None:  # execute() called without pre()
            session = await POOL.acquire_async(self.spark.session_conf())
        tag = _job_tag(key)
        try:
            inputs = {k: reread(v, session) for k, v in inputs.items()}
            if self.is_sync:
                return await run_sync(self._run_tagged, {"session": session, "tag": tag, "inputs": inputs})
            return await self._run_async(session, tag, inputs)
        except asyncio.CancelledError:
            _cancel(session, tag)  # a timeout or Ctrl-C: stop this action's Spark jobs now
            raise
        except Exception as e:
            err = translate(e, self.name)
            if err is e:
                raise
            raise err from e
        finally:
            POOL.release(session)

    def _run_tagged(self, session: Any, tag: str, inputs: dict[str, Any]) -> Any:
        """Runs on a worker thread: pyspark pins it to a JVM thread, so the tag covers only this action."""
        sc = session.sparkContext
        sc.addJobTag(tag)
        sc.setInterruptOnCancel(True)
        try:
            out = self.func(**inputs)  # type: ignore[call-arg]
            return out if not flyte.ctx() else persist(out)
        finally:
            sc.removeJobTag(tag)

    async def _run_async(self, session: Any, tag: str, inputs: dict[str, Any]) -> Any:
        """An async function runs on the event loop; its Spark calls block it, so prefer ``def`` tasks."""
        sc = session.sparkContext
        sc.addJobTag(tag)
        sc.setInterruptOnCancel(True)
        try:
            out = await self.func(**inputs)  # type: ignore[misc,call-arg]
        finally:
            sc.removeJobTag(tag)
        return await run_sync(self._run_tagged_persist, {"session": session, "tag": tag, "out": out})

    def _run_tagged_persist(self, session: Any, tag: str, out: Any) -> Any:
        sc = session.sparkContext
        sc.addJobTag(tag)
        try:
            return persist(out)
        finally:
            sc.removeJobTag(tag)

    # ---- a plain call outside any run (unit tests of the function) -----------------------------------
    def forward(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Outside a run the function is called directly, with the session started first."""
        conf = self.spark.session_conf()
        if not self.is_sync:
            return self._forward_async(conf, args, kwargs)  # type: ignore[return-value]
        session = POOL.acquire(conf)
        try:
            return self.func(*args, **kwargs)
        finally:
            POOL.release(session)

    async def _forward_async(
        self, conf: dict[str, str], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        session = await POOL.acquire_async(conf)
        try:
            return await self.func(*args, **kwargs)  # type: ignore[misc]
        finally:
            POOL.release(session)
