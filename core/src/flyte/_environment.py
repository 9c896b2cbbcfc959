"""TaskEnvironment: shared defaults (image, resources, cache, reuse...) for a group of tasks."""

from __future__ import annotations

import dataclasses
import re
import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from flyte._cache import Cache, normalize_cache
from flyte._environment_base import Environment, check_common_fields
from flyte._include import declaring_dir, include_files, normalize_include
from flyte._resources import Resources
from flyte._retry import normalize_retries
from flyte._reusable import ReusePolicy
from flyte._runtime.placement import check_isolation
from flyte._secret import Secret, normalize_secrets
from flyte._task import (
    MAX_INLINE_IO_BYTES,
    UNSET,
    AsyncFunctionTaskTemplate,
    TaskTemplate,
    _is_async_callable,
    check_scheduling,
    validate_env_vars,
    validate_max_inline,
)
from flyte._timeout import normalize_timeout
from flyte._trigger import normalize_triggers
from flyte._validate import check_docs, check_pod_template, param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

if TYPE_CHECKING:
    from flyte._image import Image

P = ParamSpec("P")
R = TypeVar("R")

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")

_inherited_include_base: ContextVar[str | None] = ContextVar("_inherited_include_base", default=None)
_all_environments: weakref.WeakValueDictionary[str, TaskEnvironment] = weakref.WeakValueDictionary()


def _validate_name(name: Any, owner: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 63:
        raise param_error(
            owner,
            "name",
            name,
            "Environment names must be in snake_case or kebab-case format: use 1-63 lowercase letters, "
            "digits, '-' or '_', starting and ending with a letter or digit, e.g. 'data-processing'.",
            types=str,
        )
    return name


@dataclass
class TaskEnvironment(Environment):
    """Groups tasks that share an image, resources, secrets and other defaults.

    A task's fully-qualified name is ``<env name>.<function name>``. The parameters are in the
    anchor SDK's order (``TaskEnvironment("name", ...)`` works); ``isolation`` is ours.
    ``interruptible``, ``queue`` and ``service_account`` are cluster settings, recorded in each task's
    spec; ``include`` names extra files whose contents are part of each task's version.
    """

    name: str
    depends_on: list[Any] = field(default_factory=list)
    """Environments (task or app) deployed together with this one."""
    pod_template: Any = None
    description: str | None = None
    secrets: Any = None
    env_vars: Mapping[str, str] | None = None
    resources: Resources | None = None
    interruptible: bool = False
    image: Image | str | Literal["auto"] | None = "auto"
    include: tuple[str, ...] = ()
    service_account: str | None = None
    cache: Any = "disable"
    reusable: ReusePolicy | None = None
    plugin_config: Any = None
    queue: str | None = None
    isolation: str | None = None
    """Local isolation of this environment's actions ("inline", "process", "container"); None:
    "process" when it declares a memory limit, a ReusePolicy or GPUs, else "inline". A run's
    ``with_runcontext(isolation=...)`` overrides it."""
    tasks: dict[str, TaskTemplate[Any, Any]] = field(default_factory=dict, init=False, repr=False)
    _include_base: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        owner = f"TaskEnvironment(name={self.name!r})"
        _validate_name(self.name, "TaskEnvironment")
        self._check_types(owner)
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise InvalidParameterTypeError(
                owner,
                "resources",
                self.resources,
                "Expected resources to be of type Resources: use flyte.Resources(cpu=..., memory=...).",
            )
        if self.reusable is not None and not isinstance(self.reusable, ReusePolicy):
            raise InvalidParameterTypeError(
                owner,
                "reusable",
                self.reusable,
                "Expected reusable to be of type ReusePolicy: use flyte.ReusePolicy(replicas=...).",
            )
        self.interruptible = check_scheduling("interruptible", self.interruptible, owner)
        self.queue = check_scheduling("queue", self.queue, owner)
        self.service_account = check_scheduling("service_account", self.service_account, owner)
        self.include = normalize_include(self.include, owner)
        if self._include_base is None and self.include:
            self._include_base = _inherited_include_base.get() or declaring_dir()
        include_files(self.include, self._include_base, owner)  # a path matching nothing fails here
        check_isolation(self.isolation, owner)
        if self.plugin_config is not None:  # an unknown config fails here, at definition
            from flyte._plugins.manager import template_for_config

            template_for_config(self.plugin_config)
        self.env_vars = validate_env_vars(self.env_vars, owner)
        self._secrets: tuple[Secret, ...] = normalize_secrets(self.secrets, owner)
        self._cache: Cache = normalize_cache(self.cache, owner)
        for dep in self.depends_on:
            if not _is_environment(dep):
                raise InvalidParameterTypeError(
                    owner,
                    "depends_on",
                    dep,
                    "Expected depends_on to be of type List[Environment]: a list of TaskEnvironments.",
                )
        check_common_fields(self, owner)  # what the checks above leave (pod_template, description...)
        _all_environments[self.name] = self

    def _check_types(self, owner: str) -> None:
        """The anchor raises TypeError for a value of the wrong type; so do we (and name the fix)."""
        from flyte._image import Image, check_image_ref

        if self.image is not None and not isinstance(self.image, (Image, str)):
            raise InvalidParameterTypeError(
                owner, "image", self.image, "Expected image to be of type str or Image, or 'auto'."
            )
        check_image_ref(self.image, owner)
        if self.env_vars is not None and not isinstance(self.env_vars, Mapping):
            raise InvalidParameterTypeError(
                owner, "env_vars", self.env_vars, "Expected env_vars to be of type Dict[str, str]."
            )
        if self.secrets is not None and not isinstance(self.secrets, (str, list, tuple)):
            from flyte._secret import Secret as _Secret

            if not isinstance(self.secrets, _Secret):
                raise InvalidParameterTypeError(
                    owner,
                    "secrets",
                    self.secrets,
                    "Expected secrets to be of type SecretRequest: a name, a Secret, or a list of them.",
                )
        if not isinstance(self.depends_on, (list, tuple)):
            raise InvalidParameterTypeError(
                owner, "depends_on", self.depends_on, "Expected depends_on to be of type List[Environment]."
            )
        self.depends_on = list(self.depends_on)
        if self.cache is not None and not isinstance(self.cache, (str, bool, Cache)):
            raise InvalidParameterTypeError(
                owner,
                "cache",
                self.cache,
                "Expected cache to be of type str or Cache, e.g. 'auto' or flyte.Cache(...).",
            )

    def add_dependency(self, *env: Any) -> None:
        """Deploy ``env`` together with this environment (as ``depends_on=[...]``); duplicates are skipped."""
        for e in env:
            if not _is_environment(e):
                raise InvalidParameterTypeError(
                    f"TaskEnvironment({self.name!r}).add_dependency()",
                    "env",
                    e,
                    f"Expected Environment, got {type(e)}: pass TaskEnvironment objects.",
                )
            if e.name == self.name:
                raise InvalidParameterError(
                    f"TaskEnvironment({self.name!r}).add_dependency()",
                    "env",
                    e.name,
                    "Cannot add self as a dependency.",
                )
            if e not in self.depends_on:
                self.depends_on.append(e)

    # ---- derived environments --------------------------------------------------------------------
    def clone_with(
        self,
        name: str,
        image: Image | str | None = None,
        resources: Resources | None = None,
        env_vars: Mapping[str, str] | None = None,
        secrets: Any = None,
        depends_on: list[Any] | None = None,
        description: str | None = None,
        interruptible: bool | None = None,
        include: tuple[str, ...] | None = None,
        service_account: str | None = None,
        **overrides: Any,
    ) -> TaskEnvironment:
        """A new environment that inherits everything from this one except what is given.

        As in the anchor, a named setting left at None is inherited (and so is ``cache=None``);
        ``reusable=None`` turns reuse off. Other settings (``plugin_config``, ``queue``, ...) are
        taken as given.
        """
        named = {
            "image": image,
            "resources": resources,
            "env_vars": env_vars,
            "secrets": secrets,
            "depends_on": depends_on,
            "description": description,
            "interruptible": interruptible,
            "include": include,
            "service_account": service_account,
        }
        if overrides.get("cache", 0) is None:
            del overrides["cache"]
        allowed = {f.name for f in dataclasses.fields(self) if f.init and f.name != "name"}
        for key in overrides:
            if key not in allowed:
                raise InvalidParameterTypeError(
                    f"TaskEnvironment({self.name!r}).clone_with()",
                    key,
                    overrides[key],
                    f"Unexpected keyword argument; accepted settings: {sorted(allowed)}.",
                )
        overrides.update({k: v for k, v in named.items() if v is not None})
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        base.update(overrides)
        base["name"] = name
        base["depends_on"] = list(base["depends_on"])
        # Inherited includes keep naming the same files, wherever clone_with is called from.
        token = _inherited_include_base.set(None if "include" in overrides else self._include_base)
        try:
            return TaskEnvironment(**base)
        finally:
            _inherited_include_base.reset(token)

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
        triggers: Any = (),
        links: Any = (),
        interruptible: bool | None = None,
        queue: str | None = None,
        service_account: str | None = None,
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
        triggers: Any = (),
        links: Any = (),
        interruptible: bool | None = None,
        queue: str | None = None,
        service_account: str | None = None,
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
                report=report,
                triggers=triggers,
                links=links,
                interruptible=interruptible,
                queue=queue,
                service_account=service_account,
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
            raise InvalidParameterTypeError(owner, "resources", resources, "Use flyte.Resources(...).")
        # None inherits the environment's cache, as in the anchor (`cache=False`/"disable" turn it off).
        task_cache = opts["cache"]
        cache = (
            self._cache if task_cache is UNSET or task_cache is None else normalize_cache(task_cache, owner)
        )
        if self.reusable is not None and opts["service_account"] not in (None, self.service_account):
            raise InvalidParameterError(
                owner,
                "service_account",
                opts["service_account"],
                "Cannot override service_account when environment is reusable: its replicas run as "
                f"{self.service_account!r}; set it on the TaskEnvironment instead.",
            )
        if not isinstance(opts.get("report", False), bool):
            raise InvalidParameterTypeError(
                owner, "report", opts["report"], "Pass report=True or report=False."
            )
        secrets = self._secrets if opts["secrets"] is UNSET else normalize_secrets(opts["secrets"], owner)
        template_cls: type[AsyncFunctionTaskTemplate[Any, Any]] = AsyncFunctionTaskTemplate
        task_type = "python"
        task_type_version = 0
        if self.plugin_config is not None:
            from flyte._plugins.manager import template_for_config

            entry = template_for_config(self.plugin_config)
            template_cls, task_type, task_type_version = entry
        check_docs(owner, "docs", opts["docs"])
        check_pod_template(owner, opts["pod_template"])
        pod_template = opts["pod_template"] if opts["pod_template"] is not None else self.pod_template
        if pod_template is not None and task_type == "python":
            from flyte._plugins.manager import function_task_for_field

            # The plugin that claims pod_template (registry.add(..., function_field=...)) runs such
            # tasks; without one the task stays a Python task (the template matters on a cluster).
            claimed = function_task_for_field("pod_template")
            if claimed is not None and issubclass(claimed[0], AsyncFunctionTaskTemplate):
                template_cls, task_type, task_type_version = claimed
        tmpl = template_cls(
            name=full_name,
            func=func,
            interface=NativeInterface.from_function(func),
            task_type=task_type,
            task_type_version=task_type_version,
            short_name=opts["short_name"] or fname,
            docs=_docs_text(opts["docs"], func),
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
            triggers=normalize_triggers(opts.get("triggers", ()), owner, _param_names(func)),
            links=normalize_links(opts.get("links", ()), owner),
            interruptible=check_scheduling(
                "interruptible",
                self.interruptible if opts["interruptible"] is None else opts["interruptible"],
                owner,
            ),
            queue=check_scheduling(
                "queue", check_scheduling("queue", opts["queue"], owner) or self.queue, owner
            ),
            service_account=check_scheduling(
                "service_account",
                check_scheduling("service_account", opts["service_account"], owner) or self.service_account,
                owner,
            ),
            include=self.include,
            include_base=self._include_base,
            report=bool(opts.get("report", False)),
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


def _param_names(func: Any) -> set[str] | None:
    import inspect

    try:
        return set(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None


def _docs_text(docs: Any, func: Any) -> str | None:
    """``docs=``: a string or a :class:`flyte.Documentation`; default: the function's docstring."""
    if docs is None:
        return func.__doc__ or None
    return getattr(docs, "description", docs)  # type: ignore[no-any-return]


def normalize_links(value: Any, owner: str) -> tuple[Any, ...]:
    """``links=``: one object with ``name`` and ``get_link(...)`` (``flyte.Link``) or a sequence."""
    if value is not None and not hasattr(value, "get_link") and not isinstance(value, (list, tuple)):
        raise InvalidParameterTypeError(
            owner, "links", value, "Use an object implementing flyte.Link, or a list of them."
        )
    items = (value,) if hasattr(value, "get_link") else tuple(value or ())
    for ln in items:
        if not callable(getattr(ln, "get_link", None)):
            raise InvalidParameterError(
                owner, "links", ln, "Use objects implementing flyte.Link (name, get_link())."
            )
    return items


def _is_environment(obj: object) -> bool:
    """A task or app environment (what ``depends_on`` may name, as the anchor's ``Environment``)."""
    if isinstance(obj, TaskEnvironment):
        return True
    from flyte.app._app_environment import AppEnvironment

    return isinstance(obj, AppEnvironment)


def functools_update(tmpl: Any, func: Any) -> None:
    """Make the template look like the function to tools (``__wrapped__``, ``__doc__``, module)."""
    d = tmpl.__dict__
    d["__wrapped__"] = func
    d["__module__"] = getattr(func, "__module__", None)
    d["__qualname__"] = getattr(func, "__qualname__", None)


def environments() -> Mapping[str, TaskEnvironment]:
    return dict(_all_environments)
