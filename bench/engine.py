"""One engine process: import `flyte` + the workloads, measure one workload, print one JSON line.

`bench/run.py` starts this once per (engine, workload) with the interpreter and PYTHONPATH that select
the engine (see `bench/workloads.py`). Anything that goes wrong, including `import flyte` failing, is
reported in the JSON line (`"ok": false`, `"error"`, `"traceback"`) rather than as a bare crash.

    BENCH_ENGINE=asyncio PYTHONPATH=bench/_floor python bench/engine.py --workload chain --size 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import traceback
from typing import Any

WORKLOAD_NAMES: tuple[str, ...] = ("fanout", "chain", "tree", "cache_hits", "payload")


def _rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", required=True, choices=WORKLOAD_NAMES)
    parser.add_argument("--size", required=True, type=int, help="n, tree width, or payload bytes")
    args = parser.parse_args(argv)

    record: dict[str, Any] = {
        "engine": os.environ.get("BENCH_ENGINE", "ours"),
        "workload": args.workload,
        "size": args.size,
        "python": platform.python_version(),
    }
    stage = "import flyte"
    try:
        t = time.perf_counter()
        import flyte

        record["import_s"] = time.perf_counter() - t
        record["flyte_version"] = str(getattr(flyte, "__version__", "?"))
        record["flyte_file"] = str(getattr(flyte, "__file__", "?"))
        stage = "define the workload tasks"
        import workloads  # imports `flyte` at top level

        stage = f"run {args.workload}"
        record.update(workloads.measure(args.workload, args.size))
        record["ok"] = True
    except BaseException as exc:  # report anything, including SystemExit/KeyboardInterrupt from the SDK
        record["ok"] = False
        record["error"] = f"{stage}: {type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=25)
        record["peak_rss_mb"] = _rss_mb()
    sys.stdout.flush()
    print(json.dumps(record, default=str), flush=True)
    return 0 if record["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
