"""``flyte.report.log`` / ``replace`` / ``get_tab`` / ``flush``: the current attempt's report.

Inside a task the report lives on the action's state, one per attempt. A task declared
``report=True`` has its report written at the end of every attempt (success or failure) when
something was logged; ``flush()`` writes it earlier (in any task, as the reference SDK does).
Outside a task the calls do nothing and say so once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Generic, ParamSpec, TypeVar

from flyte.report._report import MAIN_TAB, Report, Tab

P = ParamSpec("P")
R = TypeVar("R")

_warned: set[str] = set()


class _Syncified(Generic[P, R]):
    """A call usable as ``f(...)`` and as ``await f.aio(...)`` (the reference SDK's shape)."""

    def __init__(self, fn: Callable[P, R], aio: Callable[P, Coroutine[Any, Any, R]]) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self.aio = aio

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<flyte.report.{self._fn.__name__}>"


def _warn_once(key: str, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    import os
    import sys
    import types
    import warnings

    here = os.path.dirname(__file__)
    level = 1
    frame: types.FrameType | None = sys._getframe(0)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        level, frame = level + 1, frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)


def new_report(state: Any, declared: bool = True) -> Report:
    """A fresh report for the state's current attempt."""
    return Report(name=state.action_id, attempt=state.attempt, declared=declared)


def current_report() -> Report:
    """The current attempt's report; outside a task a throwaway one (nothing logged to it is kept)."""
    from flyte._context import current_action

    ac = current_action.get()
    if ac is None:
        _warn_once(
            "",
            "flyte.report is used outside a task: nothing is kept. Log to a report from inside a task "
            "declared @env.task(report=True).",
        )
        return Report("dummy", declared=False)
    state = ac.action
    rep: Report | None = state.report
    if rep is None or rep.attempt != state.attempt:
        _warn_once(
            state.task_name,
            f"task {state.task_name!r} logs to its report but is not declared report=True: the report is "
            "written only when flyte.report.flush() is called. Declare @env.task(report=True) to keep it "
            "at the end of each attempt.",
        )
        rep = state.report = new_report(state, declared=False)
    return rep


def get_tab(name: str, /, create_if_missing: bool = True) -> Tab:
    """The tab called ``name`` of the current report (created on first use)."""
    return current_report().get_tab(name, create_if_missing=create_if_missing)


def _log(content: str, do_flush: bool = False) -> None:
    """Append an HTML fragment to the ``main`` tab; ``do_flush`` writes the report now."""
    current_report().get_tab(MAIN_TAB).log(content)
    if do_flush:
        _flush()


async def _log_aio(content: str, do_flush: bool = False) -> None:
    current_report().get_tab(MAIN_TAB).log(content)
    if do_flush:
        await _flush_aio()


def _replace(content: str, do_flush: bool = False) -> None:
    """Make ``content`` the only fragment of the ``main`` tab; ``do_flush`` writes the report now."""
    current_report().get_tab(MAIN_TAB).replace(content)
    if do_flush:
        _flush()


async def _replace_aio(content: str, do_flush: bool = False) -> None:
    current_report().get_tab(MAIN_TAB).replace(content)
    if do_flush:
        await _flush_aio()


def _pending() -> tuple[Any, Report, str] | None:
    """(controller, report, document) to write now, or None outside a task."""
    from flyte._context import current_action

    ac = current_action.get()
    if ac is None:
        current_report()  # says once that nothing is kept
        return None
    rep = current_report()
    return ac.controller, rep, rep.render()


def _write(pending: tuple[Any, Report, str]) -> str:
    from flyte._runtime import reports

    controller, rep, document = pending
    return reports.write(controller.store, controller.run_prefix, rep.name, rep.attempt, document)


def _flush() -> None:
    """Write the current attempt's report to the run's store now (it is rewritten on each flush)."""
    pending = _pending()
    if pending is not None:
        _write(pending)


async def _flush_aio() -> None:
    pending = _pending()
    if pending is not None:
        import asyncio

        await asyncio.to_thread(_write, pending)


log = _Syncified(_log, _log_aio)
replace = _Syncified(_replace, _replace_aio)
flush = _Syncified(_flush, _flush_aio)
