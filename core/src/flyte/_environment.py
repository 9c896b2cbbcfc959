"""TaskEnvironment: shared defaults (image, resources, cache, reuse...) for a group of tasks."""

from __future__ import annotations

import dataclasses
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from flyte._cache import Cache, normalize_cache
from flyte._resources import Resources
from flyte._retry import normalize_retries
from flyte._reusable import ReusePolicy
from flyte._secret import Secret, normalize_secrets
from flyte._task import (
    MAX_INLINE_IO_BYTES,
    UNSET,
    AsyncFunctionTaskTemplate,
    TaskTemplate,
    _is_async_callable,
    check_isolation,
    function_task_class,
    validate_env_vars,
    validate_max_inline,
)
from flyte._timeout import normalize_timeout
from flyte.errors import InvalidParameterError

if TYPE_CHECKING:
    from flyte._image import Image

P = ParamSpec("P")
R = TypeVar("R")

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")

_all_environments: weakref.WeakValueDictionary[str, TaskEnvironment] = weakref.WeakValueDictionary()


def _validate_name(name: Any, owner: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 63:
        raise InvalidParameterError(
            owner,
            "name",
            name,
            "Use 1-63 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit, "
            "e.g. 'data-processing'.",
        )
    return name


@dataclass(kw_only=True)
class TaskEnvironment:
    """Groups tasks that share an image, resources, secrets and other defaults.

    A task's fully-qualified name is ``<env name>.<function name>``.
    """

    name: str
    image: Image | str | Literal["auto"] | None = "auto"
    resources: Resources | None = None
    env_vars: Mapping[str, str] | None = None
    secrets: Any = None
    cache: Any = "disable"
    reusable: ReusePolicy | None = None
    plugin_config: Any = None
    pod_template: Any = None
    depends_on: list[TaskEnvironment] = field(default_factory=list)
    description: str | None = None
    isolation: str | None = None
    """Local isolation of this environment's actions ("inline", "process", "container"); None:
    "process" when it declares a memory limit, a ReusePolicy or GPUs, else "inline". A run's
    ``with_runcontext(isolation=...)`` overrides it."""
    tasks: dict[str, TaskTemplate[Any, Any]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        owner = f"TaskEnvironment(name={self.name!r})"
        _validate_name(self.name, "TaskEnvironment")
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise InvalidParameterError(
                owner, "resources", self.resources, "Use flyte.Resources(cpu=..., memory=...)."
            )
        if self.reusable is not None and not isinstance(self.reusable, ReusePolicy):
            raise InvalidParameterError(
                owner, "reusable", self.reusable, "Use flyte.ReusePolicy(replicas=..., concurrency=...)."
            )
        check_isolation(self.isolation, owner)
        self.env_vars = validate_env_vars(self.env_vars, owner)
        self._secrets: tuple[Secret, ...] = normalize_secrets(self.secrets, owner)
        self._cache: Cache = normalize_cache(self.cache, owner)
        for dep in self.depends_on:
            if not isinstance(dep, TaskEnvironment):
                raise InvalidParameterError(
                    owner, "depends_on", dep, "Use a list of TaskEnvironment objects."
                )
        _all_environments[self.name] = self

    # ---- derived environments --------------------------------------------------------------------
    def clone_with(self, name: str, **overrides: Any) -> TaskEnvironment:
        """A new environment that inherits everything from this one except ``overrides``."""
        allowed = {f.name for f in dataclasses.fields(self) if f.init and f.name != "name"}
        for key in overrides:
            if key not in allowed:
                raise InvalidParameterError(
                    f"TaskEnvironment({self.name!r}).clone_with()",
                    key,
                    overrides[key],
                    f"Accepted settings: {sorted(allowed)}.",
                )
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        base.update(overrides)
        base["name"] = name
        base["depends_on"] = list(base["depends_on"])
        return TaskEnvironment(**base)

    # ---- the decorator ---------------------------------------------------------------------------
    @overload
    def task(self, _func: Callable[P, R], /) -> AsyncFunctionTaskTemplate[P, R]: ...

    @overload
    def task(
        self,
        _func: None = None,
        /,
        *,
        short_name: str | None = None,
        cache: Any = UNSET,
        retries: Any = UNSET,
        timeout: Any = UNSET,
        docs: str | None = None,
        max_inline_io_bytes: int = MAX_INLINE_IO_BYTES,
        resources: Resources | None = None,
        secrets: Any = UNSET,
        pod_template: Any = None,
        report: bool = False,
    ) -> Callable[[Callable[P, R]], AsyncFunctionTaskTemplate[P, R]]: ...

    def task(
        self,
        _func: Callable[P, R] | None = None,
        /,
        *,
        short_name: str | None = None,
        cache: Any = UNSET,
        retries: Any = UNSET,
        timeout: Any = UNSET,
        docs: str | None = None,
        max_inline_io_bytes: int = MAX_INLINE_IO_BYTES,
        resources: Resources | None = None,
        secrets: Any = UNSET,
        pod_template: Any = None,
        report: bool = False,
    ) -> AsyncFunctionTaskTemplate[P, R] | Callable[[Callable[P, R]], AsyncFunctionTaskTemplate[P, R]]:
        """Turn a function (sync or async) into a task of this environment."""

        def decorate(func: Callable[P, R]) -> AsyncFunctionTaskTemplate[P, R]:
            return self._make_task(
                func,
                short_name=short_name,
                cache=cache,
                retries=retries,
                timeout=timeout,
                docs=docs,
                max_inline_io_bytes=max_inline_io_bytes,
                resources=resources,
                secrets=secrets,
                pod_template=pod_template,
            )

        if _func is not None:
            return decorate(_func)
        return decorate

    def _make_task(self, func: Callable[P, R], **opts: Any) -> AsyncFunctionTaskTemplate[P, R]:
        from flyte._interface import NativeInterface

        if not callable(func):
            raise InvalidParameterError(f"{self.name}.task", "func", func, "Decorate a function.")
        fname = getattr(func, "__name__", type(func).__name__)
        owner = f"@{self.name}.task on {fname}()"
        full_name = f"{self.name}.{fname}"
        if self.reusable is not None and self.reusable.concurrency > 1 and not _is_async_callable(func):
            raise InvalidParameterError(
                owner,
                "reusable.concurrency",
                self.reusable.concurrency,
                "concurrency > 1 is only supported for async tasks: make the function 'async def', or "
                "use ReusePolicy(concurrency=1) for sync tasks.",
            )
        resources = opts["resources"] if opts["resources"] is not None else self.resources
        if resources is not None and not isinstance(resources, Resources):
            raise InvalidParameterError(owner, "resources", resources, "Use flyte.Resources(...).")
        cache = self._cache if opts["cache"] is UNSET else normalize_cache(opts["cache"], owner)
        secrets = self._secrets if opts["secrets"] is UNSET else normalize_secrets(opts["secrets"], owner)
        template_cls: type[AsyncFunctionTaskTemplate[Any, Any]] = AsyncFunctionTaskTemplate
        task_type = "python"
        task_type_version = 0
        if self.plugin_config is not None:
            from flyte._plugins.manager import template_for_config

            entry = template_for_config(self.plugin_config)
            template_cls, task_type, task_type_version = entry
        pod_template = opts["pod_template"] if opts["pod_template"] is not None else self.pod_template
        if pod_template is not None and task_type == "python":
            task_type = "pod"
            template_cls = function_task_class("pod")
        tmpl = template_cls(
            name=full_name,
            func=func,
            interface=NativeInterface.from_function(func),
            task_type=task_type,
            task_type_version=task_type_version,
            short_name=opts["short_name"] or fname,
            docs=opts["docs"] if opts["docs"] is not None else (func.__doc__ or None),
            env_name=self.name,
            image=self.image,
            resources=resources,
            env_vars=dict(self.env_vars or {}),
            secrets=secrets,
            cache=cache,
            retries=normalize_retries(0 if opts["retries"] is UNSET else opts["retries"], owner),
            timeout=normalize_timeout(None if opts["timeout"] is UNSET else opts["timeout"], owner),
            reusable=self.reusable,
            max_inline_io_bytes=validate_max_inline(opts["max_inline_io_bytes"], owner),
            plugin_config=self.plugin_config,
            pod_template=pod_template,
            isolation=self.isolation,
        )
        functools_update(tmpl, func)
        self.tasks[full_name] = tmpl
        return tmpl

    @classmethod
    def from_task(
        cls, name: str, *tasks: TaskTemplate[Any, Any], depends_on: list[TaskEnvironment] | None = None
    ) -> TaskEnvironment:
        """An environment around tasks built on their own (a ``ContainerTask``, a plugin's SQL task),
        so other environments can name it in ``depends_on``. The tasks must share one image (or have
        none); the environment takes it (else ``"auto"``)."""
        owner = f"TaskEnvironment.from_task({name!r})"
        for t in tasks:
            if not isinstance(t, TaskTemplate):
                raise InvalidParameterError(owner, "tasks", t, "Pass task objects (e.g. ContainerTask(...)).")
            if t.env_name is not None:
                raise InvalidParameterError(
                    owner,
                    "tasks",
                    t.name,
                    f"This task already belongs to environment {t.env_name!r}; a task has one environment.",
                )
        images: list[Any] = []
        for t in tasks:
            if t.image not in images:
                images.append(t.image)
        if len(images) > 1:
            raise InvalidParameterError(
                owner,
                "tasks",
                [t.name for t in tasks],
                "Give the tasks the same image object, or build one environment per image.",
            )
        image = images[0] if images else "auto"
        env = cls(name=name, image="auto" if image is None else image, depends_on=list(depends_on or []))
        for t in tasks:
            t.env_name = name
            env.tasks[t.name] = t
        return env

    def add_task(self, task: TaskTemplate[Any, Any]) -> TaskTemplate[Any, Any]:
        """Register a template built directly (e.g. a plugin's SQL task) with this environment."""
        self.tasks[task.name] = task
        return task


def functools_update(tmpl: Any, func: Any) -> None:
    """Make the template look like the function to tools (``__wrapped__``, ``__doc__``, module)."""
    d = tmpl.__dict__
    d["__wrapped__"] = func
    d["__module__"] = getattr(func, "__module__", None)
    d["__qualname__"] = getattr(func, "__qualname__", None)


def environments() -> Mapping[str, TaskEnvironment]:
    return dict(_all_environments)
