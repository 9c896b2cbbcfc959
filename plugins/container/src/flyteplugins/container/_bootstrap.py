"""Runs one flyte task function inside its container image; written into the input directory by the host.

``python3 _flyte_bootstrap.py IN_DIR OUT_DIR``. Needs only the standard library and cloudpickle (and
whatever the function itself imports). Reads ``meta.json`` and ``task.pkl`` (the function and its
inputs) from IN_DIR, calls the function (awaiting it when it is async) and writes
``_flyte_result.pkl`` to OUT_DIR: ``("ok", value)``, ``("error", exception pickle, type name,
message, traceback)`` or ``("setup", code, message)`` when the image cannot run the task at all.
``flyte.io.File``/``Dir`` values in the result that point at container-local paths are copied under
OUT_DIR so the host can pick them up.

In a run the host touches ``OUT_DIR/driver-beat`` while its driver waits and passes the grace period
in ``FLYTE_ORPHAN_GRACE_SECONDS``: with no beat for that long (the driver was killed and no recovered
driver came back) the container stops itself, writing why to ``OUT_DIR/orphaned.txt`` (exit 4).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import os
import shutil
import sys
import traceback
from typing import Any

RESULT = "_flyte_result.pkl"
FILES = "_flyte_files"
BEAT = "driver-beat"  # these three as in flyte._runtime.placement.adopt (this file has no flyte)
ORPHANED = "orphaned.txt"
EXIT_ORPHANED = 4
GRACE_ENV = "FLYTE_ORPHAN_GRACE_SECONDS"


def _write(out_dir: str, data: bytes) -> None:
    tmp = os.path.join(out_dir, RESULT + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, os.path.join(out_dir, RESULT))


def _setup(out_dir: str, code: str, message: str) -> int:
    import pickle

    print(f"flyte: {message}", file=sys.stderr)
    _write(out_dir, pickle.dumps(("setup", code, message)))
    return 3


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _export(value: Any, out_dir: str, keep: list[str], counter: list[int]) -> Any:
    """Copy container-local File/Dir values under OUT_DIR; walk lists, tuples, dicts and dataclasses."""
    cls = type(value)
    is_instance = dataclasses.is_dataclass(value) and not isinstance(value, type)
    if cls.__module__.startswith("flyte.io") and is_instance and hasattr(value, "path"):
        v: Any = value
        path = str(value.path)
        if path.startswith("file://"):
            path = path[len("file://") :]
        elif "://" in path:
            return value  # in an object store: valid anywhere
        path = os.path.abspath(path)
        if _under(path, [out_dir, *keep]):
            return value if path == value.path else dataclasses.replace(v, path=path)
        counter[0] += 1
        dest = os.path.join(out_dir, FILES, str(counter[0]), os.path.basename(path.rstrip("/")) or "data")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.isdir(path):
            shutil.copytree(path, dest)
        else:
            shutil.copy2(path, dest)
        return dataclasses.replace(v, path=dest)
    if isinstance(value, list):
        return [_export(v, out_dir, keep, counter) for v in value]
    if isinstance(value, tuple):
        items = [_export(v, out_dir, keep, counter) for v in value]
        return cls(*items) if hasattr(cls, "_fields") else cls(items)
    if isinstance(value, dict):
        return {k: _export(v, out_dir, keep, counter) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _export(getattr(value, f.name), out_dir, keep, counter)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


def _watch_driver(out_dir: str) -> None:
    """Stop this container (a daemon thread's ``os._exit``) once the driver's beat is older than the
    grace period, leaving the reason for the driver that recovers the run."""
    import threading
    import time

    try:
        grace = float(os.environ.get(GRACE_ENV, ""))
    except ValueError:
        return  # a plain call outside a run: no driver beats
    if grace <= 0:
        return
    beat = os.path.join(out_dir, BEAT)
    started = time.time()

    def watch() -> None:
        while True:
            time.sleep(min(1.0, max(0.05, grace / 10)))
            try:
                last = os.path.getmtime(beat)
            except OSError:
                last = started
            if time.time() - last > grace:
                break
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last))
        why = (
            f"no driver has waited for it since {since}: its driver stopped and none came back within "
            f"the grace period of {grace:g}s (FLYTE_ORPHAN_GRACE_SECONDS); the container stopped itself"
        )
        try:
            with open(os.path.join(out_dir, ORPHANED), "w", encoding="utf-8") as f:
                f.write(why + "\n")
        finally:
            print(f"flyte: {why}", file=sys.stderr, flush=True)
            os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="flyte-orphan-watch", daemon=True).start()


async def _await(aw: Any) -> Any:
    return await aw


def main(in_dir: str, out_dir: str) -> int:
    _watch_driver(out_dir)
    with open(os.path.join(in_dir, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    want = tuple(meta["python"])
    have = sys.version_info[:2]
    if have != want:
        return _setup(
            out_dir,
            "PythonVersionMismatch",
            f"the image runs Python {have[0]}.{have[1]} but task {meta['task']!r} was sent from Python "
            f"{want[0]}.{want[1]}; pickled functions load only in the same minor version, so use an image "
            f"with Python {want[0]}.{want[1]}",
        )
    try:
        import cloudpickle
    except ImportError:
        return _setup(
            out_dir,
            "MissingModule",
            f"the image has no 'cloudpickle', which running task {meta['task']!r} in it needs; install it in "
            "the image (pip install cloudpickle, or install flyte)",
        )
    try:
        with open(os.path.join(in_dir, "task.pkl"), "rb") as f:
            func, inputs = cloudpickle.load(f)
    except ModuleNotFoundError as e:
        return _setup(
            out_dir,
            "MissingModule",
            f"the image lacks the module {e.name!r}, which task {meta['task']!r} needs; "
            "install it in the image",
        )
    except Exception as e:
        ours, theirs = getattr(cloudpickle, "__version__", "?"), meta.get("cloudpickle", "?")
        hint = (
            f" (the image has cloudpickle {ours}, the task was pickled with {theirs}: install "
            f"cloudpickle=={theirs} in the image)"
            if ours != theirs
            else ""
        )
        return _setup(
            out_dir, "LoadFailed", f"could not load task {meta['task']!r}: {type(e).__name__}: {e}{hint}"
        )
    try:
        value = func(**inputs)
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
        value = _export(value, out_dir, list(meta.get("mounted", [])), [0])
        data = cloudpickle.dumps(("ok", value))
    except BaseException as e:
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        try:
            exc = cloudpickle.dumps(e)
            cloudpickle.loads(exc)  # an exception that does not load back is sent as text
        except Exception:
            exc = None
        data = cloudpickle.dumps(("error", exc, type(e).__name__, str(e), tb))
        _write(out_dir, data)
        return 1
    _write(out_dir, data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
