"""``python -m flyteplugins.bigquery.emulator``: serve the BigQuery emulator until Ctrl-C or SIGTERM.

    python -m flyteplugins.bigquery.emulator --port 9050 --seed sales.csv:shop.sales
    BIGQUERY_EMULATOR_HOST=127.0.0.1:9050 GOOGLE_CLOUD_PROJECT=local python my_flow.py

``--seed FILE.csv:DATASET.TABLE`` (repeatable; ``PROJECT.DATASET.TABLE`` for another project than
``--project``) loads a CSV with a header row before the first request is answered. The server prints
``LISTENING <port>`` when it accepts requests (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

DEFAULT_PROJECT = "local"


def _parse_seed(spec: str, project: str) -> tuple[str, str, str, str]:
    """``FILE.csv:[PROJECT.]DATASET.TABLE`` -> (file, project, dataset, table)."""
    path, sep, target = spec.rpartition(":")
    parts = target.split(".")
    if not sep or not path or len(parts) not in (2, 3) or not all(parts):
        raise argparse.ArgumentTypeError(
            f"--seed {spec!r}: expected FILE.csv:DATASET.TABLE or FILE.csv:PROJECT.DATASET.TABLE"
        )
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"--seed {spec!r}: no such file {path!r}")
    if len(parts) == 2:
        parts.insert(0, project)
    return path, parts[0], parts[1], parts[2]


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # leaves serve_forever in the main thread; the finally closes the socket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flyteplugins.bigquery.emulator",
        description="A local BigQuery REST API (DuckDB behind it) for the BigQuery client.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)"
    )
    parser.add_argument(
        "--port", type=int, default=9050, help="port to bind (default: 9050; 0 = any free port)"
    )
    parser.add_argument(
        "--project",
        default=DEFAULT_PROJECT,
        help=f"project of seeds given as DATASET.TABLE (default: {DEFAULT_PROJECT})",
    )
    parser.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="FILE.csv:[PROJECT.]DATASET.TABLE",
        help="load a CSV file (header row) as a table; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        seeds = [_parse_seed(s, args.project) for s in args.seed]
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    try:
        from ._server import ApiError, Engine, serve
    except ImportError as e:  # duckdb / sqlglot missing
        print(
            f"error: the BigQuery emulator needs {e.name}: pip install 'flyte-plugin-bigquery[emulator]'",
            file=sys.stderr,
        )
        return 2
    engine = Engine()
    for path, project, dataset, table in seeds:
        try:
            n = engine.seed_csv(project, dataset, table, path)
        except (ApiError, Exception) as e:  # a bad CSV or name: say which seed, then stop
            print(f"error: --seed {path}:{project}.{dataset}.{table}: {e}", file=sys.stderr)
            return 2
        print(f"seeded {project}.{dataset}.{table} with {n} rows from {path}", file=sys.stderr)
    try:
        server = serve(args.host, args.port, engine)
    except OSError as e:
        print(f"error: cannot bind {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a shell's background job starts with it ignored
        signal.signal(sig, _stop)
    try:  # (a stop signal that comes as soon as LISTENING is read still ends it cleanly)
        print(f"LISTENING {server.server_address[1]}", flush=True)
        print(f"BIGQUERY_EMULATOR_HOST={args.host}:{server.server_address[1]}", file=sys.stderr, flush=True)
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
