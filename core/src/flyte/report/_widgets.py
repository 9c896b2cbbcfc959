"""Small helpers for reports that grow as a task runs: a timeline of rows and value formatting."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

FULL_LIMIT = 20_000
"""Characters of one value kept when it is expanded (the rest is counted, not shown)."""


def abbreviate(value: Any, limit: int = 300) -> str:
    """``value`` as escaped HTML; past ``limit`` characters a short preview that expands in place."""
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return html.escape(text)
    full = html.escape(text[:FULL_LIMIT])
    if len(text) > FULL_LIMIT:
        full += f"\n[{len(text) - FULL_LIMIT:,} more characters not shown]"
    return (
        f"<details><summary>{html.escape(text[:limit])}… (+{len(text) - limit:,})</summary>"
        f'<pre style="white-space:pre-wrap">{full}</pre></details>'
    )


def duration_ms(start_iso: Any, end_iso: Any) -> str:
    """The time between two ISO-8601 timestamps as ``"<n> ms"``; ``""`` when either is missing or bad."""
    if not start_iso or not end_iso:
        return ""
    try:
        start = datetime.fromisoformat(str(start_iso).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(end_iso).replace("Z", "+00:00"))
        return f"{(end - start).total_seconds() * 1000:.0f} ms"
    except (ValueError, TypeError):
        return ""


class Timeline:
    """Rows appended to one tab of the current report, oldest first (steps of an agent, stages...).

    Outside a task the rows go nowhere, like every ``flyte.report`` call there."""

    def __init__(self, tab_name: str = "main") -> None:
        self.tab_name = tab_name

    def heading(self, text: Any) -> None:
        self._add(f"<h3>{html.escape(str(text))}</h3>")

    def row(
        self, *, icon: str = "•", label: Any = "", meta: str = "", detail: str = "", error: Any = None
    ) -> None:
        """One row: ``label`` and ``meta`` are escaped; ``detail`` is HTML (e.g. from :func:`abbreviate`)."""
        parts = [html.escape(icon), f"<b>{html.escape(str(label))}</b>"]
        if meta:
            parts.append(f'<span style="opacity:.6">{html.escape(meta)}</span>')
        if detail:
            parts.append(f"— {detail}")
        if error:
            parts.append(f'<span style="color:#c22">{abbreviate(error, 200)}</span>')
        self._add(f'<div style="padding:2px 0;border-bottom:1px solid #eee">{" ".join(parts)}</div>')

    def _add(self, fragment: str) -> None:
        from flyte.report._api import get_tab

        get_tab(self.tab_name).log(fragment)
