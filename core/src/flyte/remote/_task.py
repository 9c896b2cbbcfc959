"""``flyte.remote.Task``: tasks recorded by ``flyte.deploy``, runnable as references.

A reference runs the code that was deployed: the module source recorded at deploy time is written
as ``$FLYTE_HOME/deployed/flyte_deployed_<digest>_<name>.py`` and imported from there, so editing the original
file afterwards does not change what a reference runs. (Modules that file imports are the current
ones: only the task's own module is bundled.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from flyte._run import syncify_method
from flyte._runtime import reader
from flyte.errors import InvalidParameterError, RemoteTaskNotFoundError, RemoteTaskUsageError
from flyte.remote._common import syncify_classmethod

__all__ = ["LazyEntity", "Task", "TaskDetails"]

AutoVersioning = Literal["latest", "current"]


def _load_deployed(row: dict[str, Any]) -> Any:
    """Import the recorded module source and return the task (a TaskTemplate)."""
    import sys

    from flyte._config import get_settings
    from flyte._run import import_module_from_file
    from flyte._task import TaskTemplate

    bundle = str(row["bundle_digest"])
    folder = os.path.join(get_settings().home, "deployed")
    stem = os.path.splitext(os.path.basename(str(row["module_file"] or "module.py")))[0]
    module_name = f"flyte_deployed_{bundle[:16]}_{stem}"
    path = os.path.join(folder, f"{module_name}.py")
    if folder not in sys.path:
        sys.path.append(folder)  # worker processes import it by name (they get this sys.path)
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(bytes(row["source"]))
        os.replace(tmp, path)
    original_dir = os.path.dirname(str(row["module_file"] or ""))
    if original_dir and original_dir not in sys.path:
        sys.path.append(original_dir)  # sibling modules it imports (not bundled)
    module = import_module_from_file(path, module_name)
    task = getattr(module, str(row["attr"]), None)
    if not isinstance(task, TaskTemplate):
        raise RemoteTaskNotFoundError(f"the deployed bundle of {row['name']} has no task {row['attr']!r}")
    return task


@dataclass
class TaskDetails:
    """A deployed task: its name, version, type, interface and the runnable task it records."""

    _row: dict[str, Any]
    _template: Any

    @property
    def name(self) -> str:
        return str(self._row["name"])

    @property
    def version(self) -> str:
        return str(self._row["version"])

    @property
    def task_type(self) -> str:
        return str(self._row["task_type"])

    @property
    def interface(self) -> Any:
        return self._template.interface

    @property
    def required_args(self) -> tuple[str, ...]:
        import inspect

        items = self._template.interface.inputs.items()
        return tuple(n for n, (_, d) in items if d is inspect.Parameter.empty)

    @property
    def default_input_args(self) -> tuple[str, ...]:
        import inspect

        items = self._template.interface.inputs.items()
        return tuple(n for n, (_, d) in items if d is not inspect.Parameter.empty)

    @property
    def spec(self) -> dict[str, Any] | None:
        import json

        return json.loads(self._row["spec"]) if self._row.get("spec") else None

    @property
    def template(self) -> Any:
        """The deployed code as a task (what ``flyte.run(ref, ...)`` runs)."""
        return self._template

    def _flyte_template(self) -> Any:
        return self._template

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from flyte._context import current_action

        if args:
            raise RemoteTaskUsageError(
                f"Reference task {self.name}: pass inputs by keyword ({', '.join(self.interface.inputs)})"
            )
        if current_action.get() is None:
            raise RemoteTaskUsageError(
                f"Reference task {self.name} can be awaited only inside a task; from outside one use "
                f"flyte.run(ref, ...)"
            )
        return await self._template.aio(**kwargs)


class LazyEntity:
    """A deployed task, looked up on first use (``fetch()``, a call, or ``flyte.run(ref)``)."""

    def __init__(self, name: str, version: str | None, auto_version: str | None) -> None:
        self._name = name
        self._version = version
        self._auto_version = auto_version
        self._task: TaskDetails | None = None

    @property
    def name(self) -> str:
        return self._name

    @syncify_method
    def fetch(self) -> TaskDetails:
        if self._task is None:
            row = reader.get_deployed(self._name, self._version)
            if row is None:
                known = sorted({r["version"] for r in reader.list_deployed(name=self._name)})
                which = f"version {self._version!r}" if self._version else "any version"
                raise RemoteTaskNotFoundError(
                    f"Task {self._name!r}, {which}, was not deployed here"
                    + (
                        f" (deployed versions: {', '.join(known)})"
                        if known
                        else "; run flyte.deploy(env) first"
                    )
                )
            self._task = TaskDetails(row, _load_deployed(row))
        return self._task

    def _flyte_template(self) -> Any:
        return self.fetch().template

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = await self.fetch.aio()
        return await task(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Future for task with name {self._name}"


class Task:
    """A deployed task as ``Task.listall`` lists it (name, version, environment)."""

    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    @property
    def name(self) -> str:
        return str(self._row["name"])

    @property
    def version(self) -> str:
        return str(self._row["version"])

    @property
    def env(self) -> str:
        return str(self._row["env"])

    @classmethod
    def get(
        cls,
        name: str,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
        auto_version: AutoVersioning | None = None,
    ) -> LazyEntity:
        """A reference to deployed task ``name`` ("env.task") at ``version``, or the latest deployed
        (``auto_version="latest"``). Nothing is read until it is fetched, called or run."""
        if not isinstance(name, str) or "." not in name:
            raise InvalidParameterError(
                "Task.get", "name", name, "Use the env-qualified name, e.g. 'env.task'."
            )
        if version is None and auto_version is None:
            raise InvalidParameterError(
                "Task.get", "version", None, "Pass version='...' or auto_version='latest'."
            )
        if version is None and auto_version != "latest":
            raise InvalidParameterError(
                "Task.get",
                "auto_version",
                auto_version,
                "Use 'latest'; 'current' needs a backend that versions every deployment together.",
            )
        return LazyEntity(name, version, auto_version)

    @syncify_classmethod
    def listall(
        cls: type[Task],
        by_task_name: str | None = None,
        by_task_env: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        sort_by: tuple[str, str] | None = None,
        limit: int = 100,
        entrypoint: bool | None = None,
    ) -> Iterator[Task]:
        """Deployed task versions, newest first."""
        return iter([cls(r) for r in reader.list_deployed(name=by_task_name, env=by_task_env, limit=limit)])

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, version={self.version!r})"
