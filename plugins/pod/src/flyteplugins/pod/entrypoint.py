"""Runs a pod task inside its primary container.

``python -m flyteplugins.pod.entrypoint --inputs DIR/inputs.pkl --outputs-path DIR --task-module M
--task-name NAME [--task-file PATH]``: imports the task, loads its inputs (cloudpickle), runs
``pre``/``execute``/``post`` and writes ``outputs.pkl``; on failure ``error.pkl`` (the exception) and
``error.txt`` (the traceback), exit status 1. Standard library only until the version check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import sys
import traceback
from typing import Any

MAIN_ALIAS = "__flyte_main__"
EXIT_USER_ERROR = 1
EXIT_SETUP_ERROR = 3
EXIT_ORPHANED = 4
ORPHAN_GRACE_FILE = "orphan-grace"
"""Written by a local driver: the grace period (seconds) this pod runs on without a driver."""
DRIVER_BEAT_FILE = "driver-beat"
"""Touched by the driver every few seconds while it waits for the pod (its mtime is the beat)."""
ORPHANED_FILE = "orphaned.txt"
"""Why the pod stopped itself: no driver beat within the grace period (issue 23)."""


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="flyteplugins.pod.entrypoint")
    p.add_argument("--inputs", required=True)
    p.add_argument("--outputs-path", required=True)
    p.add_argument("--task-module", required=True)
    p.add_argument("--task-name", required=True)
    p.add_argument("--task-file", default=None)
    return p.parse_args(argv)


def _write_text(out_dir: str, name: str, text: str) -> None:
    with open(os.path.join(out_dir, name), "w") as f:
        f.write(text)


def _import_task(module: str, attr: str, file: str | None) -> Any:
    if module == MAIN_ALIAS and file:
        # A script run as __main__ on the host: imported under an alias so its main block stays off
        # (the host maps the alias back to its __main__ when it loads the outputs).
        spec = importlib.util.spec_from_file_location(MAIN_ALIAS, file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import the task's file {file!r}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[MAIN_ALIAS] = mod
        spec.loader.exec_module(mod)
    else:
        mod = importlib.import_module(module)
    obj: Any = mod
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _watch_driver(out_dir: str) -> None:
    """A local run's pod stops itself when no driver has waited for it within the grace period
    (its driver was killed and none recovered the run): it notes why and exits."""
    import threading
    import time

    try:
        with open(os.path.join(out_dir, ORPHAN_GRACE_FILE)) as f:
            grace = float(f.read().strip())
    except (OSError, ValueError):
        return  # not a local run (a cluster's pod has its own lifecycle)
    beat = os.path.join(out_dir, DRIVER_BEAT_FILE)

    def watch() -> None:
        while True:
            time.sleep(min(1.0, max(0.05, grace / 10)))
            try:
                last = os.path.getmtime(beat)
            except OSError:
                last = 0.0
            if time.time() - last > grace:
                break
        why = (
            f"its driver stopped and no recovered driver adopted it within {grace:g}s "
            "(FLYTE_ORPHAN_GRACE_SECONDS); the pod stopped itself"
        )
        _write_text(out_dir, ORPHANED_FILE, why)
        print(f"flyte: {why}", file=sys.stderr, flush=True)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="flyte-orphan-watch", daemon=True).start()


async def _run(task: Any, inputs: dict[str, Any]) -> Any:
    if not hasattr(task, "execute"):  # a plain function
        result = task(**inputs)
        return await result if asyncio.iscoroutine(result) else result
    await task.pre()
    return await task.post(await task.execute(**inputs))


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    out_dir = args.outputs_path
    os.makedirs(out_dir, exist_ok=True)
    want = os.environ.get("FLYTE_POD_PYTHON")
    have = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if want and want != have:
        _write_text(
            out_dir,
            "setup-error.txt",
            f"the image's Python is {have} but the run's is {want}: local pod runs mount the run's "
            f"packages into the container, so the primary image needs Python {want}",
        )
        return EXIT_SETUP_ERROR
    try:
        import cloudpickle

        with open(args.inputs, "rb") as f:
            inputs = cloudpickle.load(f)
        task = _import_task(args.task_module, args.task_name, args.task_file)
    except BaseException:
        _write_text(out_dir, "setup-error.txt", "loading the task failed:\n" + traceback.format_exc())
        return EXIT_SETUP_ERROR
    _watch_driver(out_dir)
    try:
        outputs = asyncio.run(_run(task, inputs))
    except BaseException as e:
        _write_text(out_dir, "error.txt", traceback.format_exc())
        try:
            data = cloudpickle.dumps(e)
        except Exception:
            data = b""
        if data:
            with open(os.path.join(out_dir, "error.pkl"), "wb") as f:
                f.write(data)
        traceback.print_exc()
        return EXIT_USER_ERROR
    tmp = os.path.join(out_dir, "outputs.pkl.tmp")
    with open(tmp, "wb") as f:
        cloudpickle.dump(outputs, f)
    os.replace(tmp, os.path.join(out_dir, "outputs.pkl"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
