"""Rendering runs and action trees for the terminal (and a live view while a run executes)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "RUNNING": "yellow",
    "ABORTED": "magenta",
    "INTERRUPTED": "red",
}


def effective_status(run: Any) -> str:
    """A RUNNING run whose process is gone was killed: say so instead of 'RUNNING' forever."""
    if run["status"] != "RUNNING":
        return str(run["status"])
    from flyte._run import _alive_elsewhere

    if run["pid"] == os.getpid() or _alive_elsewhere(run["host"], run["pid"]):
        return "RUNNING"
    import socket

    return "RUNNING" if run["host"] != socket.gethostname() else "INTERRUPTED"


def fmt_duration(start: float | None, end: float | None) -> str:
    if start is None:
        return "-"
    d = (end or time.time()) - start
    return f"{d * 1000:.0f}ms" if d < 1 else f"{d:.2f}s"


def error_line(err: str | None) -> str:
    if not err:
        return ""
    try:
        e = json.loads(err)
        return f"{e.get('code')}: {e.get('message', '')}".splitlines()[0][:160]
    except Exception:
        return err.splitlines()[0][:160]


def action_label(r: Any) -> str:
    status = r["status"]
    style = STATUS_STYLE.get(status, "white")
    kind = "" if r["kind"] == "task" else f"[dim]({r['kind']})[/dim] "
    bits = [f"[{style}]{status}[/{style}]", f"{kind}[bold]{r['task_name']}[/bold]"]
    bits.append(f"attempts={r['attempts']}")
    bits.append(fmt_duration(r["started_at"], r["ended_at"]))
    if r["cache_hit"]:
        bits.append("[cyan]cache hit[/cyan]")
    if r["group_name"]:
        bits.append(f"group={r['group_name']}")
    if r["mode"]:
        bits.append(f"mode={r['mode']}")
    bits.append(f"[dim]{r['action_id'][:12]}[/dim]")
    line = "  ".join(bits)
    err = error_line(r["error"])
    if err:
        line += f"\n[red]{err}[/red]"
    return line


def action_tree(run: Any, actions: list[Any], max_children: int = 50) -> Any:
    from rich.tree import Tree

    by_parent: dict[str | None, list[Any]] = {}
    for a in actions:
        by_parent.setdefault(a["parent_id"], []).append(a)
    for kids in by_parent.values():
        kids.sort(key=lambda r: r["position"] or 0)
    status = effective_status(run)
    style = STATUS_STYLE.get(status, "white")
    took = fmt_duration(run["started_at"], run["ended_at"])
    hint = (
        f"  [dim](process gone: resume with `flyte rerun {run['name']} --recover`)[/dim]"
        if status == "INTERRUPTED"
        else ""
    )
    root = Tree(f"[bold]{run['name']}[/bold]  {run['task_name']}  [{style}]{status}[/]  {took}{hint}")

    def add(node: Any, parent_id: str | None) -> None:
        kids = by_parent.get(parent_id, [])
        for a in kids[:max_children]:
            add(node.add(action_label(a)), a["action_id"])
        if len(kids) > max_children:
            counts: dict[str, int] = {}
            for a in kids[max_children:]:
                counts[a["status"]] = counts.get(a["status"], 0) + 1
            node.add(f"[dim]... {len(kids) - max_children} more: {counts}[/dim]")

    add(root, None)
    return root


class LiveProgress:
    """A live summary of the run's actions on a terminal; silent elsewhere."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.counts: dict[str, int] = {}
        self.recent: list[tuple[str, str]] = []
        self.limits = ""  # process mode: CPU budget in use / local limit, workers, GPUs
        self.live: Any = None

    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self.live = Live(self.render(), console=self.console, refresh_per_second=8, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)

    def __call__(self, event: str, action: Any, status: str) -> None:
        if event == "limits":
            self.limits = status
            if self.live is not None:
                self.live.update(self.render())
            return
        key = "CACHED" if event == "cached" else status
        if event == "end" or event == "cached":
            self.counts["RUNNING"] = self.counts.get("RUNNING", 0) - (0 if event == "cached" else 1)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.recent.append((status, action.task_name))
        self.recent = self.recent[-8:]
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Any:
        from rich.table import Table

        t = Table.grid(padding=(0, 2))
        summary = "  ".join(
            f"[{STATUS_STYLE.get(k, 'cyan')}]{k.lower()}[/]: {v}" for k, v in sorted(self.counts.items()) if v
        )
        t.add_row(summary or "starting...")
        if self.limits:
            t.add_row(f"[dim]{self.limits}[/dim]")
        for status, name in self.recent:
            t.add_row(f"[{STATUS_STYLE.get(status, 'white')}]{status:<9}[/] {name}")
        return t
