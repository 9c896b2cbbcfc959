"""How actions and cache entries are named: the one place the ID and key formulas live.

Action IDs are deterministic and a compatibility guarantee: recovery (``flyte rerun --recover``)
matches recorded actions by ID, and the cache matches results by key, across processes, workers and
SDK versions. Every caller derives them here so the formulas cannot drift apart;
``core/tests/test_identity_pinned.py`` pins values computed by earlier releases.

* a child's ID hashes its parent's ID, the callee's *call identity* (name and interface, not code),
  the inputs' hash and how many identical calls the parent made before it;
* the root action is the first child of the run's *ID base* (its name, or the base of the run it
  recovered from), so a recovering run computes the same IDs;
* a cache key hashes name, interface, kept inputs, cache version and salt (not the run).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flyte._runtime.codec import _BLAKE16

if TYPE_CHECKING:
    from flyte._runtime.codec import InterfaceCodec
    from flyte._runtime.journal import RunRow
    from flyte._task import TaskTemplate


def child_action_id(parent_id: str, identity: str, inputs_hash: str, seq: int) -> str:
    """ID of the ``seq``-th call (0-based) with this identity and inputs under ``parent_id``."""
    h = _BLAKE16.copy()  # codec.hex16, inlined: _blake(...).hexdigest() without its constructor
    h.update(f"{parent_id}|{identity}|{inputs_hash}|{seq}".encode())
    return h.hexdigest()


def root_action_id(base: str, identity: str, inputs_hash: str) -> str:
    """ID of a run's root action: the first call under the run's ID base."""
    return child_action_id(base, identity, inputs_hash, 0)


def step_identity(kind: str, name: str) -> str:
    """Call identity of a recorded step (``trace``, ``durable``): IDs of steps and tasks never clash."""
    return f"{kind}:{name}"


def id_base(run_row: RunRow) -> str:
    """The string a run's action IDs derive from: its name unless it recovered from another run."""
    settings = json.loads(run_row.settings or "{}")
    return str(settings.get("id_base") or run_row.name)


def call_identity(tmpl: TaskTemplate[Any, Any]) -> str:
    """What a child's action ID is derived from: the task's name and interface, not its code.

    Editing a task's body keeps the IDs of its calls (and of everything below them), so a run whose
    parent was fixed after a failure still finds its finished children on recovery; a child whose own
    code changed is re-run because its recorded identity differs (see ``Controller.submit``).
    """
    d = tmpl.__dict__
    key = d.get("_call_identity")
    if key is None:
        key = d["_call_identity"] = (
            f"{tmpl.name}|{tmpl.task_type}:{tmpl.task_type_version}|{tmpl.interface.type_repr()}"
        )
    return key  # type: ignore[no-any-return]


def cache_key(
    tmpl: TaskTemplate[Any, Any], codec: InterfaceCodec, inputs: dict[str, Any], inputs_hash: str
) -> str:
    """Key of a task's cache entry for these inputs (``ignored_inputs`` left out of the hash)."""
    cache = tmpl.cache
    if cache.ignored_inputs:
        kept = {k: v for k, v in inputs.items() if k not in cache.ignored_inputs}
        _, inputs_hash = codec.encode_inputs(kept) if kept else (b"", "")
    # What is the same for every call, once per template and Cache: the digest state after the key's
    # "name|interface|" prefix, and its "|version|salt" tail (the same bytes hashed, in two pieces)
    got = tmpl.__dict__.get("_cache_key_parts")
    if got is None or got[0] is not cache:
        name_iface, version = cache_version(tmpl)
        head = _BLAKE16.copy()
        head.update(f"{name_iface}|".encode())
        got = tmpl.__dict__["_cache_key_parts"] = (cache, head, f"|{version}|{cache.salt}")
    h = got[1].copy()
    h.update((inputs_hash + got[2]).encode())
    return h.hexdigest()  # type: ignore[no-any-return]


def cache_version(tmpl: TaskTemplate[Any, Any]) -> tuple[str, str]:
    """(name|interface, cache version) of a task, computed once per template."""
    d = tmpl.__dict__
    got = d.get("_cache_version")
    if got is None:
        cache = tmpl.cache
        if cache.version_override is not None:  # pins the version with 'auto' as with 'override'
            version = cache.version_override
        elif cache.policies:  # the user's CachePolicy objects decide the version
            from flyte._cache import VersionParameters

            version = cache.get_version(VersionParameters(func=getattr(tmpl, "func", None), image=tmpl.image))
        else:
            version = tmpl.source_version()
        got = d["_cache_version"] = (f"{tmpl.name}|{tmpl.interface.type_repr()}", str(version))
    return got  # type: ignore[no-any-return]
