"""Where an action's HTML report is kept, and how it is written and found again.

A task declared ``report=True`` collects HTML through :mod:`flyte.report`; each attempt's document
goes to ``<run prefix>/<action id>/reports/attempt-<n>.html``, beside the attempt's log. It is
written from where the body runs (the controller for inline actions, the worker process or cluster
node otherwise), which all share the run's store.
"""

from __future__ import annotations

import os
from typing import Any


def report_path(run_prefix: str, action_id: str, attempt: int) -> str:
    from flyte._runtime.store import join

    return join(run_prefix, action_id, "reports", f"attempt-{attempt}.html")


def write(store: Any, run_prefix: str, action_id: str, attempt: int, html: str) -> str:
    """Put one attempt's document in the run's store; returns its URI."""
    return str(store.put_bytes(report_path(run_prefix, action_id, attempt), html.encode("utf-8")))


def keep(controller: Any, state: Any) -> None:
    """At the end of an attempt of a ``report=True`` task: write what it logged (if anything).
    A report that cannot be kept never fails the action; it is a warning."""
    report = state.report
    if report is None or not report.declared or not report.has_content():
        return
    try:
        write(controller.store, controller.run_prefix, state.action_id, report.attempt, report.render())
    except Exception as e:
        import warnings

        warnings.warn(
            f"could not keep the report of action {state.action_id}: {e}", RuntimeWarning, stacklevel=2
        )


def find(store_prefix: str | None, action_id: str, attempts: int) -> list[tuple[int, str]]:
    """The reports kept for an action as ``(attempt, uri)``, oldest attempt first.

    A local store is listed; another store is asked once per attempt (``attempts`` bounds it)."""
    if not store_prefix or "/" in action_id or action_id.startswith("."):
        return []
    from urllib.parse import unquote, urlparse

    from flyte._runtime.store import join

    parsed = urlparse(store_prefix)
    if parsed.scheme in ("", "file"):
        folder = os.path.join(
            unquote(parsed.path) if parsed.scheme == "file" else store_prefix, action_id, "reports"
        )
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        found = []
        for name in names:
            n = _attempt_of(name)
            if n is not None:
                found.append((n, join(store_prefix, action_id, "reports", name)))
        return sorted(found)
    from flyte._runtime.store import store_for

    store = store_for(store_prefix)
    out = []
    for n in range(max(1, attempts)):
        uri = report_path(store_prefix, action_id, n)
        try:
            if store.exists(uri):
                out.append((n, uri))
        except Exception:
            continue
    return out


def _attempt_of(name: str) -> int | None:
    if not (name.startswith("attempt-") and name.endswith(".html")):
        return None
    digits = name[len("attempt-") : -len(".html")]
    return int(digits) if digits.isdigit() else None
