"""Starting runs: ``flyte.init``, ``flyte.run``, ``flyte.with_runcontext``, ``flyte.rerun`` and ``Run``.

A run executes on an asyncio loop in this process (a separate thread when the caller already runs a
loop). Its record lives in the journal, so ``flyte rerun RUN --recover`` can replay it after a crash.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import getpass
import importlib.util
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from flyte._config import find_config, get_settings, load_config_file, make_settings, set_settings
from flyte._context import ActionContext, current_action
from flyte._runtime.codec import REF_TAG
from flyte._runtime.controller import (
    ABORTED,
    FAILED,
    JOURNAL_INLINE_LIMIT,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    ActionState,
    Controller,
    RecordedAction,
    aborted_error,
    interface_codec,
)
from flyte._runtime.identity import call_identity, id_base, root_action_id
from flyte._runtime.journal import Journal, RecordingRunJournal, open_journal
from flyte._runtime.journal_backend import run_url
from flyte._runtime.records import RecordWriter
from flyte._runtime.recovery import current_identities, load_recorded
from flyte._runtime.run_lease import RunOwnership, host_id
from flyte._runtime.store import join, store_for
from flyte._task import TaskTemplate
from flyte._validate import param_error
from flyte.errors import InitializationError, ModuleLoadError, RunNotFoundError, RunOwnershipLostError

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _SyncAio(Generic[P, R]):
    """A function callable as ``f(...)`` and awaitable as ``await f.aio(...)`` (the reference SDK's
    "syncified" entry points). ``aio`` runs the blocking call on a thread, so it never blocks the
    caller's loop. Works on functions and, through ``__get__``, on methods."""

    def __init__(self, fn: Callable[P, R], instance: Any = None) -> None:
        functools.update_wrapper(self, fn)
        self._fn: Callable[..., R] = fn
        self._instance = instance

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._instance is not None:
            return self._fn(self._instance, *args, **kwargs)
        return self._fn(*args, **kwargs)

    async def aio(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(self.__call__, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<flyte entry point {self._fn.__qualname__}>"


def syncify(fn: Callable[P, R]) -> _SyncAio[P, R]:
    return _SyncAio(fn)


class _SyncAioMethod(Generic[T, P, R]):
    """``_SyncAio`` for methods: ``obj.m(...)`` and ``await obj.m.aio(...)``."""

    def __init__(self, fn: Callable[Concatenate[T, P], R]) -> None:
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]  # not a callable itself
        self._fn = fn

    @overload
    def __get__(self, obj: None, objtype: Any = None) -> _SyncAioMethod[T, P, R]: ...
    @overload
    def __get__(self, obj: T, objtype: Any = None) -> _SyncAio[P, R]: ...
    def __get__(self, obj: T | None, objtype: Any = None) -> Any:
        return self if obj is None else _SyncAio(self._fn, obj)


def syncify_method(fn: Callable[Concatenate[T, P], R]) -> _SyncAioMethod[T, P, R]:
    return _SyncAioMethod(fn)


# org/project/domain given to init/init_from_config; read by ``current_project()``/``current_domain()``
_identity: dict[str, str | None] = {"org": None, "project": None, "domain": None}


def configured_project() -> str | None:
    """The project given to ``flyte.init``/``init_from_config`` (or its config file); None if none was."""
    return _identity["project"]


def configured_domain() -> str | None:
    """The domain given to ``flyte.init``/``init_from_config`` (or its config file); None if none was."""
    return _identity["domain"]


def configured_org() -> str | None:
    return _identity["org"]


def _storage_options(storage: Any) -> dict[str, Any] | None:
    if storage is None or isinstance(storage, Mapping):
        return None if storage is None else dict(storage)
    to_kwargs = getattr(storage, "get_fsspec_kwargs", None)
    if callable(to_kwargs):
        return dict(to_kwargs())
    from flyte.errors import InvalidParameterTypeError

    raise InvalidParameterTypeError(
        "init", "storage", storage, "Use a dict of store options, e.g. {'endpoint_url': ..., 'region': ...}."
    )


_INIT_BOOLS = (
    "reset_root_logger",
    "headless",
    "insecure",
    "insecure_skip_verify",
    "disable_keyring",
    "sync_local_sys_paths",
    "load_plugin_type_transformers",
    "local_persistence",
    "local_tracked",
    "local_tracked_strict",
)
_INIT_STRINGS = (
    "org",
    "project",
    "domain",
    "endpoint",
    "api_key",
    "client_id",
    "client_credentials_secret",
    "http_proxy_url",
    "image_registry",
    "raw_data_path",
    "executor",
    "pickle_key",
)


def check_init_keywords(**given: Any) -> None:
    """The ``init_*`` variants' keywords, checked as :func:`init` checks its own (before any effect)."""
    import inspect

    func = getattr(init, "__wrapped__", init)
    kw = {n: p.default for n, p in inspect.signature(func).parameters.items()}
    kw.update(given)
    _check_init_keywords(kw)


def _check_init_keywords(kw: dict[str, Any]) -> None:
    """Types and values of ``flyte.init`` keywords; the anchor takes most of them unchecked."""
    from flyte._validate import check_bool, check_choice, check_number, check_path, check_str, check_str_map
    from flyte.errors import InvalidParameterTypeError

    owner = "flyte.init"
    for param in _INIT_BOOLS:
        check_bool(owner, param, kw[param])
    for param in _INIT_STRINGS:
        check_str(owner, param, kw[param], optional=True, nonempty=True)
    for param in ("root_dir", "ca_cert_file_path", "source_config_path", "home"):
        check_path(owner, param, kw[param], optional=True)
    for param in ("log_level", "user_log_level"):
        check_number(owner, param, kw[param], optional=True, integer=True, minimum=0)
    check_choice(owner, "log_format", kw["log_format"], ("console", "json"), optional=True)
    auth = ("ClientSecret", "Pkce", "ExternalCommand", "DeviceFlow", "Passthrough")
    check_choice(owner, "auth_type", kw["auth_type"], auth)
    check_choice(owner, "image_builder", kw["image_builder"], ("local", "local-podman", "remote"))
    check_number(owner, "rpc_retries", kw["rpc_retries"], integer=True, minimum=0)
    check_number(owner, "batch_size", kw["batch_size"], integer=True, positive=True)
    check_str_map(owner, "images", kw["images"])
    for param in ("command", "proxy_command", "scopes"):
        value = kw[param]
        if value is not None and (
            not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value)
        ):
            raise InvalidParameterTypeError(owner, param, value, "Pass a list of strings or None.")
    cfg = kw["auth_client_config"]
    if cfg is not None and isinstance(cfg, (str, bytes, int, float, bool, list, tuple, set)):
        raise InvalidParameterTypeError(
            owner, "auth_client_config", cfg, "Pass an auth client config object or None."
        )


@syncify
def init(
    org: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    root_dir: str | os.PathLike[str] | None = None,
    log_level: int | None = None,
    log_format: str | None = None,
    reset_root_logger: bool = False,
    user_log_level: int | None = None,
    endpoint: str | None = None,
    headless: bool = False,
    insecure: bool = False,
    insecure_skip_verify: bool = False,
    ca_cert_file_path: str | None = None,
    auth_type: str = "Pkce",
    command: list[str] | None = None,
    proxy_command: list[str] | None = None,
    api_key: str | None = None,
    client_id: str | None = None,
    client_credentials_secret: str | None = None,
    auth_client_config: Any = None,
    rpc_retries: int = 3,
    http_proxy_url: str | None = None,
    disable_keyring: bool = False,
    storage: Any = None,
    batch_size: int = 1000,
    image_builder: str = "local",
    images: dict[str, str] | None = None,
    image_registry: str | None = None,
    source_config_path: str | os.PathLike[str] | None = None,
    sync_local_sys_paths: bool = True,
    load_plugin_type_transformers: bool = True,
    local_persistence: bool = False,
    local_tracked: bool = False,
    local_tracked_strict: bool = False,
    scopes: list[str] | None = None,
    *,
    raw_data_path: str | None = None,
    executor: str | None = None,
    pickle_key: str | None = None,
    home: str | os.PathLike[str] | None = None,
    journal: str | None = None,
) -> None:
    """Configure this process. With no arguments: local, embedded, under ``~/.flyte``.

    Takes the reference SDK's arguments, positionally too; those about a remote control plane
    (``endpoint``, ``api_key``, ``auth_type``, ``images`` ...) mean nothing to a local run and are
    accepted unused. ``org``/``project``/``domain`` are recorded (``flyte.current_project()``).
    ``root_dir`` is, as on the anchor, the root of the user's code: put on ``sys.path`` (with
    ``sync_local_sys_paths``) so tasks' modules import from it; nothing is written there. ``home``
    (ours; also ``$FLYTE_HOME``) is where the journal and, by default, the run data live.

    ``raw_data_path`` is where runs keep their data (``file://...`` or ``s3://bucket/prefix`` with
    flyte-plugin-s3), ``storage`` the store's options (``{"endpoint_url": ..., "region": ...}``; never
    credentials), ``pickle_key`` the secret that signs pickled values (default: $FLYTE_PICKLE_KEY,
    else a key made once in the home directory). ``executor`` is where child actions run: ``"local"``
    (this machine), or a cluster a plugin provides, e.g. ``"ray://HOST:PORT"`` (flyte-plugin-ray).
    ``journal`` (ours; also ``$FLYTE_JOURNAL``, ``journal`` in flyte.toml) is where runs are recorded:
    a SQLite file (default ``<home>/journal.db``) or ``postgresql://USER@HOST:PORT/DB``, shared by
    drivers on several machines (``pip install 'flyte-core[postgres]'``).
    """
    from flyte._runtime.codec import set_pickle_key
    from flyte._runtime.journal_backend import check_journal
    from flyte._runtime.placement.cluster import check_executor

    _check_init_keywords(locals())  # all before anything is configured
    if executor is not None:
        check_executor(executor)
    journal_target = None if journal is None else check_journal(journal, "flyte.init", "journal")
    options = _storage_options(storage)
    if log_level is not None:
        import logging

        logging.getLogger("flyte").setLevel(log_level)
    set_pickle_key(pickle_key)
    if root_dir is not None:
        code_root = os.path.abspath(os.fspath(root_dir))
        if not os.path.isdir(code_root):
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError("flyte.init", "root_dir", root_dir, "Use the folder of your code.")
        if sync_local_sys_paths and code_root not in sys.path:
            sys.path.append(code_root)
    set_settings(
        make_settings(
            home=None if home is None else os.fspath(home),
            raw_data_path=raw_data_path,
            storage=options,
            executor=executor,
            journal_path=journal_target,
            source="init",
        )
    )
    from flyte._image import set_image_refs
    from flyte._initialize import record_identity

    set_image_refs(images)  # what Image.from_ref_name(...) resolves to
    record_identity(project=project, domain=domain, org=org)  # validated; seen by worker processes
    _identity.update(org=org, project=project, domain=domain)


@syncify
def init_from_config(
    path_or_config: str | os.PathLike[str] | None = None,
    root_dir: str | os.PathLike[str] | None = None,
    log_level: int | None = None,
    log_format: str = "console",
    user_log_level: int | None = None,
    org: str | None = None,
    project: str | None = None,
    domain: str | None = None,
    storage: Any = None,
    batch_size: int = 1000,
    image_builder: str | None = None,
    images: tuple[str, ...] | None = None,
    sync_local_sys_paths: bool = True,
    *,
    raw_data_path: str | None = None,
    executor: str | None = None,
    pickle_key: str | None = None,
) -> None:
    """Configure from ``flyte.toml``; when no config is found, fall back to the local default.

    A relative ``path_or_config`` is taken relative to ``root_dir`` when that is given. Arguments
    given here win over the file's keys.
    """
    if path_or_config is not None and not isinstance(path_or_config, (str, os.PathLike)):
        from flyte.errors import InvalidParameterError

        raise InvalidParameterError(
            "init_from_config", "path_or_config", path_or_config, "Use the path of a flyte.toml, or None."
        )
    if path_or_config is not None and root_dir is not None and not os.path.isabs(path_or_config):
        path_or_config = os.path.join(os.fspath(root_dir), path_or_config)
    path = find_config(path_or_config)
    cfg: dict[str, Any] = {}
    if path is not None:
        cfg = load_config_file(path)
        known = {"home", "root_dir", "raw_data_path", "storage", "executor", "pickle_key", "journal"}
        identity = {"project", "domain", "org"}
        unknown = set(cfg) - known - identity - {"endpoint"}
        if unknown:
            raise InitializationError(
                "BadConfig",
                "user",
                f"config {str(path)!r}: unknown keys {sorted(unknown)}; accepted: {sorted(known | identity)}",
            )
    given = {
        "raw_data_path": raw_data_path,
        "storage": storage,
        "executor": executor,
        "pickle_key": pickle_key,
        "project": project,
        "domain": domain,
        "org": org,
    }
    m: dict[str, Any] = {k: (v if v is not None else cfg.get(k)) for k, v in given.items()}
    journal = None
    if not os.environ.get("FLYTE_JOURNAL") and cfg.get("journal") is not None:  # the env var wins
        from flyte._runtime.journal_backend import check_journal

        journal = check_journal(cfg["journal"], f"config {str(path)!r}", "journal")
    init(
        org=m["org"],
        project=m["project"],
        domain=m["domain"],
        root_dir=root_dir,
        images=_parse_images(images),
        home=cfg.get("home") or cfg.get("root_dir"),  # flyte.toml's `root_dir` is the older name
        sync_local_sys_paths=sync_local_sys_paths,
        log_level=log_level,
        storage=m["storage"],
        raw_data_path=m["raw_data_path"],
        executor=m["executor"],
        pickle_key=m["pickle_key"],
        journal=journal,
    )


def _parse_images(images: tuple[str, ...] | None) -> dict[str, str] | None:
    """``init_from_config(images=("gpu=registry/img:1", "registry/base:2"))``: ``name=uri`` pairs, a bare
    URI naming the ``"default"`` image, as the anchor's CLI form."""
    if images is None:
        return None
    out: dict[str, str] = {}
    for item in images:
        if not isinstance(item, str) or not item:
            from flyte.errors import InvalidParameterError

            raise InvalidParameterError(
                "init_from_config", "images", item, "Use 'name=image-uri' strings or a bare image URI."
            )
        name, sep, uri = item.partition("=")
        out[name if sep else "default"] = uri if sep else item
    return out


class ActionPhase(str, enum.Enum):  # noqa: UP042  (str() as the reference SDK gives it)
    """A run's or action's phase, by the reference SDK's names (``flyte.models.ActionPhase``)."""

    QUEUED = "queued"
    WAITING_FOR_RESOURCES = "waiting_for_resources"
    INITIALIZING = "initializing"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    RECOVERED = "recovered"

    @property
    def is_terminal(self) -> bool:
        return self not in (
            ActionPhase.QUEUED,
            ActionPhase.WAITING_FOR_RESOURCES,
            ActionPhase.INITIALIZING,
            ActionPhase.RUNNING,
            ActionPhase.PAUSED,
        )


_PHASES = {RUNNING: ActionPhase.RUNNING, SUCCEEDED: ActionPhase.SUCCEEDED, FAILED: ActionPhase.FAILED}
_PHASES[ABORTED] = ActionPhase.ABORTED
_PHASES[QUEUED] = ActionPhase.QUEUED


class ActionOutputs(tuple):  # type: ignore[type-arg]
    """A run's outputs as the reference SDK gives them: always a tuple (``outputs()[0]`` for a task
    with one output), each value also an attribute ``o0``, ``o1`` ...; ``named_outputs`` maps those
    names to the values. A NamedTuple's own field names are attributes too."""

    _fields: tuple[str, ...]

    def __new__(cls, values: Any) -> ActionOutputs:
        items = tuple(values) if isinstance(values, tuple) else (values,)
        obj = super().__new__(cls, items)
        obj._fields = tuple(f"o{i}" for i in range(len(items)))
        for name, v in zip(obj._fields, items):
            object.__setattr__(obj, name, v)
        own = getattr(type(values), "_fields", None) if isinstance(values, tuple) else None
        for name, v in zip(own or (), items):
            if isinstance(name, str) and not hasattr(tuple, name) and name not in obj.__dict__:
                object.__setattr__(obj, name, v)
        return obj

    @property
    def named_outputs(self) -> dict[str, Any]:
        return dict(zip(self._fields, self))

    def __repr__(self) -> str:
        parts = [f'{n}="{v}"' if isinstance(v, str) else f"{n}={v!r}" for n, v in zip(self._fields, self)]
        return f"ActionOutputs({', '.join(parts)})"


@dataclass
class Run:
    """A started run: its name, where its record lives (``url``), its ``phase`` and ``outputs()``.

    Runs execute in-process, so by the time ``flyte.run`` returns, the run has ended: ``wait()``
    returns at once. ``status`` is the journal's word for the phase (``"SUCCEEDED"``, ``"FAILED"`` ...).
    """

    name: str
    url: str
    status: str
    _outputs: Any = None
    _error: BaseException | None = None
    _journal_path: str = ""

    @property
    def phase(self) -> ActionPhase:
        return _PHASES.get(self.status, ActionPhase.RUNNING)

    @property
    def error(self) -> BaseException | None:
        return self._error

    def done(self) -> bool:
        return self.phase.is_terminal

    def sync(self) -> Run:
        return self

    @syncify_method
    def wait(self, quiet: bool = False, wait_for: str = "terminal") -> None:
        """Returns at once: the run has already ended."""

    @syncify_method
    def outputs(self) -> ActionOutputs:
        """The root task's outputs as an :class:`ActionOutputs` (``outputs()[0]`` for one value);
        re-raises the run's error if it failed."""
        if self._error is not None:
            raise self._error
        return ActionOutputs(self._outputs)

    @syncify_method
    def raise_for_status(self) -> None:
        """Raise the run's error if it failed; return if it succeeded."""
        if self._error is not None:
            raise self._error

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, status={self.status!r}, url={self.url!r})"


def _raise_failure(run: Run) -> None:
    """A failed run raises its root task's error (its own type, and ``flyte.errors.RuntimeUserError``
    with ``code`` = the type's name), noted with the run's name and how to recover it."""
    err = run._error
    if err is None:
        return
    note = f"run {run.name} failed (record: {run.url}); recover it with: flyte rerun {run.name} --recover"
    orig = getattr(err, "_flyte_original_type", type(err))
    notes = getattr(err, "__notes__", None) or []
    if orig is not type(err):  # the traceback's header names the anchor's RuntimeUserError
        raised = f"the task raised {orig.__name__}: {err}"
        if raised not in notes:
            err.add_note(raised)
    if note not in notes:
        err.add_note(note)
    try:
        err.flyte_run = run  # type: ignore[attr-defined]
    except AttributeError:  # __slots__ without __dict__
        pass
    raise err


@dataclass
class RunContext:
    """Per-run settings for ``with_runcontext(...).run(...)``."""

    name: str | None = None
    overwrite_cache: bool = False
    disable_run_cache: bool = False
    env_vars: Mapping[str, str] = field(default_factory=dict)
    max_action_concurrency: int | None = None
    raw_data_path: str | None = None
    mode: str | None = None
    isolation: str | None = None
    max_cpus: float | None = None
    listeners: list[Callable[..., None]] = field(default_factory=list)
    custom_context: dict[str, str] = field(default_factory=dict)
    project: str | None = None
    domain: str | None = None
    run_start_time: Any = None
    notifications: tuple[Any, ...] = ()  # flyte.notify.*, delivered when the run ends (issue 22)
    _prefix: str | None = None  # a recovered run's own data prefix (as recorded)
    _recover_from: str | None = None  # a new run reusing this recorded run's succeeded actions
    _force_rerun: tuple[str, ...] = ()  # recorded actions executed again instead of reused
    _id_base: str | None = None  # what action IDs derive from (see flyte._runtime.recovery)
    _meta: dict[str, Any] = field(default_factory=dict)  # recorded only (copy_style, service_account)

    @syncify_method
    def run(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """Run ``task``; returns the finished run, or raises its root task's error if it failed."""
        r = _start(self, task, args, kwargs)
        _raise_failure(r)
        return r

    def start(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """Like ``run`` but a failed run is returned (``status == "FAILED"``, ``.error``), not raised."""
        return _start(self, task, args, kwargs)

    async def run_aio(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        return await asyncio.to_thread(self.run, task, *args, **kwargs)

    @syncify_method
    def rerun(
        self,
        /,
        run_name: str,
        action_name: str = "a0",
        recover: bool = False,
        force_rerun_actions: Sequence[str] | None = None,
        allow_missing_source_outputs: bool = False,
        **inputs: Any,
    ) -> Run:
        """``flyte.rerun`` with this context's ``env_vars`` added to the recorded ones."""
        return _rerun(
            run_name, action_name, recover, force_rerun_actions, inputs, env_vars=self.env_vars, raises=True
        )


def with_runcontext(
    mode: str | None = None,
    *,
    name: str | None = None,
    service_account: str | None = None,
    version: str | None = None,
    copy_style: str = "loaded_modules",
    dry_run: bool = False,
    copy_bundle_to: Any = None,
    interactive_mode: bool | None = None,
    raw_data_path: str | None = None,
    run_base_dir: str | None = None,
    run_start_time: Any = None,
    overwrite_cache: bool = False,
    project: str | None = None,
    domain: str | None = None,
    env_vars: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    interruptible: bool | None = None,
    log_level: int | None = None,
    log_format: str = "console",
    user_log_level: int | None = None,
    reset_root_logger: bool = False,
    disable_run_cache: bool = False,
    queue: str | None = None,
    max_action_concurrency: int | None = None,
    notifications: Any = None,
    custom_context: Mapping[str, str] | None = None,
    cache_lookup_scope: str = "global",
    preserve_original_types: bool = False,
    debug: bool = False,
    tracked: bool = False,
    tracked_strict: bool = False,
    _tracker: Any = None,
    isolation: str | None = None,
    max_cpus: float | None = None,
) -> RunContext:
    """Settings for one run: its name, cache behaviour, env vars, concurrency, data location.

    Takes the reference SDK's keywords; those about remote execution (``service_account``,
    ``queue``, ``labels``, ``copy_style`` ...) are accepted unused. ``custom_context`` is what
    ``flyte.get_custom_context()`` returns in every task of the run. ``max_action_concurrency=0``
    means no limit. ``isolation`` and ``max_cpus`` are this SDK's (see ``_check_isolation``).
    """
    from flyte.errors import InvalidParameterTypeError

    if mode is not None and not isinstance(mode, str):
        raise InvalidParameterTypeError("with_runcontext", "mode", mode, "Pass 'local' or omit it.")
    if mode not in (None, "local"):
        raise InitializationError(
            "UnsupportedMode", "user", f"mode={mode!r}: this SDK runs locally (mode='local' or omit it)"
        )
    if max_action_concurrency is not None and (
        isinstance(max_action_concurrency, bool)
        or not isinstance(max_action_concurrency, int)
        or max_action_concurrency < 0
    ):
        raise param_error(
            "with_runcontext",
            "max_action_concurrency",
            max_action_concurrency,
            "Use a positive int, or 0/None for no limit.",
            types=int,
        )
    if custom_context is not None and not (
        isinstance(custom_context, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in custom_context.items())
    ):
        raise InvalidParameterTypeError(
            "with_runcontext", "custom_context", custom_context, "Use a dict of str to str."
        )
    _check_run_keywords(locals())
    _check_isolation(isolation, max_cpus)
    _start_time(run_start_time, 0.0)  # a bad value fails here, before anything is recorded
    if notifications is not None:
        from flyte.notify import normalize_notifications

        notifications = normalize_notifications(notifications, "with_runcontext")
    meta = {"copy_style": copy_style} if copy_style not in (None, "loaded_modules") else {}
    if service_account is not None:
        meta["service_account"] = service_account
    return RunContext(
        name=name,
        overwrite_cache=overwrite_cache,
        disable_run_cache=disable_run_cache,
        env_vars=dict(env_vars or {}),
        max_action_concurrency=max_action_concurrency or None,
        raw_data_path=raw_data_path,
        mode=mode,
        isolation=isolation,
        max_cpus=max_cpus,
        custom_context=dict(custom_context or {}),
        project=project,
        domain=domain,
        run_start_time=run_start_time,
        notifications=notifications or (),
        _meta=meta,
    )


def _check_run_keywords(kw: dict[str, Any]) -> None:
    """Types and values of ``with_runcontext`` keywords, checked before anything is recorded."""
    from flyte._validate import (
        check_bool,
        check_choice,
        check_notifications,
        check_number,
        check_path,
        check_str,
        check_str_map,
    )

    owner = "with_runcontext"
    for param in ("name", "service_account", "version", "raw_data_path", "run_base_dir", "project", "domain"):
        check_str(owner, param, kw[param], optional=True, nonempty=True)
    check_str(owner, "queue", kw["queue"], optional=True, nonempty=True)
    check_choice(owner, "copy_style", kw["copy_style"], ("loaded_modules", "all", "none", "custom"))
    check_choice(owner, "log_format", kw["log_format"], ("console", "json"))
    check_choice(owner, "cache_lookup_scope", kw["cache_lookup_scope"], ("global", "project-domain"))
    check_path(owner, "copy_bundle_to", kw["copy_bundle_to"], optional=True)
    for param in ("dry_run", "overwrite_cache", "reset_root_logger", "disable_run_cache"):
        check_bool(owner, param, kw[param])
    for param in ("preserve_original_types", "debug", "tracked", "tracked_strict"):
        check_bool(owner, param, kw[param])
    check_bool(owner, "interactive_mode", kw["interactive_mode"], optional=True)
    check_bool(owner, "interruptible", kw["interruptible"], optional=True)
    for param in ("log_level", "user_log_level"):
        check_number(owner, param, kw[param], optional=True, integer=True, minimum=0)
    for param in ("env_vars", "labels", "annotations"):
        check_str_map(owner, param, kw[param])
    check_notifications(owner, kw["notifications"])


_RECORDED_ONLY = ("copy_style", "service_account")
"""Run settings of a Flyte backend: kept in the run's record, no effect on a local run."""


def _check_isolation(isolation: str | None, max_cpus: float | None) -> None:
    """``isolation``: None (per environment), "inline", "process" or "container"; ``max_cpus``: CPUs."""
    from flyte._runtime.placement import check_isolation

    check_isolation(isolation, "with_runcontext")
    bad_cpus = isinstance(max_cpus, bool) or not isinstance(max_cpus, (int, float)) or max_cpus <= 0
    if max_cpus is not None and bad_cpus:
        raise param_error(
            "with_runcontext",
            "max_cpus",
            max_cpus,
            "Use a positive number of cores or None.",
            types=(int, float),
        )


@syncify
def run(task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
    """Run ``task`` with these inputs; returns the finished run, or raises its root task's error
    (see ``RunContext.run``). ``await flyte.run.aio(...)`` from async code."""
    return _start_or_raise(RunContext(), task, args, kwargs)


def _start_or_raise(rc: RunContext, task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: Any) -> Run:
    r = _start(rc, task, args, kwargs)
    _raise_failure(r)
    return r


@syncify
def rerun(
    run_name: str,
    action_name: str = "a0",
    recover: bool = False,
    force_rerun_actions: Sequence[str] | None = None,
    allow_missing_source_outputs: bool = False,
    **inputs: Any,
) -> Run:
    """Run a recorded run again, with its recorded inputs (keyword ``inputs`` change some of them).

    ``recover=True`` resumes that same run: actions that succeeded are not redone (this SDK recovers
    in place; the reference SDK makes a new run). Raises the root task's error if it fails again.
    """
    return _rerun(run_name, action_name, recover, force_rerun_actions, inputs, raises=True)


def _rerun(
    run_name: str,
    action_name: str = "a0",
    recover: bool = False,
    force_rerun_actions: Sequence[str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    env_vars: Mapping[str, str] | None = None,
    raises: bool = False,
    name: str | None = None,
    listeners: Sequence[Callable[..., None]] | None = None,
    project: str | None = None,
    domain: str | None = None,
) -> Run:
    """``flyte.rerun``'s body. ``name`` makes a recovery a new run of that name (``run_name``'s record
    is unchanged); ``force_rerun_actions`` (action ID prefixes or task names) execute again instead
    of being reused; ``listeners`` watch the run (the CLI's live view)."""
    from flyte.errors import InvalidParameterError

    if action_name != "a0":
        raise InvalidParameterError(
            "rerun", "action_name", action_name, "Only a whole run ('a0', its root action) can be run again."
        )
    if force_rerun_actions and not recover:
        raise InvalidParameterError(
            "rerun", "force_rerun_actions", list(force_rerun_actions), "It needs recover=True."
        )
    if recover and inputs:
        raise InvalidParameterError(
            "rerun",
            "inputs",
            sorted(inputs),
            "recover=True resumes the run with its recorded inputs; pass changed inputs with recover=False.",
        )
    settings = get_settings()
    journal = open_journal(settings.journal_path)
    row = journal.get_run(run_name)
    if row is None:
        raise RunNotFoundError(f"No run named {run_name!r} in {settings.journal_path}; see `flyte runs list`")
    task = load_task(row.module_file, row.module_name, row.attr)
    codec = interface_codec(task)
    raw = bytes(row.inputs or b"")
    if raw[:1] == REF_TAG:  # large inputs live in the run's store
        uri = raw[1:].decode()
        raw = store_for(uri).get_bytes(uri)
    recorded_inputs = dict(codec.decode_inputs(raw))
    if inputs:
        unknown = sorted(set(inputs) - set(task.interface.inputs))
        if unknown:
            raise InvalidParameterError(
                "rerun", "inputs", unknown, f"{task.name} takes {sorted(task.interface.inputs)}."
            )
        recorded_inputs.update(inputs)
    stored = json.loads(row.settings or "{}")
    in_place = recover and name in (None, run_name)
    kept = ("recovered_from",) if in_place else ()  # still what this run's record says
    rc = RunContext(
        name=run_name if in_place else name,
        env_vars={
            **_restore_secret_env(stored.get("env_vars", {}), stored.get("secret_env", [])),
            **(env_vars or {}),
        },
        max_action_concurrency=stored.get("max_action_concurrency"),
        isolation=stored.get("isolation"),
        max_cpus=stored.get("max_cpus"),
        custom_context=stored.get("custom_context") or {},
        project=project or stored.get("project"),
        domain=domain or stored.get("domain"),
        _prefix=row.store_prefix if in_place else None,
        _recover_from=run_name if recover and not in_place else None,
        _force_rerun=tuple(force_rerun_actions or ()),
        _id_base=stored.get("id_base") if in_place else None,
        _meta={k: stored[k] for k in (*_RECORDED_ONLY, *kept) if stored.get(k) is not None},
        listeners=list(listeners or ()),
    )
    r = _start(rc, task, (), recorded_inputs, recover=in_place)
    if raises:
        _raise_failure(r)
    return r


def load_task(module_file: str | None, module_name: str | None, attr: str) -> TaskTemplate[Any, Any]:
    """Import a task by the module file and attribute recorded for its run."""
    mod = sys.modules.get(module_name or "")
    if mod is None or (
        module_file and os.path.abspath(getattr(mod, "__file__", "") or "") != os.path.abspath(module_file)
    ):
        if not module_file or not os.path.exists(module_file):
            raise ModuleLoadError(f"cannot find the module of task {attr!r}: {module_file!r} does not exist")
        mod = import_module_from_file(module_file, module_name)
    obj = getattr(mod, attr, None)
    if not isinstance(obj, TaskTemplate):
        raise ModuleLoadError(f"{module_file}: {attr!r} is not a task")
    return obj


def import_module_from_file(path: str, name: str | None = None) -> Any:
    path = os.path.abspath(path)
    mod_name = name if name and name != "__main__" else os.path.splitext(os.path.basename(path))[0]
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    existing = sys.modules.get(mod_name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == path:
        return existing
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ModuleLoadError(f"cannot import {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[mod_name]
        raise ModuleLoadError(f"importing {path!r} failed: {type(e).__name__}: {e}{_where(e)}") from e
    return module


def _where(e: BaseException) -> str:
    """`` (at FILE:LINE)``: the innermost frame of the user's code in ``e``'s traceback, or ''."""
    import traceback

    root = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if not f.filename.startswith((root, "<")) and "importlib" not in f.filename
    ]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _task_location(task: TaskTemplate[Any, Any]) -> tuple[str | None, str | None, str]:
    func = getattr(task, "func", None)
    module_name = getattr(task, "__module__", None) or getattr(func, "__module__", None)
    mod = sys.modules.get(module_name or "")
    module_file = getattr(mod, "__file__", None)
    attr = task.name.split(".", 1)[-1] if "." in task.name else task.name
    if mod is not None:
        for k, v in vars(mod).items():
            if v is task:
                attr = k
                break
    return (os.path.abspath(module_file) if module_file else None), module_name, attr


def _new_run_name() -> str:
    return "r" + uuid.uuid4().hex[:10]


_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SECRET_ENV = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_KEY|_KEY$", re.I)


def _check_run_name(name: str) -> None:
    """Run names become part of object keys (``<raw data>/runs/<name>``): one plain path component."""
    if not _RUN_NAME.fullmatch(name) or ".." in name:
        raise InitializationError(
            "BadRunName",
            "user",
            f"run name {name!r}: use letters, digits, '.', '_' and '-' (at most 128, no '..', starting "
            "with a letter or digit)",
        )


def _redact_env(env: Mapping[str, str]) -> tuple[dict[str, str | None], list[str]]:
    """Run env vars as recorded: values of secret-looking names are never written to the journal."""
    secret = sorted(k for k in env if _SECRET_ENV.search(k))
    return {k: (None if k in secret else v) for k, v in env.items()}, secret


def _restore_secret_env(env: Mapping[str, str | None], secret: list[str]) -> dict[str, str]:
    """A rerun's env vars: recorded values, and secret ones taken from this process's environment."""
    out = {k: v for k, v in env.items() if v is not None}
    missing = []
    for k in secret:
        if k in os.environ:
            out[k] = os.environ[k]
        else:
            missing.append(k)
    if missing:
        import warnings

        warnings.warn(
            f"rerun: env vars {missing} were not recorded (secret-looking names) and are not set here",
            stacklevel=3,
        )
    return out


RECORD_EXPORT_INTERVAL = 1.0
"""A run in a remote store exports its changed rows at most this often (and at its end)."""


def _exports_record(prefix: str) -> bool:
    """Whether a run's record goes to ``<prefix>/_record``: remote stores yes, local ones no.

    ``FLYTE_RECORD_EXPORT=1``/``0`` forces it on or off.
    """
    forced = os.environ.get("FLYTE_RECORD_EXPORT", "").lower()
    if forced in ("1", "true", "yes", "always"):
        return True
    if forced in ("0", "false", "no", "never"):
        return False
    return "://" in prefix and not prefix.startswith("file://")


class _RecordExport:
    """Keeps a run's record in its store up to date: debounced while it runs, complete at its end."""

    def __init__(self, rj: RecordingRunJournal, writer: RecordWriter) -> None:
        self.rj = rj
        self.writer = writer
        self.task: asyncio.Task[None] | None = None
        self.warned = False

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop(), name="flyte-record-export")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(RECORD_EXPORT_INTERVAL)
            if not self.rj.touched and self.writer.snapshot is not None:
                continue
            ids = self.rj.take_touched()
            try:
                await asyncio.to_thread(self.writer.write, ids)
            except asyncio.CancelledError:
                self.rj.touched |= ids
                raise
            except Exception as e:
                self.rj.touched |= ids
                self._warn(e)

    def stop(self) -> None:
        """No more exports: the run was taken over (issue 25), its record is the new owner's."""
        if self.task is not None:
            self.task.cancel()

    def finish(self, storage_failed: bool) -> None:
        """The final, complete export (after the run's last journal commit)."""
        if self.task is not None:
            self.task.cancel()
        try:
            if not self.writer.write(None, final=True, quick=storage_failed):
                raise RuntimeError("storage is failing and an earlier export is still being retried")
        except Exception as e:
            self._warn(e, final=True)

    def _warn(self, e: BaseException, final: bool = False) -> None:
        if self.warned and not final:
            return
        self.warned = True
        import logging

        logging.getLogger("flyte.storage").warning(
            "run %s: could not export its record to %s (%s: %s); the local journal has it%s",
            self.writer.run_name,
            self.writer.base,
            type(e).__name__,
            e,
            f"; push it later with `flyte runs export {self.writer.run_name}`" if final else ", retrying",
        )


def _start(
    rc: RunContext,
    task: TaskTemplate[Any, Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    recover: bool = False,
) -> Run:
    reference = getattr(task, "_flyte_template", None)  # flyte.remote.Task.get(...): the deployed code
    if reference is not None and not isinstance(task, TaskTemplate):
        task = reference()
    if not isinstance(task, TaskTemplate):
        raise TypeError(f"flyte.run expects a task (decorated with @env.task), got {type(task).__name__}")
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    from flyte._runtime.gctune import run_thresholds

    if not in_loop:
        with run_thresholds():
            return asyncio.run(_execute(rc, task, args, kwargs, recover))
    result: list[Run] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            with run_thresholds():
                result.append(asyncio.run(_execute(rc, task, args, kwargs, recover)))
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=target, name="flyte-run")
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return result[0]


@dataclass
class _Recorded:
    """What a run reuses: its ID base and the recorded actions (and positions) it replays."""

    existing: Any  # the run's journal row when it is recovered in place
    base: str
    recorded: dict[str, RecordedAction] = field(default_factory=dict)
    positions: dict[tuple[str, int], str] = field(default_factory=dict)


async def _execute(
    rc: RunContext,
    task: TaskTemplate[Any, Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    recover: bool,
) -> Run:
    """Run ``task`` in this process: open the run, replay what is recorded, submit the root, finish."""
    settings = get_settings()
    cluster = None
    if settings.executor != "local":  # a missing executor plugin fails before anything is recorded
        from flyte._runtime.placement.cluster import load_cluster

        cluster = load_cluster(settings.executor)
    journal = open_journal(settings.journal_path)
    run_name = rc.name or _new_run_name()
    _check_run_name(run_name)
    prefix = rc._prefix or join(rc.raw_data_path or settings.raw_data_path, "runs", run_name)
    store = store_for(prefix)
    codec = interface_codec(task)
    inputs = task.interface.bind(task.name, args, kwargs)
    codec.validate_inputs(inputs)
    enc_inputs, inputs_hash = codec.encode_inputs(inputs)

    rec = _load_recorded(rc, journal, run_name, recover)
    ownership = _own_run(journal, run_name)
    now = time.time()
    try:
        segment = _open_run(rc, task, journal, store, prefix, run_name, enc_inputs, rec, now, ownership)
    except BaseException:
        ownership.release()
        raise
    ownership.start()

    export = _exports_record(prefix)
    # A run closes its journal writer at its end (_finish_run), so it may use a redo log.
    run_journal = RecordingRunJournal(journal, redo_log=True) if export else journal.for_run(redo=True)
    run_journal.fence = ownership  # a driver whose run was taken over writes nothing more
    controller = Controller(
        run_name,
        run_journal,
        store,
        prefix,
        overwrite_cache=rc.overwrite_cache,
        disable_run_cache=rc.disable_run_cache,
        max_action_concurrency=rc.max_action_concurrency,
        env_vars=rc.env_vars,
        recorded=rec.recorded,
        recorded_positions=rec.positions,
        isolation=rc.isolation,
        max_cpus=rc.max_cpus,
        cluster=cluster,
        recovered_from=rc._recover_from,
    )
    if recover and rec.existing is not None:
        controller.attempt_base = journal.attempt_counts(run_name)
    controller.loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    if main_task is not None:  # the lease taken over: stop this driver's tasks (see the finally below)
        ownership.on_lost = functools.partial(controller.loop.call_soon_threadsafe, main_task.cancel)
    controller.listeners.extend(rc.listeners)
    pseudo = ActionState(action_id=rec.base, task_name="<run>")
    controller.identity = (  # read by flyte.ctx().action
        rc.project or _identity["project"],
        rc.domain or _identity["domain"],
        _identity["org"],
    )
    controller.started_at = _start_time(rc.run_start_time, now)
    root_ctx = ActionContext(controller, pseudo, custom=dict(rc.custom_context))
    exporter = None
    if isinstance(run_journal, RecordingRunJournal):
        exporter = _RecordExport(run_journal, RecordWriter(journal, run_name, prefix, store))
        exporter.start()
    saved_env = _apply_env({**rc.env_vars, **_storage_env(prefix)})
    token = current_action.set(root_ctx)
    status, outputs, error = SUCCEEDED, None, None
    try:
        outputs = await controller.submit(task, root_ctx, (), inputs)
    except asyncio.CancelledError:
        status, error = ABORTED, None
        raise
    except BaseException as e:
        status, error = FAILED, e
    finally:
        await controller.settle_aborted()  # issue 24: orphans' cleanup is not cut off by the loop's end
        current_action.reset(token)
        _restore_env(saved_env)
        root_id = root_action_id(rec.base, call_identity(task), inputs_hash)
        try:
            try:
                ownership.confirm()
            except RunOwnershipLostError:
                pass
            if ownership.error is None:
                try:
                    _finish_run(rc, journal, controller, exporter, segment, root_id, status, error, ownership)
                except RunOwnershipLostError:
                    pass  # taken over just before its end: raised below, nothing recorded
            else:  # another driver owns the run now: its end is that driver's to record
                controller.close()
                if exporter is not None:
                    exporter.stop()
        finally:
            ownership.release()
        if ownership.error is not None:
            raise ownership.error from None
    url = run_url(settings.journal_path, run_name)
    return Run(
        name=run_name, url=url, status=status, _outputs=outputs, _error=error, _journal_path=journal.path
    )


def _load_recorded(rc: RunContext, journal: Journal, run_name: str, recover: bool) -> _Recorded:
    """Check the run may start (or be recovered) and load what it replays from the journal."""
    existing = journal.get_run(run_name)
    if existing is not None and not recover:
        raise InitializationError(
            "RunExists", "user", f"a run named {run_name!r} already exists; pick another name or recover it"
        )
    if existing is not None and existing.status == RUNNING and _alive_elsewhere(existing.host, existing.pid):
        raise InitializationError(
            "RunActive",
            "user",
            f"run {run_name!r} is still running in process {existing.pid} on this machine; "
            "recover it only after that process has ended",
        )
    rec = _Recorded(existing, rc._id_base or run_name)
    if recover and existing is not None:
        rec.recorded, rec.positions = load_recorded(
            journal, run_name, rec.base, same_run=True, force=rc._force_rerun
        )
    elif rc._recover_from is not None:
        rec.base, rec.recorded = _recover_from(journal, rc._recover_from, run_name, rc._force_rerun)
    return rec


def _own_run(journal: Journal, run_name: str) -> RunOwnership:
    """Take the run's lease (issue 25): refused while a driver, on any host, still renews it."""
    from flyte._runtime.run_lease import TTL_ENV

    ownership = RunOwnership(journal, run_name)
    holder = ownership.take()
    if holder is not None:
        left = max(0.0, holder.expires_at - time.time())
        raise InitializationError(
            "RunActive",
            "user",
            f"run {run_name!r} is still running: its driver (process {holder.pid} on host {holder.host})"
            f" holds its lease, {left:.1f} s left of {holder.ttl:g} s; recover it after that driver has"
            f" ended or its lease expired (${TTL_ENV} sets the lease time)",
        )
    return ownership


def _open_run(
    rc: RunContext,
    task: TaskTemplate[Any, Any],
    journal: Journal,
    store: Any,
    prefix: str,
    run_name: str,
    enc_inputs: bytes,
    rec: _Recorded,
    now: float,
    ownership: RunOwnership,
) -> int:
    """Record the run's start (a new run, or a new segment of a recovered one); returns the segment.
    A fenced commit (issue 25): a driver that lost the lease it just took (frozen past its TTL
    before this write) does not reopen the run over the record of the driver that took it over."""
    module_file, module_name, attr = _task_location(task)
    recorded_env, secret_env = _redact_env(rc.env_vars)
    run_settings = json.dumps(
        {
            "env_vars": recorded_env,
            "secret_env": secret_env,
            "max_action_concurrency": rc.max_action_concurrency,
            "isolation": rc.isolation,
            "max_cpus": rc.max_cpus,
            "custom_context": rc.custom_context,
            "project": rc.project,
            "domain": rc.domain,
            **rc._meta,
            **({"id_base": rec.base} if rec.base != run_name else {}),
            **({"recovered_from": rc._recover_from} if rc._recover_from else {}),
        }
    )
    if rec.existing is not None:
        # A recovery is a new segment of the run: the run keeps its first start; its end (at the end
        # of this segment) is the last segment's.
        try:
            _test_pause("run-start")
            return journal.run_resumed(run_name, RUNNING, now, os.getpid(), run_settings, ownership)
        except FileExistsError:  # another driver began recovering it at the same moment
            raise InitializationError(
                "RunActive",
                "user",
                f"run {run_name!r} is being recovered by another driver; let that one finish",
            ) from None
    run_inputs = enc_inputs
    if len(enc_inputs) > JOURNAL_INLINE_LIMIT:
        run_inputs = REF_TAG + store.put_bytes(join(prefix, "inputs"), enc_inputs).encode()
    try:
        return journal.run_created(
            run_name,
            task.name,
            module_file,
            module_name,
            attr,
            run_inputs,
            RUNNING,
            now,
            prefix,
            host_id(),
            _user(),
            os.getpid(),
            run_settings,
            ownership,
        )
    except FileExistsError:  # another process started a run of that name meanwhile
        raise InitializationError(
            "RunExists",
            "user",
            f"a run named {run_name!r} already exists; pick another name or recover it",
        ) from None


def _finish_run(
    rc: RunContext,
    journal: Journal,
    controller: Controller,
    exporter: _RecordExport | None,
    segment: int,
    root_id: str,
    status: str,
    error: BaseException | None,
    ownership: RunOwnership,
) -> None:
    """Record the run's end, close the controller, finish the export and send notifications.

    The end is a fenced commit (issue 25): a driver that lost the run's lease, even in the last
    moment before this write, records nothing (RunOwnershipLostError) and sends no notification."""
    run_name = controller.run_name
    err_text = None
    if error is not None:
        from flyte._runtime.errors_bridge import error_record

        err_text = error_record(error)
    try:
        controller.journal.close()  # commits what is queued, removes its redo log
        _test_pause("run-end")
        ended = time.time()
        # Whatever is still marked running has been left behind (abandoned by its parent, or
        # running when an earlier process of this run died and not called again): aborted.
        journal.run_finished(
            run_name,
            segment,
            status,
            ended,
            err_text,
            root_id,
            (RUNNING, ABORTED, aborted_error()),
            ownership,
        )
    except RunOwnershipLostError:
        controller.close()
        if exporter is not None:
            exporter.stop()
        raise
    controller.close()
    if exporter is not None:
        from flyte.errors import StorageError

        exporter.finish(storage_failed=isinstance(error, StorageError))
    if rc.notifications:  # after the end is recorded; also for an aborted (cancelled) run
        from flyte._notify.deliver import deliver_for_run, run_phase

        project, domain = controller.identity[:2]  # type: ignore[attr-defined]
        msg = "" if error is None else str(error)
        phase = run_phase(status, error)
        deliver_for_run(journal, run_name, phase, msg, rc.notifications, project or "", domain or "")


def _test_pause(point: str) -> None:
    """Tests only: the driver stops itself (SIGSTOP) at ``point`` when ``$FLYTE_TEST_STOP_AT`` names
    it, so a test can take its run over exactly there and thaw it (SIGCONT). Unset in real use."""
    if os.environ.get("FLYTE_TEST_STOP_AT") == point:
        import signal

        os.kill(os.getpid(), signal.SIGSTOP)


def _start_time(given: Any, default: float) -> float:
    """``with_runcontext(run_start_time=)``: a datetime (naive ones are UTC) or epoch seconds."""
    if given is None:
        return default
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        return float(given)
    import datetime

    if isinstance(given, datetime.datetime):
        if given.tzinfo is None:
            given = given.replace(tzinfo=datetime.UTC)
        return float(given.timestamp())
    from flyte.errors import InvalidParameterTypeError

    raise InvalidParameterTypeError(
        "with_runcontext", "run_start_time", given, "Use a datetime (UTC when it has no tzinfo)."
    )


def _recover_from(
    journal: Journal, source: str, run_name: str, force: Sequence[str]
) -> tuple[str, dict[str, RecordedAction]]:
    """(ID base, reusable actions) of a new run recovering from the recorded run ``source``."""
    row = journal.get_run(source)
    if row is None:
        raise RunNotFoundError(f"recover_from: no run named {source!r}; see `flyte runs list`")
    if source == run_name:
        raise InitializationError(
            "RunExists", "user", f"recover_from={source!r} names this run; give the new run another name"
        )
    if row.status == RUNNING and _alive_elsewhere(row.host, row.pid):
        raise InitializationError(
            "RunActive",
            "user",
            f"run {source!r} is still running in process {row.pid}; wait for it to end",
        )
    base = id_base(row)
    current = current_identities()
    recorded, _ = load_recorded(journal, source, base, same_run=False, force=force, current=current)
    return base, recorded


def _alive_elsewhere(host: str | None, pid: int | None) -> bool:
    """True when the process recorded as running a run is another live process on this machine."""
    if not pid or pid == os.getpid() or host != host_id():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "?"


def _storage_env(prefix: str) -> dict[str, str]:
    """The store options a run hands to its worker processes (which do not share ``flyte.init``)."""
    if "://" not in prefix or prefix.startswith("file://"):
        return {}
    from flyte._runtime.store import storage_options

    scheme = prefix.split("://", 1)[0]
    opts = {k: v for k, v in storage_options(scheme).items() if not _SECRET_ENV.search(k)}
    return {"FLYTE_STORAGE_OPTIONS": json.dumps(opts, default=str)} if opts else {}


def _apply_env(env: Mapping[str, str]) -> dict[str, str | None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


__all__ = [
    "ActionOutputs",
    "ActionPhase",
    "Journal",
    "Run",
    "RunContext",
    "configured_domain",
    "configured_project",
    "init",
    "init_from_config",
    "rerun",
    "run",
    "with_runcontext",
]
