"""What crosses the process boundary between the controller and a worker, and how.

Messages are length-prefixed pickles of small tuples. Functions, templates and values inside them are
cloudpickled with two twists, both so that a task's module is *imported* in the worker (its
module-level state then lives as long as the worker) instead of being copied by value:

- a task function (or a template that is a module attribute) travels as ``(module, name)``;
- things defined in ``__main__`` travel as a reference to the script file, which the worker imports
  once under the name ``__flyte_main__`` (the controller aliases that name to its ``__main__``, so
  values coming back resolve to the controller's own classes).

Exceptions travel as (class, args, state, remote traceback), rebuilt without calling ``__init__``, so
exception classes with custom constructors survive the trip.
"""

from __future__ import annotations

import collections
import importlib
import importlib.util
import io
import math
import os
import pickle
import select
import selectors
import struct
import sys
import traceback
import types
import uuid
from typing import Any

import cloudpickle

from flyte._runtime.store import join, uri_to_path
from flyte._task import TaskTemplate

MAIN_ALIAS = "__flyte_main__"
HEADER = 8
PIPE_LIMIT = 1024 * 1024
"""Values above this go through the object store instead of the socket."""


_length = struct.Struct(">Q").pack  # a message's header: HEADER bytes, big-endian
_dumps = pickle.dumps


def frame(msg: Any) -> bytes:
    """A message as bytes on the wire: 8-byte length, then the pickle."""
    body = _dumps(msg, 5)
    return _length(len(body)) + body


def unframe(body: bytes) -> Any:
    return pickle.loads(body)


# ---- references into modules ----------------------------------------------------------------------
def _main_file() -> str | None:
    main = sys.modules.get("__main__")
    f = getattr(main, "__file__", None)
    return f if isinstance(f, str) and f.endswith(".py") else None


def alias_main() -> None:
    """Controller side: make ``__flyte_main__.X`` (from a worker) resolve to ``__main__.X`` here."""
    main = sys.modules.get("__main__")
    if main is not None and MAIN_ALIAS not in sys.modules:
        sys.modules[MAIN_ALIAS] = main


def _import(module: str, file: str | None) -> types.ModuleType:
    if module == "__main__":
        module = MAIN_ALIAS
    mod = sys.modules.get(module)
    if mod is not None:
        return mod
    if module == MAIN_ALIAS and file:
        spec = importlib.util.spec_from_file_location(MAIN_ALIAS, file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import the script {file!r}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[MAIN_ALIAS] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[MAIN_ALIAS]
            raise
        return mod
    return importlib.import_module(module)


def resolve_attr(module: str, name: str, file: str | None) -> Any:
    """Receiving side of a reference: import the module (once per process) and take the attribute."""
    obj: Any = _import(module, file)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_task_func(module: str, name: str, file: str | None) -> Any:
    target = resolve_attr(module, name, file)
    return getattr(target, "func", target) if isinstance(target, TaskTemplate) else target


def rebuild_template(cls: Any, state: dict[str, Any]) -> Any:
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _module_ref(obj: Any, name: str) -> tuple[str, str, str | None] | None:
    mod_name = getattr(obj, "__module__", None)
    if not isinstance(mod_name, str):
        return None
    mod = sys.modules.get(mod_name)
    if mod is None:
        return None
    file = _main_file() if mod_name == "__main__" else None
    if mod_name == "__main__" and file is None:
        return None
    return mod_name, name, file


class _Pickler(cloudpickle.CloudPickler):  # type: ignore[misc]
    def reducer_override(self, obj: Any) -> Any:
        t = type(obj)
        if t is types.FunctionType:
            name = obj.__qualname__
            if "<" not in name and "." not in name:
                mod = sys.modules.get(obj.__module__)
                target = getattr(mod, name, None) if mod is not None else None
                is_task_func = isinstance(target, TaskTemplate) and getattr(target, "func", None) is obj
                if is_task_func or (target is obj and obj.__module__ == "__main__"):
                    ref = _module_ref(obj, name)
                    if ref is not None:
                        return resolve_task_func, ref
        elif isinstance(obj, TaskTemplate):
            func = getattr(obj, "func", None)
            name = getattr(func, "__name__", None)
            mod = sys.modules.get(getattr(func, "__module__", "") or "")
            if name and mod is not None and getattr(mod, name, None) is obj:
                ref = _module_ref(func, name)
                if ref is not None:
                    return resolve_attr, ref
            state = {k: v for k, v in obj.__dict__.items() if not k.startswith("_")}  # drop derived caches
            return rebuild_template, (t, state)
        elif isinstance(obj, type) and obj.__module__ == "__main__":
            main = sys.modules.get("__main__")
            if "<" not in obj.__qualname__ and _lookup(main, obj.__qualname__) is obj:
                ref = _module_ref(obj, obj.__qualname__)
                if ref is not None:
                    return resolve_attr, ref
        return super().reducer_override(obj)


def _lookup(mod: Any, qualname: str) -> Any:
    obj = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


_PLAIN = frozenset({int, float, str, bytes, bool, type(None)})


def _plain(obj: Any) -> bool:
    """A primitive, or a dict/list/tuple of primitives (a task's usual inputs and outputs): plain
    ``pickle`` writes the same bytes for these as cloudpickle, without building a pickler."""
    t = type(obj)
    if t in _PLAIN:
        return True
    if t is dict:
        return len(obj) <= 64 and all(type(k) is str and type(v) in _PLAIN for k, v in obj.items())
    if t is tuple or t is list:
        return len(obj) <= 64 and all(type(v) in _PLAIN for v in obj)
    return False


def dumps(obj: Any) -> bytes:
    """cloudpickle, with task functions and ``__main__`` definitions passed by reference."""
    if _plain(obj):  # issue 20: a pickler object per action was a tenth of a worker's own time
        return pickle.dumps(obj, protocol=5)
    buf = io.BytesIO()
    _Pickler(buf, protocol=5).dump(obj)
    return buf.getvalue()


def loads(data: bytes) -> Any:
    return pickle.loads(data)


INLINE_TEXT = 1 << 16
"""A str or bytes value at most this long rides in a message as itself (see :func:`small_plain`)."""
_SIZED = (str, bytes)


def small_plain(obj: Any) -> bool:
    """:func:`_plain`, with no str or bytes longer than ``INLINE_TEXT``: such a value travels inside
    the message that carries it (pickled with it, once) instead of as a pickle of its own in the
    message, which both ends would pickle and unpickle twice (issue 20: a worker's inputs and output).
    A long text keeps the bytes path, which can go through the object store (``put_value``)."""
    t = type(obj)
    if t in _PLAIN:
        return t not in _SIZED or len(obj) <= INLINE_TEXT
    if t is dict:
        if len(obj) > 64:
            return False
        for k, v in obj.items():
            tv = type(v)
            if type(k) is not str or tv not in _PLAIN or (tv in _SIZED and len(v) > INLINE_TEXT):
                return False
        return True
    if t is tuple or t is list:
        if len(obj) > 64:
            return False
        for v in obj:
            tv = type(v)
            if tv not in _PLAIN or (tv in _SIZED and len(v) > INLINE_TEXT):
                return False
        return True
    return False


VALUE = "v"
"""Tag of a value that travels as itself: ``(VALUE, obj)`` (an output; see :func:`out_payload`)."""


def out_payload(store: Any, prefix: str, action_id: str, out: Any, limit: int | None = None) -> Any:
    """A successful output as it travels back: ``(VALUE, out)`` when :func:`small_plain` (one pickle,
    the message's), else :func:`put_value` of its pickle (bytes, or a reference into the store)."""
    if small_plain(out):
        return (VALUE, out)
    return put_value(store, prefix, action_id, dumps(out), limit=limit)


def out_value(store: Any, payload: Any) -> Any:
    """The output of :func:`out_payload` (also the bytes or reference of :func:`put_value`)."""
    if type(payload) is tuple and payload[0] == VALUE:
        return payload[1]
    return loads(get_value(store, payload))


# ---- the loop ------------------------------------------------------------------------------------------
def run_queue(loop: Any) -> Any:
    """asyncio's queue of callbacks ready to run (``loop._ready``, a deque), or None for a loop
    without one (then :func:`step_now` is never used and every callback waits for its turn)."""
    ready = getattr(loop, "_ready", None)
    return ready if type(ready) is collections.deque else None


def step_now(ready: Any, before: int) -> None:
    """Run now, from the loop callback that is running, the one callback scheduled since ``ready``
    (see :func:`run_queue`) held ``before`` of them: a message's reader starts or resumes the task
    it concerns in the same loop turn instead of the next (one turn, one ``epoll_wait`` and the
    loop's Python for it, less per action each side; issue 20).

    Only when exactly one was added: then it was added during this turn (the loop runs this turn's
    callbacks from the front, so taking it from the back changes nothing else), and it is the step
    this callback scheduled unless another thread's ``call_soon_threadsafe`` came in between, which
    is then run a moment early, as the loop would have run it next. A task step run this way runs as
    the loop would run it (in the task's context, the task current). Callers must not be inside a
    task step themselves (a task cannot start inside another)."""
    if len(ready) == before + 1:
        handle = ready.pop()
        if not handle._cancelled:
            handle._run()


class ReaderWait:
    """A loop's wait for its next event, done from inside the reader callback of socket ``fd``
    while that is all the loop could do (issue 20: a worker between actions). The loop's own
    turn (``_run_once``, its selector's Python, ``epoll_wait``, the callback's handle) was ~240 of
    the ~1350 bytecodes of a small action in a worker; waiting here is one ``poll`` on the same
    file descriptors and ~30 bytecodes.

    :meth:`wait` waits only while nothing is ready to run and the loop watches no file descriptor
    but ``fd`` and its own wake-up pipe (another thread's ``call_soon_threadsafe``, a signal), and
    no longer than until its next timer is due. It says True when ``fd`` alone became readable
    (the caller reads it, in this same callback); anything else (the wake-up pipe, a timer due, a
    new reader) returns False and the caller returns to the loop, which then sees what happened as
    it would have. ``enabled`` is False for a loop without these internals or in debug mode (a
    callback that waits would be reported as slow)."""

    def __init__(self, loop: Any, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        self.enabled = False
        selector = getattr(loop, "_selector", None)
        timers = getattr(loop, "_scheduled", None)
        poll = getattr(select, "poll", None)
        if not isinstance(selector, selectors.BaseSelector) or type(timers) is not list or poll is None:
            return
        if loop.get_debug() or run_queue(loop) is None:
            return
        self.map = selector.get_map()
        fds = [key.fd for key in self.map.values() if key.events == selectors.EVENT_READ]
        if fd not in fds or len(fds) != len(self.map) or len(fds) != 2:
            return  # the loop's wake-up pipe and fd, nothing else (what the count then keeps checking)
        fd_to_key = getattr(selector, "_fd_to_key", None)  # what len(map) counts, without its call
        self.watched: Any = fd_to_key if type(fd_to_key) is dict else self.map
        self.timers: list[Any] = timers
        self.poll = poll()
        for f in fds:
            self.poll.register(f, select.POLLIN)
        self.enabled = True

    def wait(self, ready: Any) -> bool:
        """Wait for the next event (see the class docstring); ``ready``: the loop's run queue."""
        if ready or len(self.watched) != 2:
            return False
        timeout = -1
        if self.timers:
            left = self.timers[0].when() - self.loop.time()
            if left <= 0:
                return False
            timeout = math.ceil(left * 1000)
        events = self.poll.poll(timeout)
        return len(events) == 1 and events[0][0] == self.fd


# ---- exceptions -------------------------------------------------------------------------------------
_FLYTE_ATTRS = ("_flyte_original_type",)


def dump_error(e: BaseException, where: str) -> bytes:
    """An exception as bytes: its original class, args and state, plus the traceback as text."""
    from flyte.errors import RetriesExhaustedError

    orig = getattr(e, "_flyte_original_type", type(e))
    wrapped = orig is not type(e)
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    state = {k: v for k, v in getattr(e, "__dict__", {}).items() if k not in _FLYTE_ATTRS}
    info = {
        "exhausted": isinstance(e, RetriesExhaustedError),
        "attempts": getattr(e, "attempts", 1),
        "wrapped": wrapped,
        "tb": tb,
        "where": where,
        "code": getattr(e, "code", orig.__name__),
        "message": str(e),
        "name": f"{orig.__module__}.{orig.__qualname__}",
    }
    candidates: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
        (orig, e.args, state),
        (orig, tuple(str(a) for a in e.args), {}),
        (None, (), {}),
    ]
    for candidate in candidates:
        try:
            return dumps((candidate, info))
        except Exception:
            continue
    raise AssertionError("unreachable: the last candidate always pickles")


def load_error(data: bytes) -> BaseException:
    """Rebuild an exception from :func:`dump_error`; the remote traceback becomes a note."""
    from flyte._runtime.errors_bridge import as_user_error
    from flyte.errors import RuntimeUserError

    (cls, args, state), info = loads(data)
    exc: BaseException
    if cls is None:
        exc = RuntimeUserError(info["code"], f"{info['name']}: {info['message']}")
    else:
        try:
            exc = cls.__new__(cls, *args)
            exc.args = tuple(args)
            exc.__dict__.update(state)
        except Exception:
            exc = RuntimeUserError(info["code"], f"{info['name']}: {info['message']}")
    if info["tb"]:
        exc.add_note(f"Traceback in {info['where']}:\n{info['tb'].rstrip()}")
    if info["wrapped"]:
        exc = as_user_error(exc, info["exhausted"], info["attempts"])
    return exc


# ---- values: inline or through the object store ---------------------------------------------------
def put_value(store: Any, prefix: str, action_id: str, data: bytes, limit: int | None = None) -> Any:
    """Bytes inline when at most ``limit`` (default ``PIPE_LIMIT``), else a reference to an object
    under the run's prefix (``limit=0``: always through the store)."""
    if len(data) <= (PIPE_LIMIT if limit is None else limit):
        return data
    from flyte._runtime.codec import sign_pickle

    # Signed like every pickle written to a store: a shared bucket must not hand a worker code to run.
    uri = store.put_bytes(join(prefix, action_id, f"wire-{uuid.uuid4().hex}.pkl"), sign_pickle(data))
    return ("ref", uri)


def get_value(store: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    from flyte._runtime.codec import verify_pickle

    uri = value[1]
    data: bytes = verify_pickle(store.get_bytes(uri))
    if uri.startswith("file://"):
        try:
            os.remove(uri_to_path(uri))  # a one-time hand-over, not a result
        except OSError:
            pass
    return data


def template_bytes(tmpl: Any) -> bytes:
    """A template's wire form, computed once per template object (both sides cache by these bytes)."""
    d = tmpl.__dict__
    data = d.get("_wire_bytes")
    if data is None:
        data = d["_wire_bytes"] = dumps(tmpl)
    return data  # type: ignore[no-any-return]
