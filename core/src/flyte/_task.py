"""TaskTemplate: the unit of work, its extension hooks, and the Python-function task.

``__call__`` is a router: outside a run it is a plain call (``forward``), inside a run it hands the
call to the run's controller. Templates are frozen; ``override`` returns a new one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, ParamSpec, TypeVar

from flyte._cache import Cache, normalize_cache
from flyte._context import current_action
from flyte._interface import NativeInterface
from flyte._resources import Resources
from flyte._retry import RetryStrategy, normalize_retries
from flyte._reusable import ReusePolicy
from flyte._runtime.placement import check_isolation
from flyte._secret import Secret, normalize_secrets
from flyte._serialization import SerializationContext
from flyte._timeout import Timeout, normalize_timeout
from flyte._validate import check_docs, check_pod_template, param_error
from flyte.errors import InvalidParameterError, InvalidParameterTypeError

if TYPE_CHECKING:
    from flyte._image import Image
    from flyte._spec import TaskSpec

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

MAX_INLINE_IO_BYTES = 10 * 1024 * 1024
"""Default limit for values passed inline between tasks (the seeds' 10 MiB)."""


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
"""Sentinel for override(): distinguishes 'not given' from a real None/0."""

_NOT_OVERRIDABLE = {
    "name": "a task's name is its identity; define a new task instead",
    "image": "the image is fixed per environment; use env.clone_with(image=...) instead",
    "interface": "the interface comes from the function signature",
    "func": "the function is the task; define a new task instead",
}


def validate_max_inline(value: Any, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise param_error(
            owner,
            "max_inline_io_bytes",
            value,
            "Use a positive int of bytes, e.g. 20 * 1024 * 1024.",
            types=int,
        )
    return value


def check_scheduling(param: str, value: Any, owner: str) -> Any:
    """``interruptible`` (bool) / ``queue`` / ``service_account`` (non-empty str or None)."""
    if param == "interruptible":
        if not isinstance(value, bool):
            raise InvalidParameterTypeError(owner, param, value, "Use True or False.")
        return value
    if value is not None and not isinstance(value, str):
        raise InvalidParameterTypeError(owner, param, value, f"Use a non-empty string {param} name, or None.")
    if value is not None and not value.strip():
        raise InvalidParameterError(owner, param, value, f"Use a non-empty string {param} name, or None.")
    return value


def validate_env_vars(value: Any, owner: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterTypeError(
            owner, "env_vars", value, "Use a dict of str to str, e.g. {'LOG': '1'}."
        )
    return dict(value)


@dataclass(kw_only=True)
class TaskTemplate(Generic[P, R]):
    """A task: what runs (``execute``) and what it needs (resources, image, cache, retries...).

    Subclass it to add a task type; a plugin registers the subclass for its ``task_type`` and the
    controller dispatches on that type at run time.
    """

    plugin_distribution: ClassVar[str | None] = None
    """The distribution whose plugin provides this class's task type, named by the error when that
    plugin is not loaded. None: ``flyte-plugin-<name>`` for a class defined in ``flyteplugins.<name>``;
    a class of the user's own code that no plugin registers runs its own ``execute()``."""
    plugin_optional: ClassVar[bool] = False
    """True: where no plugin provides this task type, the task runs its own ``execute()`` in process
    instead of failing (the type matters elsewhere only, e.g. a pod template on a cluster)."""

    name: str
    interface: NativeInterface
    task_type: str = "python"
    task_type_version: int = 0
    short_name: str = ""
    docs: str | None = None
    env_name: str | None = None
    image: Image | str | None = None
    resources: Resources | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[Secret, ...] = ()
    cache: Cache = field(default_factory=lambda: Cache(behavior="disable"))
    retries: RetryStrategy = field(default_factory=lambda: RetryStrategy(count=0))
    timeout: Timeout | None = None
    reusable: ReusePolicy | None = None
    max_inline_io_bytes: int = MAX_INLINE_IO_BYTES
    plugin_config: Any = None
    pod_template: Any = None
    isolation: str | None = None
    triggers: tuple[Any, ...] = ()
    links: tuple[Any, ...] = ()
    """Where this environment's actions run locally: "inline", "process", "container", or None
    (decided by what the environment declares; see ``flyte._runtime.placement``)."""
    interruptible: bool = False
    """May run on spot/preemptible capacity (a cluster setting; recorded in the spec)."""
    queue: str | None = None
    """The cluster queue (partition of the compute) to run on; recorded in the spec."""
    service_account: str | None = None
    """The Kubernetes service account a cluster runs the task's pod as; recorded in the spec."""
    report: bool = False
    """Keep what the task logs with ``flyte.report`` at the end of each attempt (``flyte ui`` shows it)."""
    include: tuple[str, ...] = ()
    """Extra files of the environment's code (``TaskEnvironment(include=...)``); part of the version."""
    include_base: str | None = field(default=None, repr=False)
    """The directory relative ``include`` entries start from (the environment's declaring file's)."""

    def __post_init__(self) -> None:
        """Accept the decorator's shorthand forms when a template is built directly (plugins: SQL,
        shell, container tasks), so every task type validates its settings the same way."""
        owner = f"{type(self).__name__}(name={self.name!r})"
        put = functools.partial(object.__setattr__, self)
        check_isolation(self.isolation, owner)
        if not isinstance(self.short_name, str):
            raise InvalidParameterTypeError(
                owner, "short_name", self.short_name, "Use a str, e.g. short_name='train'."
            )
        if not self.short_name:
            put("short_name", self.name.rsplit(".", 1)[-1])
        if isinstance(self.image, str):
            from flyte._image import check_image_ref

            check_image_ref(self.image, owner)
        if not isinstance(self.cache, Cache):
            put("cache", normalize_cache(self.cache, owner))
        if not isinstance(self.retries, RetryStrategy):
            put("retries", normalize_retries(self.retries, owner))
        if self.timeout is not None and not isinstance(self.timeout, Timeout):
            put("timeout", normalize_timeout(self.timeout, owner))
        if not isinstance(self.secrets, tuple) or not all(isinstance(s, Secret) for s in self.secrets):
            put("secrets", normalize_secrets(self.secrets, owner))
        if not isinstance(self.env_vars, dict):
            put("env_vars", validate_env_vars(self.env_vars, owner))
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise InvalidParameterError(owner, "resources", self.resources, "Use flyte.Resources(...).")
        if "__module__" not in self.__dict__ and not hasattr(self, "func"):
            # The task belongs to the module that built it, so `flyte rerun` can import it again.
            self.__dict__["__module__"] = _defining_module()

    def __setattr__(self, name: str, value: Any) -> None:
        """Templates are plain dataclasses so plugin authors can extend them with fields; a field set
        after construction drops the derived identity so it is computed again from the new value."""
        object.__setattr__(self, name, value)
        if not name.startswith("_"):
            self.__dict__.pop("_source_version", None)
            self.__dict__.pop("_identity", None)
            self.__dict__.pop("_flyte_plain", None)  # the controller's fast-path choice (controller._Plain)
            self.__dict__.pop("_cache_version", None)  # (identity.cache_version: a new Cache, a new key)
            self.__dict__.pop("_cache_key_parts", None)
            self.__dict__.pop("_flyte_isolation", None)  # (placement.default_mode: resources, isolation)

    # ---- extension hooks ---------------------------------------------------------------------
    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        """Plugin-specific configuration carried in the task spec (e.g. BigQuery project)."""
        return {}

    def container_args(self, sctx: SerializationContext) -> list[str]:
        """The command line a container running this task is started with."""
        return []

    def sql(self, sctx: SerializationContext) -> str | None:
        """The query of a database task, or ``None``."""
        return None

    def config(self, sctx: SerializationContext) -> dict[str, str]:
        """Flat string settings for the backend (e.g. data-loading contract of a container)."""
        return {}

    async def pre(self) -> dict[str, Any]:
        """Runs before ``execute`` in the action (e.g. start a Spark session); returns extra data."""
        return {}

    async def execute(self, **inputs: Any) -> Any:
        """Run the task. Subclasses that run in-process implement this."""
        raise NotImplementedError(f"Task type {self.task_type!r} ({type(self).__name__}) has no execute()")

    async def post(self, outputs: Any) -> Any:
        """Runs after ``execute``; may transform the outputs."""
        return outputs

    # ---- identity ------------------------------------------------------------------------------
    def source_version(self) -> str:
        """The version of the task's code; part of its identity and of the 'auto' cache version."""
        return _cached(
            self, "_source_version", lambda: _hash_text(self.version_material() + self._include_material())
        )

    def _include_material(self) -> str:
        if not self.include:
            return ""
        from flyte._include import include_digest

        return "|include:" + include_digest(self.include, self.include_base, f"{self.name} include")

    def version_material(self) -> str:
        """Everything that defines *what runs* (a script, a query, an image), hashed into the task's
        identity and its ``cache="auto"`` version: override it so editing that invalidates the cache
        and a recovered run notices."""
        return f"{type(self).__module__}.{type(self).__qualname__}|{self.plugin_config!r}"

    @property
    def identity(self) -> str:
        """Env-qualified name + interface + code version: editing one task changes only its own."""
        return _cached(
            self,
            "_identity",
            lambda: _hash_text(
                f"{self.name}|{self.task_type}:{self.task_type_version}|"
                f"{self.interface.type_repr()}|{self.source_version()}"
            ),
        )

    @property
    def is_sync(self) -> bool:
        """True when calling it from async code needs ``.aio()``."""
        return False

    # ---- calling -------------------------------------------------------------------------------
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        ac = current_action.get()
        if ac is None:
            return self.forward(*args, **kwargs)
        return ac.controller.call(self, ac, args, kwargs, False)  # type: ignore[no-any-return]

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, Any]:
        """Call the task and get an awaitable, also for sync tasks (for ``asyncio.gather``)."""
        ac = current_action.get()
        if ac is None:
            return self._forward_aio(args, kwargs)
        return ac.controller.call(self, ac, args, kwargs, via_aio=True)  # type: ignore[no-any-return]

    async def _forward_aio(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = self.forward(*args, **kwargs)  # type: ignore[arg-type]
        if inspect.isawaitable(result):
            return await result
        return result

    def forward(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """A plain call outside any run: run the template's hooks in-process, no journal
        (``max_runtime`` still applies)."""
        return self._forward(self.interface.bind(self.name, args, kwargs, direct=True))  # type: ignore[return-value]

    async def _forward(self, inputs: dict[str, Any]) -> Any:
        import asyncio

        from flyte.errors import MaxRuntimeExceededError

        limit = self.timeout.max_runtime_seconds if self.timeout is not None else None
        if limit is None:
            return await self.run_hooks(inputs)
        try:
            async with asyncio.timeout(limit):
                return await self.run_hooks(inputs)
        except TimeoutError:
            raise MaxRuntimeExceededError(
                f"Task {self.name!r} ran longer than its timeout of {limit:g}s"
            ) from None

    async def run_hooks(self, inputs: dict[str, Any], data: dict[str, Any] | None = None) -> Any:
        """pre, execute, post in this process: the one in-process execution path.

        The controller (inline actions), worker processes and a direct call all run a body through
        here; what ``pre`` returns is merged into ``data`` (the action's data, read by ``post``).
        """
        cls = type(self)
        if cls.pre is not TaskTemplate.pre:  # the base hooks do nothing: no coroutine for them
            extra = await self.pre()
            if extra and data is not None:
                data.update(extra)
        out = await self.execute(**inputs)
        return out if cls.post is TaskTemplate.post else await self.post(out)

    # ---- overrides -----------------------------------------------------------------------------
    def override(
        self,
        *,
        short_name: str | None = UNSET,
        resources: Resources | None = UNSET,
        cache: Any = UNSET,
        retries: int | RetryStrategy | None = UNSET,
        timeout: Any = UNSET,
        env_vars: Mapping[str, str] | None = UNSET,
        secrets: Any = UNSET,
        max_inline_io_bytes: int = UNSET,
        reusable: ReusePolicy | Literal["off"] | None = UNSET,
        plugin_config: Any = UNSET,
        pod_template: Any = UNSET,
        docs: str | None = UNSET,
        interruptible: bool = UNSET,
        queue: str | None = UNSET,
        service_account: str | None = UNSET,
        **refused: Any,
    ) -> TaskTemplate[P, R]:
        """Return a new template with some settings changed; the original never changes."""
        owner = f"{self.name}.override()"
        for key in refused:
            reason = _NOT_OVERRIDABLE.get(key, "it is not a task setting")
            raise InvalidParameterTypeError(owner, key, refused[key], f"It cannot be overridden: {reason}.")
        changes: dict[str, Any] = {}
        turning_reuse_off = reusable == "off"
        if self.reusable is not None and not turning_reuse_off:
            for key, val in (("resources", resources), ("env_vars", env_vars), ("secrets", secrets)):
                if val is not UNSET:
                    raise InvalidParameterError(
                        owner,
                        key,
                        val,
                        f"Environment {self.env_name!r} is reusable: its replicas are pre-warmed with fixed "
                        f"{key}. Pass reusable='off' together with {key}=... to run this call outside "
                        "the reusable environment.",
                    )
        if short_name is not UNSET:
            changes["short_name"] = short_name or ""
        if resources is not UNSET:
            if resources is not None and not isinstance(resources, Resources):
                raise InvalidParameterTypeError(owner, "resources", resources, "Use flyte.Resources(...).")
            changes["resources"] = resources
        if cache is not UNSET:
            changes["cache"] = normalize_cache(cache, owner)
        if retries is not UNSET:
            changes["retries"] = normalize_retries(retries, owner)
        if timeout is not UNSET:
            changes["timeout"] = normalize_timeout(timeout, owner)
        if env_vars is not UNSET:
            changes["env_vars"] = validate_env_vars(env_vars, owner)
        if secrets is not UNSET:
            changes["secrets"] = normalize_secrets(secrets, owner)
        if max_inline_io_bytes is not UNSET:
            changes["max_inline_io_bytes"] = validate_max_inline(max_inline_io_bytes, owner)
        if reusable is not UNSET:
            if turning_reuse_off or reusable is None:
                changes["reusable"] = None
            elif isinstance(reusable, ReusePolicy):
                changes["reusable"] = reusable
            else:
                raise param_error(owner, "reusable", reusable, "Use a flyte.ReusePolicy or 'off'.", types=str)
        if plugin_config is not UNSET:
            if plugin_config is not None:  # an object no plugin registered fails here, not at run time
                from flyte._plugins.manager import template_for_config

                template_for_config(plugin_config)
            changes["plugin_config"] = plugin_config
        claimed = None
        if pod_template is not UNSET:
            changes["pod_template"] = check_pod_template(owner, pod_template)
            if pod_template is not None and self.task_type == "python":
                # As TaskEnvironment(pod_template=...): the plugin that claims the field (if one is
                # installed) makes it its task type; otherwise the task stays a Python task.
                from flyte._plugins.manager import function_task_for_field

                claimed = function_task_for_field("pod_template")
                if claimed is not None:
                    changes["task_type"], changes["task_type_version"] = claimed[1], claimed[2]
        if docs is not UNSET:
            docs = check_docs(owner, "docs", docs)
            changes["docs"] = getattr(docs, "description", docs)
        for key, val in (
            ("interruptible", interruptible),
            ("queue", queue),
            ("service_account", service_account),
        ):
            if val is not UNSET:
                changes[key] = check_scheduling(key, val, owner)
        new: TaskTemplate[P, R] = dataclasses.replace(self, **changes)
        if claimed is not None and isinstance(self, AsyncFunctionTaskTemplate):
            target = claimed[0]
            if (
                target is not type(self)
                and isinstance(target, type)
                and issubclass(target, AsyncFunctionTaskTemplate)
            ):
                # the plugin's class adds its hooks (e.g. k8s_pod for flyte serialize)
                init = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
                new = target(**{**init, **changes})
        # Keep what ties the template to its defining module (`flyte rerun` imports it from there).
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k.startswith("__")})
        return new

    # ---- serialisation -------------------------------------------------------------------------
    def spec(self, sctx: SerializationContext | None = None) -> TaskSpec:
        """The JSON-serialisable description of this task, built by calling the hooks."""
        from flyte._spec import build_task_spec

        return build_task_spec(self, sctx or SerializationContext())


@dataclass(kw_only=True)
class AsyncFunctionTaskTemplate(TaskTemplate[P, R]):
    """A task that runs a Python function (async, or sync bridged onto a bounded pool)."""

    func: Callable[P, R]

    @property
    def is_sync(self) -> bool:
        d = self.__dict__
        v = d.get("_is_sync")
        if v is None:
            v = d["_is_sync"] = not _is_async_callable(self.func)
        return v  # type: ignore[no-any-return]

    def version_material(self) -> str:
        try:
            src = inspect.getsource(self.func)
        except (OSError, TypeError):
            code = getattr(self.func, "__code__", None)
            src = repr(code.co_code) if code is not None else self.func.__qualname__
        return f"{type(self).__qualname__}|{src}|{self.plugin_config!r}"

    def forward(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    async def execute(self, **inputs: Any) -> Any:
        if not self.is_sync:
            return await self.func(**inputs)  # type: ignore[misc,call-arg]
        return await run_sync(self.func, inputs)


async def run_sync(func: Callable[..., Any], inputs: Mapping[str, Any]) -> Any:
    """Run a sync function on the run's bounded pool, keeping the caller's context."""
    import asyncio
    import contextvars

    ac = current_action.get()
    loop = asyncio.get_running_loop()
    call: Callable[[], Any] = functools.partial(contextvars.copy_context().run, func, **inputs)
    if ac is None:
        return await loop.run_in_executor(None, call)
    # The controller may track the body (the driver: QUEUED while its pool is full); a worker's not.
    return await loop.run_in_executor(ac.controller.sync_pool, ac.controller.sync_body(ac.action, call))


def _is_async_callable(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or (
        callable(func) and inspect.iscoroutinefunction(type(func).__call__)
    )


def _defining_module() -> str | None:
    """The first module up the stack that is not flyte, a flyte plugin or dataclasses."""
    import sys

    frame: Any = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name == "flyte" or name.startswith(("flyte.", "flyteplugins.", "dataclasses"))):
            return name  # type: ignore[no-any-return]
        frame = frame.f_back
    return None


def _hash_text(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _cached(obj: Any, key: str, compute: Callable[[], str]) -> str:
    d = obj.__dict__
    v = d.get(key)
    if v is None:
        v = compute()
        d[key] = v  # a derived cache, not a field (dropped by __setattr__ when a field changes)
    return v  # type: ignore[no-any-return]
