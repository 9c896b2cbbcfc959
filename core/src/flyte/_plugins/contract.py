"""The plugin contract: every type a plugin implements or receives, and nothing else.

This module is the bottom layer. It imports only ``typing`` at run time (the runtime types it names
are imported for type checking only), so a plugin's hooks module that does
``from flyte.extend import hookimpl`` costs a few modules, never the controller, the journal or
pluggy. The runtime depends on these types; they depend on nothing in the runtime.

- ``hookimpl``: the marker for hook functions (pluggy reads the ``flyte_impl`` options it sets);
- what a task type's backend is: ``Backend`` (``run(task, inputs, ctx)``) or ``Connector``
  (``create/get/delete`` a remote job, identified by a ``ResourceMeta``), and what it receives, the
  ``ExecutionContext``;
- ``Executor`` (a cluster executor, ``flyte.init(executor="ray://...")``), ``ObjectStore`` (a storage
  scheme) and ``TypeTransformer`` (a plugin's value type);
- ``TaskTypeRegistry`` / ``NamedRegistry``: what the ``flyte_register_*`` hooks are handed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload, runtime_checkable

if TYPE_CHECKING:
    from flyte._runtime.journal import RunJournal
    from flyte._runtime.placement.remote import RemoteAction
    from flyte._task import TaskTemplate

PROJECT = "flyte"
"""The pluggy project name: hook functions carry their options in ``flyte_impl``."""

_F = TypeVar("_F", bound=Callable[..., Any])


@overload
def hookimpl(
    function: _F, *, tryfirst: bool = ..., trylast: bool = ..., specname: str | None = ...
) -> _F: ...


@overload
def hookimpl(
    function: None = ..., *, tryfirst: bool = ..., trylast: bool = ..., specname: str | None = ...
) -> Callable[[_F], _F]: ...


def hookimpl(
    function: _F | None = None,
    *,
    tryfirst: bool = False,
    trylast: bool = False,
    specname: str | None = None,
) -> _F | Callable[[_F], _F]:
    """Mark a function of a plugin's hooks module as the implementation of the hook of its name.

    Same options and attribute as ``pluggy.HookimplMarker("flyte")``, without importing pluggy: the
    plugin manager (which does) reads them when plugins are loaded.
    """

    def mark(func: _F) -> _F:
        opts = {
            "wrapper": False,
            "hookwrapper": False,
            "optionalhook": False,
            "tryfirst": tryfirst,
            "trylast": trylast,
            "specname": specname,
        }
        setattr(func, PROJECT + "_impl", opts)
        return func

    return mark(function) if function is not None else mark


# ---- what a backend receives ------------------------------------------------------------------------


class ExecutionContext:
    """What a backend gets besides the template and inputs: where the action is and what it may use.

    ``data`` is the action's own scratch space (kept across its attempts); ``journal`` is the run's
    journal writer (for a backend that records more than its result); ``env_vars`` are the run's.
    """

    __slots__ = ("action_id", "attempt", "data", "env_vars", "journal", "run_name", "run_prefix", "store")

    def __init__(
        self,
        *,
        run_name: str,
        action_id: str,
        attempt: int,
        run_prefix: str,
        store: ObjectStore,
        journal: RunJournal,
        data: dict[str, Any],
        env_vars: Mapping[str, str],
    ) -> None:
        self.run_name = run_name
        self.action_id = action_id
        self.attempt = attempt
        self.run_prefix = run_prefix
        self.store = store
        self.journal = journal
        self.data = data
        self.env_vars = env_vars

    def action_prefix(self) -> str:
        """``<run prefix>/<action id>``: where this action's files (logs, offloaded values) go."""
        return "/".join([self.run_prefix.rstrip("/"), self.action_id.strip("/")])

    def __repr__(self) -> str:
        return (
            f"ExecutionContext(run_name={self.run_name!r}, action_id={self.action_id!r}, "
            f"attempt={self.attempt})"
        )


@runtime_checkable
class Backend(Protocol):
    """Runs an action to completion where it lives (a subprocess, a container, a Spark session)."""

    async def run(
        self, task: TaskTemplate[Any, Any], inputs: dict[str, Any], ctx: ExecutionContext
    ) -> Any: ...


class ResourceMeta:
    """What identifies a remote job; recorded in the journal so a recovered run re-attaches to it."""

    __slots__ = ("data", "kind")

    def __init__(self, kind: str, data: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.data: dict[str, Any] = {} if data is None else data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceMeta) and (self.kind, self.data) == (other.kind, other.data)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"ResourceMeta(kind={self.kind!r}, data={self.data!r})"


class Resource:
    """A remote job's state as reported by ``Connector.get``: ``phase`` is SUCCEEDED, FAILED or any
    other word for "still running"; ``outputs`` on success, ``message``/``error`` on failure."""

    __slots__ = ("error", "message", "outputs", "phase")

    def __init__(
        self, phase: str, outputs: Any = None, message: str = "", error: BaseException | None = None
    ) -> None:
        self.phase = phase
        self.outputs = outputs
        self.message = message
        self.error = error

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and (self.phase, self.outputs, self.message, self.error) == (
            other.phase,
            other.outputs,
            other.message,
            other.error,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Resource(phase={self.phase!r}, outputs={self.outputs!r}, message={self.message!r})"


@runtime_checkable
class Connector(Protocol):
    """A remote job: created once, polled with backoff, deleted on cancel (idempotently)."""

    async def create(
        self, task: TaskTemplate[Any, Any], inputs: dict[str, Any], ctx: ExecutionContext
    ) -> ResourceMeta: ...

    async def get(self, meta: ResourceMeta) -> Resource: ...

    async def delete(self, meta: ResourceMeta) -> None: ...


# ---- executors, stores, value types -----------------------------------------------------------------


@runtime_checkable
class Executor(Protocol):
    """A cluster executor (``flyte.init(executor="<scheme>://...")``), made by the factory a plugin
    registers for its scheme with ``factory(address=...)``.

    ``mode`` is the word ``flyte runs show`` prints for the actions it ran; ``run`` runs one attempt
    of a function action (``action.spec()`` travels, ``action.reply()`` answers the body's requests,
    ``action.outcome()`` gives the output or raises); ``close`` releases what the run held.
    (The ``container`` executor of ``isolation="container"`` is a ``Backend`` instead.)
    """

    mode: str

    async def run(self, action: RemoteAction) -> Any: ...

    def close(self) -> None: ...


@runtime_checkable
class ObjectStore(Protocol):
    """What the runtime needs from a store; plugins implement it for other URI schemes.

    A store may also define ``is_transient(exc) -> bool`` so the runtime retries throttling and
    restarts (and only those) up to its deadline.
    """

    def put_bytes(self, uri: str, data: bytes) -> str: ...

    def get_bytes(self, uri: str) -> bytes: ...

    def put_file(self, local_path: str, uri: str) -> str: ...

    def get_file(self, uri: str, local_path: str) -> str: ...

    def exists(self, uri: str) -> bool: ...


@runtime_checkable
class TypeTransformer(Protocol):
    """How a plugin's own value type (a Spark DataFrame) crosses task boundaries: as a small JSON
    reference (the data goes to the run's object store first), registered with
    ``flyte_register_types``."""

    type_path: str
    """``module.QualName`` of the Python type it handles (matched without importing the module)."""

    def validate(self, value: Any) -> None:
        """Raise ``TypeError``/``ValueError`` when ``value`` is not of the handled type."""

    def to_json(self, value: Any) -> Any:
        """A JSON-able reference to the value (write the data to the object store first)."""

    def from_json(self, data: Any, hint: Any) -> Any:
        """The value back from its reference."""


# ---- what the registration hooks are handed ---------------------------------------------------------


class TaskTypeRegistry(Protocol):
    """Handed to ``flyte_register_task_types``."""

    def add(
        self,
        task_type: str,
        version: int,
        template_cls: type,
        config_type: type | None = None,
        backend: Any = None,
        *,
        function_field: str | None = None,
    ) -> None:
        """Register ``template_cls`` for ``task_type``.

        ``config_type``: ``TaskEnvironment(plugin_config=<instance>)`` builds this template class.
        ``backend``: None (the controller calls ``pre``/``execute``/``post`` in process), a
        ``Backend`` or a ``Connector`` (an instance, or a class made once per run).
        ``function_field``: a Python function task that sets this ``TaskTemplate`` field (e.g.
        ``"pod_template"``) becomes a task of this type while the plugin is installed; without it
        the task stays a plain Python task.
        """


class NamedRegistry(Protocol):
    """Handed to ``flyte_register_storage`` (scheme -> store factory), ``flyte_register_executors``
    (name or scheme -> executor factory) and ``flyte_register_types`` (type path -> transformer)."""

    def add(self, name: str, factory: Callable[..., Any]) -> None: ...


__all__ = [
    "Backend",
    "Connector",
    "ExecutionContext",
    "Executor",
    "NamedRegistry",
    "ObjectStore",
    "Resource",
    "ResourceMeta",
    "TaskTypeRegistry",
    "TypeTransformer",
    "hookimpl",
]


def connector_meta_to_json(meta: ResourceMeta) -> str:
    """The journal's text for a connector's ``ResourceMeta``."""
    import json

    return json.dumps({"kind": meta.kind, "data": meta.data})


def connector_meta_from_json(text: str) -> ResourceMeta:
    import json

    d = json.loads(text)
    return ResourceMeta(kind=d["kind"], data=d.get("data", {}))
