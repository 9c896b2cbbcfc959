"""A local BigQuery emulator: the BigQuery v2 REST API on loopback, DuckDB running the SQL.

Run it with ``python -m flyteplugins.bigquery.emulator --port 9050 --seed data.csv:dataset.table``
and point the client (and so ``BigQueryTask``) at it with ``BIGQUERY_EMULATOR_HOST=127.0.0.1:9050``.
It needs the ``emulator`` extra (``pip install 'flyte-plugin-bigquery[emulator]'``: duckdb, sqlglot).

This module imports nothing heavy: the server lives in ``_server`` and is loaded on first use, so
that the plugin's hooks stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._process import running
    from ._server import Engine, serve

__all__ = ["Engine", "running", "serve"]


def __getattr__(name: str) -> Any:
    if name == "running":
        from ._process import running

        return running
    if name in __all__:
        from . import _server

        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
