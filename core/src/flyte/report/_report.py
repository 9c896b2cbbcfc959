"""The report of one attempt: HTML fragments per tab, rendered as one self-contained document.

What users log is HTML they wrote (a report is HTML by design) and goes in as is; everything this
module adds around it (tab names, the attempt's name) is escaped. The viewer shows the document in
a sandboxed frame, so a report's scripts cannot reach the page around it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from flyte.errors import InvalidParameterTypeError

MAIN_TAB = "main"


def _check_html(owner: str, content: object) -> str:
    if not isinstance(content, str):
        raise InvalidParameterTypeError(
            owner, "content", content, "Pass an HTML fragment as a str (e.g. f'<p>{value}</p>')."
        )
    return content


@dataclass
class Tab:
    """One tab of a report: its HTML fragments in the order they were logged."""

    name: str
    content: list[str] = field(default_factory=list, init=False)

    def log(self, content: str) -> None:
        """Append an HTML fragment (not a whole document: it goes inside the tab's ``<div>``)."""
        self.content.append(_check_html(f"Tab({self.name!r}).log", content))

    def replace(self, content: str) -> None:
        """Make ``content`` the tab's only fragment."""
        self.content = [_check_html(f"Tab({self.name!r}).replace", content)]

    def get_html(self) -> str:
        return "\n".join(self.content)


@dataclass
class Report:
    """The tabs of one attempt's report; ``main`` always exists (``flyte.report.log`` writes there)."""

    name: str
    tabs: dict[str, Tab] = field(default_factory=dict)
    attempt: int = 0
    declared: bool = True
    """Whether the task was declared ``report=True`` (only then is it kept at the end of the attempt)."""

    def __post_init__(self) -> None:
        self.tabs.setdefault(MAIN_TAB, Tab(MAIN_TAB))

    def has_content(self) -> bool:
        return any(t.content for t in self.tabs.values())

    def get_tab(self, name: str, create_if_missing: bool = True) -> Tab:
        """The tab called ``name``, created on first use unless ``create_if_missing`` is False."""
        if not isinstance(name, str) or not name:
            raise InvalidParameterTypeError(
                "flyte.report.get_tab", "name", name, "Name the tab with a non-empty str."
            )
        tab = self.tabs.get(name)
        if tab is None:
            if not create_if_missing:
                raise ValueError(
                    f"flyte.report.get_tab: the report has no tab {name!r} (tabs: {sorted(self.tabs)}); "
                    "pass create_if_missing=True to create it."
                )
            tab = self.tabs[name] = Tab(name)
        return tab

    def render(self) -> str:
        """The whole document: one page per tab (``main`` only when something was logged to it)."""
        shown = [t for n, t in self.tabs.items() if t.content or n != MAIN_TAB]
        nav: list[str] = []
        pages: list[str] = []
        for i, tab in enumerate(shown):
            checked = " checked" if i == 0 else ""
            nav.append(
                f'<input type="radio" name="flyte-tab" id="flyte-tab-{i}" class="flyte-tab-radio"{checked}>'
                f'<label for="flyte-tab-{i}">{html.escape(tab.name)}</label>'
            )
            label = html.escape(tab.name, quote=True)
            pages.append(f'<div class="flyte-tab-page" data-tab="{label}">{tab.get_html()}</div>')
        rules = "".join(
            f"#flyte-tab-{i}:checked ~ #flyte-pages > .flyte-tab-page:nth-child({i + 1}){{display:block}}"
            for i in range(len(shown))
        )
        return _DOCUMENT.format(
            title=html.escape(self.name),
            rules=rules,
            nav="".join(nav),
            pages="".join(pages),
            single="" if len(shown) > 1 else "label{display:none}",
        )

    def get_final_report(self) -> str:
        """The rendered document (the reference SDK's name for :meth:`render`)."""
        return self.render()


_DOCUMENT = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>Report {title}</title>
<style>
body{{font-family:system-ui,-apple-system,sans-serif;margin:0;color:#222}}
.flyte-tab-radio{{position:absolute;opacity:0;pointer-events:none}}
label{{display:inline-block;padding:8px 14px;cursor:pointer;font-weight:600;color:#666;
  border-bottom:3px solid transparent}}
.flyte-tab-radio:checked + label{{color:#222;border-bottom-color:#7b3fe4}}
#flyte-pages{{padding:1rem 1.5rem;border-top:1px solid #ddd}}
.flyte-tab-page{{display:none}}
{rules}
{single}
</style>
</head>
<body>
{nav}
<div id="flyte-pages">{pages}</div>
</body>
</html>
"""
