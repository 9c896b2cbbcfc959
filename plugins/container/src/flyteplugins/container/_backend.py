"""Running a container task's attempt: stage inputs, run the container, read outputs, map failures.

Shared with the Python-in-a-container executor (``_python.py``): limits from ``Resources``, the
environment (task and run env vars, secrets), the log file in the action's prefix and the mapping of
exit codes to errors (137 under a memory limit is ``OOMError``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import flyte
from flyte.errors import ImagePullBackOffError, NonRecoverableError, OOMError
from flyte.extend import ExecutionContext, TaskTemplate, beat_while_waiting, touch_beat
from flyteplugins.container import _engine, _io, _orphan
from flyteplugins.container._engine import (
    ContainerCreateError,
    ContainerResult,
    ContainerSpec,
    LogSink,
    Mount,
)
from flyteplugins.container._errors import ContainerTaskError
from flyteplugins.container._runtime import find_runtime

OOM_EXIT_CODE = 137  # 128 + SIGKILL: what the kernel's OOM killer leaves


class ContainerBackend:
    """``run(task, inputs, ctx)`` backend of the ``raw-container`` task type."""

    async def run(self, task: TaskTemplate[Any, Any], inputs: dict[str, Any], ctx: ExecutionContext) -> Any:
        from flyteplugins.container._task import ContainerTask

        if not isinstance(task, ContainerTask):
            raise TypeError(f"the raw-container backend runs ContainerTask, not {type(task).__name__}")
        return await run_container_task(task, inputs, ctx)


@dataclass
class Limits:
    memory_bytes: int | None
    cpus: float | None


def limits_of(task: TaskTemplate[Any, Any]) -> Limits:
    """``--memory`` from the memory limit (or request), ``--cpus`` from the CPU limit (or request)."""
    r = task.resources
    if r is None:
        return Limits(None, None)
    if r.gpu is not None:
        raise NonRecoverableError(
            f"Task {task.name!r} asks for accelerators ({r.gpu!r}), which local container runs do not pass "
            "through; run it on a cluster (the pod plugin) or drop the request for a local run.",
            code="AcceleratorUnavailable",
        )
    cpus = r.cpu_limit()
    if cpus is not None:
        cpus = min(cpus, float(os.cpu_count() or 1))  # runtimes refuse more CPUs than the machine has
    return Limits(r.memory_limit_bytes(), cpus)


def environment_of(
    task: TaskTemplate[Any, Any], ctx: ExecutionContext | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(env vars, secrets by env var name) for the container. Secrets come from this machine's env."""
    env = {**(dict(ctx.env_vars) if ctx is not None else {}), **dict(task.env_vars)}
    secrets: dict[str, str] = {}
    for s in task.secrets:
        var = s.env_var_name
        value = os.environ.get(var)
        if value is None:
            raise NonRecoverableError(
                f"Task {task.name!r} needs secret {s.key!r}: set the environment variable {var} on this "
                "machine (local runs read secrets from the environment; the value is passed to the "
                "container by name, never on a command line).",
                code="SecretNotFound",
            )
        secrets[var] = value
    return env, secrets


def _local_path_of(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme == "" and uri.startswith("/"):
        return uri
    return None


@dataclass
class LogTarget:
    """Where an attempt's log goes: ``local`` is written live; ``upload_to`` (when set) receives it after."""

    local: str | None
    uri: str
    upload_to: str | None


def log_target(ctx: ExecutionContext | None, work: str) -> LogTarget:
    """``<action prefix>/logs/attempt-N.log`` in a run (written in place on a local store).

    Outside a run (a plain call) there is no file: the lines go to the ``flyteplugins.container`` logger.
    """
    if ctx is None:
        return LogTarget(None, "(plain call: no log file; see the 'flyteplugins.container' logger)", None)
    uri = f"{ctx.action_prefix().rstrip('/')}/logs/attempt-{ctx.attempt}.log"
    local = _local_path_of(uri)
    if local is not None:
        return LogTarget(local, uri, None)
    return LogTarget(os.path.join(work, "container.log"), uri, uri)


def finish_log(ctx: ExecutionContext | None, target: LogTarget) -> None:
    if ctx is not None and target.upload_to is not None and target.local and os.path.exists(target.local):
        try:
            ctx.store.put_file(target.local, target.upload_to)
        except Exception as e:  # the log is a convenience; the action's result does not depend on it
            _engine.logger.warning("could not upload the container log to %s: %s", target.upload_to, e)


def labels_of(task: TaskTemplate[Any, Any], ctx: ExecutionContext | None) -> dict[str, str]:
    labels = {"flyte.task": task.name}
    if ctx is not None:
        labels.update(
            {"flyte.run": ctx.run_name, "flyte.action": ctx.action_id, "flyte.attempt": str(ctx.attempt)}
        )
    return labels


def name_of(task: TaskTemplate[Any, Any], ctx: ExecutionContext | None) -> str:
    if ctx is None:
        return _engine.container_name(task.short_name or task.name)
    # Deterministic in a run (no random suffix): a recovered driver finds the container a crashed one
    # started. The run's store prefix is in the hash, so two journals' runs of one name never collide.
    import hashlib

    where = hashlib.sha256(ctx.run_prefix.encode()).hexdigest()[:8]
    return _engine.stable_name(ctx.run_name, ctx.action_id[:12], str(ctx.attempt), where)


def failure(
    task: TaskTemplate[Any, Any], result: ContainerResult, limits: Limits, log: LogTarget
) -> Exception:
    """The error for a non-zero exit: ``OOMError`` for 137 under a memory limit, else ContainerTaskError."""
    lines = result.tail
    tail = "\n".join("  " + ln for ln in lines) if lines else "  (the container wrote no output)"
    short = task.short_name or task.name.rsplit(".", 1)[-1]
    if result.exit_code == OOM_EXIT_CODE and limits.memory_bytes is not None:
        suggest = max(1, int(-(-2 * limits.memory_bytes // 1024**3)))
        return OOMError(
            f"Task {task.name!r} ran out of memory: its container was killed (exit code 137) at the memory "
            f"limit of {_fmt_bytes(limits.memory_bytes)}. Give it more, e.g. "
            f'{short}.override(resources=flyte.Resources(memory="{suggest}Gi")). Log: {log.uri}\n'
            f"Last log lines:\n{tail}"
        )
    return ContainerTaskError(
        f"Container task {task.name!r} exited with code {result.exit_code}. Last log lines:\n{tail}\n"
        f"Full log: {log.uri}",
        task=task.name,
        exit_code=result.exit_code,
        logs="\n".join(lines),
        log_uri=log.uri,
    )


def _fmt_bytes(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.3g} GiB"
    return f"{n / 1024**2:.3g} MiB"


def create_failure(task: TaskTemplate[Any, Any], image: str, e: ContainerCreateError) -> Exception:
    text = e.output.lower()
    if any(s in text for s in ("pull", "manifest unknown", "image not known", "no such image", "repository")):
        return ImagePullBackOffError(
            f"Task {task.name!r}: image {image!r} is not available locally and could not be pulled. Build or "
            f"load it first (e.g. `podman build -t {image} .`), or pull it on a machine with registry "
            f"access.\n{e.output.strip()}"
        )
    return ContainerTaskError(f"Task {task.name!r}: the container could not be created: {e}", task=task.name)


async def run_container_task(task: Any, inputs: Mapping[str, Any], ctx: ExecutionContext | None) -> Any:
    """One attempt of a ContainerTask (``ctx`` is None for a plain call outside a run)."""
    rt = find_runtime()
    if not isinstance(task.image, str):  # a flyte.Image: built (or found built) before it runs
        from flyte.errors import ImageBuildError
        from flyteplugins.container._build import image_ref

        try:
            await asyncio.to_thread(image_ref, task.image)
        except ImageBuildError as e:
            raise NonRecoverableError(f"Task {task.name!r}: {e}") from None
    limits = limits_of(task)
    env, secrets = environment_of(task, ctx)
    name = name_of(task, ctx)
    # In a run the container and its work directory are named after the action: a recovered driver
    # follows a container that a crashed one started (issue 23). One that ended meanwhile left no exit
    # code to trust, so its action runs again.
    work = _engine.stable_workdir(name) if ctx is not None else tempfile.mkdtemp(prefix="flyte-container-")
    os.makedirs(work, exist_ok=True)
    keep = False
    log = log_target(ctx, work)
    sink = LogSink(task.name, log.local, echo=getattr(task, "local_logs", True))
    # The driver's beat in the work folder keeps the container's host watchdog quiet (issue 23).
    beating = asyncio.get_running_loop().create_task(beat_while_waiting(work)) if ctx is not None else None
    watchdog = None
    try:
        host_in, host_out = os.path.join(work, "inputs"), os.path.join(work, "outputs")
        adopted = None
        if ctx is not None:  # a crashed driver's container: its host watchdog may have stopped it
            adopted = await _orphan.adopt_unless_orphaned(
                rt,
                name,
                sink,
                ctx,
                task=task.name,
                folder=work,
                result_path=None,
                orphan_exit=None,
                stopped="was stopped",
            )
        if adopted is not None:
            result = adopted
            if result.exit_code != 0:
                raise failure(task, result, limits, log)
            values = await _io.read_outputs(task.name, task.outputs, host_out, task.output_data_dir)
            return _values_out(task, values)
        for d in (host_in, host_out, os.path.join(work, "scratch")):
            shutil.rmtree(d, ignore_errors=True)
        mounts, texts = await _io.stage_inputs(
            inputs,
            host_in,
            task.input_data_dir,
            task.metadata_format,
            os.path.join(work, "scratch"),
            named_files=getattr(task, "file_input_layout", "DIRECT") == "NAMED_DIR",
        )
        _io.prepare_outputs(host_out, task.outputs)
        spec = ContainerSpec(
            image=task.image_uri,
            argv=task.render_args(texts),
            name=name,
            # The inputs directory first: the File/Dir mounts go inside it.
            mounts=[
                Mount(host_in, task.input_data_dir, read_only=True),
                *mounts,
                Mount(host_out, task.output_data_dir, read_only=False),
            ],
            env=env,
            secret_env=secrets,
            memory_bytes=limits.memory_bytes,
            cpus=limits.cpus,
            labels=labels_of(task, ctx),
            max_runtime=task.timeout.max_runtime_seconds if task.timeout is not None else None,
        )
        if ctx is not None:
            touch_beat(work)
            watchdog = _orphan.spawn_watchdog(rt.path, name, work)
        try:
            result = await _engine.run_container(rt, spec, sink)
        except ContainerCreateError as e:
            raise create_failure(task, spec.image, e) from None
        if result.exit_code != 0:
            orphaned = _orphan.stopped_error(work, task.name) if ctx is not None else None
            raise orphaned or failure(task, result, limits, log)
        values = await _io.read_outputs(task.name, task.outputs, host_out, task.output_data_dir)
        # Outside a run File/Dir outputs are plain local paths: keep the directory they live in.
        keep = ctx is None and any(isinstance(v, (flyte.io.File, flyte.io.Dir)) for v in values.values())
    finally:
        if beating is not None:
            beating.cancel()
        _orphan.end_watchdog(watchdog)
        sink.close()
        finish_log(ctx, log)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return _values_out(task, values)


def _values_out(task: Any, values: Mapping[str, Any]) -> Any:
    if not values:
        return None
    if len(values) == 1:
        return next(iter(values.values()))
    return task.interface.output(**values)
