"""HTML reports of task attempts, shown by ``flyte ui`` beside the action's log.

Inside a task declared ``@env.task(report=True)``::

    flyte.report.log("<h2>Loss</h2>" + svg)          # the main tab
    flyte.report.get_tab("Data").log(table_html)     # another tab
    await flyte.report.flush.aio()                   # write it now (it is also written at the end)

Each attempt's document is kept at ``<run prefix>/<action id>/reports/attempt-<n>.html``.
"""

from flyte.report._api import current_report, flush, get_tab, log, replace
from flyte.report._report import Report, Tab
from flyte.report._widgets import Timeline, abbreviate, duration_ms

__all__ = [
    "Report",
    "Tab",
    "Timeline",
    "abbreviate",
    "current_report",
    "duration_ms",
    "flush",
    "get_tab",
    "log",
    "replace",
]
