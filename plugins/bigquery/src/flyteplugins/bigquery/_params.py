"""Task inputs as BigQuery query parameters: Python types -> GoogleSQL parameter types, and the
``@name`` references of a query (so that a query using an undeclared parameter fails at definition).
"""

from __future__ import annotations

import datetime
import decimal
import re
import types
import typing
from typing import Any

SCALAR_TYPES: dict[Any, str] = {
    str: "STRING",
    int: "INT64",
    float: "FLOAT64",
    bool: "BOOL",
    datetime.date: "DATE",
    datetime.datetime: "TIMESTAMP",
    datetime.time: "TIME",
    decimal.Decimal: "NUMERIC",
    bytes: "BYTES",
}
SUPPORTED = (
    "str (STRING), int (INT64), float (FLOAT64), bool (BOOL), datetime.date (DATE), "
    "datetime.datetime (TIMESTAMP), datetime.time (TIME), decimal.Decimal (NUMERIC), bytes (BYTES), "
    "list[T] of those (ARRAY<T>), and Optional[T] of a scalar (NULL when None)"
)
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def param_type(hint: Any) -> tuple[str, str | None, bool] | None:
    """(GoogleSQL type, array element type or None, nullable) for a Python type; None if unsupported."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1 and len(typing.get_args(hint)) == 2 and members[0] in SCALAR_TYPES:
            return SCALAR_TYPES[members[0]], None, True
        return None
    if hint in SCALAR_TYPES:
        return SCALAR_TYPES[hint], None, False
    if origin in (list, tuple) or hint in (list,):
        args = typing.get_args(hint)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return None
        if args and args[0] in SCALAR_TYPES:
            return "ARRAY", SCALAR_TYPES[args[0]], False
    return None


def to_query_parameters(types_by_name: dict[str, Any], values: dict[str, Any]) -> list[Any]:
    """``ScalarQueryParameter`` / ``ArrayQueryParameter`` objects for the inputs, typed by their hints."""
    from google.cloud.bigquery import ArrayQueryParameter, ScalarQueryParameter

    out: list[Any] = []
    for name, hint in types_by_name.items():
        kind = param_type(hint)
        assert kind is not None  # checked when the task was defined
        bq_type, element, _ = kind
        value = values.get(name)
        if bq_type == "ARRAY":
            out.append(ArrayQueryParameter(name, element, list(value or [])))
        else:
            out.append(ScalarQueryParameter(name, bq_type, value))
    return out


def referenced_parameters(sql: str) -> list[tuple[str, int]]:
    """``(name, line)`` of each ``@name`` in GoogleSQL text, outside strings, quoted identifiers and
    comments; ``@@system_variables`` are not parameters."""
    found: list[tuple[str, int]] = []
    i, n, line = 0, len(sql), 1
    while i < n:
        c = sql[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in "'\"":
            quote = sql[i : i + 3] if sql[i : i + 3] in ("'''", '"""') else c
            raw = i > 0 and sql[i - 1] in "rR"
            j = i + len(quote)
            while j < n and sql[j : j + len(quote)] != quote:
                j += 2 if sql[j] == "\\" and not raw else 1
            line += sql.count("\n", i, j)
            i = j + len(quote)
        elif c == "`":
            j = sql.find("`", i + 1)
            j = n if j < 0 else j
            line += sql.count("\n", i, j)
            i = j + 1
        elif sql.startswith("--", i) or c == "#":
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j
            line += sql.count("\n", i, j)
            i = j + 2
        elif c == "@":
            if sql.startswith("@@", i):
                m = PARAM_NAME.match(sql, i + 2)
                i = m.end() if m else i + 2
                continue
            m = PARAM_NAME.match(sql, i + 1)
            if m:
                found.append((m.group(0), line))
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return found


# ---- flyte-sdk style queries: whitespace and {{ .inputs.name }} placeholders ------------------------
PLACEHOLDER = re.compile(r"\{\{\s*\.(?:[Ii]nputs\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_QUOTED_PLACEHOLDER = re.compile(r"""(['"])\{\{\s*\.(?:[Ii]nputs\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\1""")


def _segments(sql: str) -> list[tuple[str, str]]:
    """The query cut into ("code" | "string" | "ident" | "comment", text) pieces, in order."""
    out: list[tuple[str, str]] = []
    i, n, start = 0, len(sql), 0

    def flush(end: int) -> None:
        if end > start:
            out.append(("code", sql[start:end]))

    while i < n:
        c = sql[i]
        if c in "'\"":
            flush(i)
            quote = sql[i : i + 3] if sql[i : i + 3] in ("'''", '"""') else c
            raw = i > 0 and sql[i - 1] in "rR"
            j = i + len(quote)
            while j < n and sql[j : j + len(quote)] != quote:
                j += 2 if sql[j] == "\\" and not raw else 1
            j = min(n, j + len(quote))
            out.append(("string", sql[i:j]))
            i = start = j
        elif c == "`":
            flush(i)
            j = sql.find("`", i + 1)
            j = n if j < 0 else j + 1
            out.append(("ident", sql[i:j]))
            i = start = j
        elif sql.startswith("--", i) or c == "#":
            flush(i)
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(("comment", sql[i:j]))
            i = start = j
        elif sql.startswith("/*", i):
            flush(i)
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(("comment", sql[i:j]))
            i = start = j
        else:
            i += 1
    flush(n)
    return out


def normalize_query(sql: str) -> str:
    """One line, as flyte-sdk stores a query: runs of whitespace become one space and the ends are
    trimmed. Unlike a plain replace, text inside string literals and quoted identifiers is kept as
    written, and line comments are dropped (on one line they would swallow the rest of the query)."""
    out = ""
    for kind, text in _segments(sql):
        if kind == "comment" and not text.startswith("/*"):
            text = " "
        if kind in ("code", "comment"):
            text = re.sub(r"\s+", " ", text)
            if out.endswith(" ") and text.startswith(" "):
                text = text[1:]
        out += text
    return out.strip()


def bind_placeholders(sql: str) -> tuple[str, list[str]]:
    """``{{ .inputs.x }}`` / ``{{ .x }}`` (bare or quoted as a whole string, ``'{{ .inputs.x }}'``)
    rewritten as the query parameter ``@x``; the values are then bound, never written into the text.

    Returns the query and the placeholder names that sit where a parameter cannot (inside a longer
    string literal or a quoted identifier such as a table name).
    """
    sql = _QUOTED_PLACEHOLDER.sub(lambda m: f"@{m.group(2)}", sql)
    misplaced = [
        m.group(1)
        for kind, text in _segments(sql)
        if kind in ("string", "ident")
        for m in PLACEHOLDER.finditer(text)
    ]
    return PLACEHOLDER.sub(lambda m: f"@{m.group(1)}", sql), misplaced
