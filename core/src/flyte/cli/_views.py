"""Rendering runs and action trees for the terminal (and a live view while a run executes)."""

from __future__ import annotations

import json
import time
from typing import Any

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "RUNNING": "yellow",
    "QUEUED": "blue",
    "ENDING": "dim",
    "ABORTED": "magenta",
    "INTERRUPTED": "red",
}


def effective_status(run: Any) -> str:
    """A RUNNING run whose process is gone was killed: say so instead of 'RUNNING' forever."""
    from flyte._runtime.reader import effective_status as status

    return status({k: run[k] for k in ("status", "pid", "host")})


def fmt_duration(start: float | None, end: float | None) -> str:
    if start is None:
        return "-"
    return fmt_seconds((end or time.time()) - start)


def fmt_seconds(d: float | None) -> str:
    if d is None:
        return "-"
    return f"{d * 1000:.0f}ms" if d < 1 else f"{d:.2f}s"


def segment_lines(segments: list[dict[str, Any]]) -> list[str]:
    """One line per execution of a run (the first, then each recovery), when there was more than one
    or the only one was interrupted."""
    import datetime as dt

    if len(segments) < 2 and segments and segments[0]["status"] != "INTERRUPTED":
        return []
    out = []
    for s in segments:
        start = dt.datetime.fromtimestamp(s["started_at"]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        end = (
            dt.datetime.fromtimestamp(s["ended_at"]).strftime("%H:%M:%S.%f")[:-3]
            if s["ended_at"] is not None
            else "now"
        )
        what = "first run" if s["n"] == 0 else f"recovery {s['n']}"
        line = f"  {what:<11} {start} -> {end}  {fmt_seconds(s['duration']):>9}  {s['status']}"
        err = error_line(s.get("error"))
        out.append(line + (f"  ({err})" if err else ""))
    return out


def error_line(err: str | None) -> str:
    if not err:
        return ""
    try:
        e = json.loads(err)
        return f"{e.get('code')}: {e.get('message', '')}".splitlines()[0][:160]
    except Exception:
        return err.splitlines()[0][:160]


def adopted_note(r: Any) -> str | None:
    """How a recovery adopted this action from a crashed driver's worker (issue 23), or None."""
    try:
        meta = r["meta"]
    except (KeyError, IndexError):
        return None
    if not meta or "adopted" not in meta:
        return None
    try:
        got = json.loads(meta)
    except ValueError:
        return None
    return (
        str(got.get("how") or "adopted after recovery")
        if isinstance(got, dict) and "adopted" in got
        else None
    )


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
    if adopted_note(r):
        bits.append("[magenta]adopted after recovery[/magenta]")
    bits.append(f"[dim]{r['action_id'][:12]}[/dim]")
    line = "  ".join(bits)
    err = error_line(r["error"])
    if err:
        line += f"\n[red]{err}[/red]"
    return line


def action_tree(run: Any, actions: list[Any], max_children: int = 50, duration: float | None = None) -> Any:
    from rich.tree import Tree

    by_parent: dict[str | None, list[Any]] = {}
    for a in actions:
        by_parent.setdefault(a["parent_id"], []).append(a)
    for kids in by_parent.values():
        kids.sort(key=lambda r: r["position"] or 0)
    status = effective_status(run)
    style = STATUS_STYLE.get(status, "white")
    took = fmt_seconds(duration) if duration is not None else fmt_duration(run["started_at"], run["ended_at"])
    hint = (
        f"  [dim](process gone: resume with `flyte rerun {run['name']} --recover`)[/dim]"
        if status == "INTERRUPTED"
        else ""
    )
    settings = json.loads(run["settings"] or "{}") if "settings" in run.keys() else {}
    source = settings.get("recovered_from")
    if source:
        hint += f"  [dim](recovered from {source})[/dim]"
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
    """The run's action tree, live on a terminal (silent elsewhere).

    Events only update a small table of actions; the tree is drawn from it by rich's refresh
    thread (8 times a second), so a 10k fan-out costs one dict update per event, not a redraw.
    Siblings of one task collapse into a line with their status counts once there are more than
    ``SHOW_EACH`` of them, and the tree stops ``MAX_DEPTH`` levels down. An action waiting for a
    place (``max_action_concurrency``, the CPU budget, a worker or a GPU) is QUEUED until it has one;
    one whose body ended and gave its place back is ENDING while its result is recorded (milliseconds).
    """

    SHOW_EACH = 3
    MAX_DEPTH = 4

    def __init__(self, console: Any) -> None:
        self.console = console
        self.counts: dict[str, int] = {}
        self.nodes: dict[str, list[Any]] = {}  # action ID -> [task name, parent ID or None, status]
        self.limits = ""  # process mode: CPU budget in use / local limit, workers, GPUs
        self.live: Any = None

    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self.live = Live(self, console=self.console, refresh_per_second=8, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.__exit__(*exc)

    def __call__(self, event: str, action: Any, status: str) -> None:
        if event == "limits":
            self.limits = status
            return
        if event not in ("start", "end", "cached", "queued", "running", "released"):
            return
        key = "CACHED" if event == "cached" else "ENDING" if event == "released" else status
        node = self.nodes.get(action.action_id)
        if node is None:
            parent = action.parent
            parent_id = parent.action_id if parent is not None and parent.parent is not None else None
            self.nodes[action.action_id] = [action.task_name, parent_id, key]
        else:  # it leaves its state (RUNNING, or QUEUED while it waits for a place) for the new one
            self.counts[node[2]] = self.counts.get(node[2], 0) - 1
            node[2] = key
        self.counts[key] = self.counts.get(key, 0) + 1

    def __rich__(self) -> Any:
        return self.render()

    def render(self) -> Any:
        from rich.console import Group
        from rich.tree import Tree

        summary = "  ".join(
            f"[{STATUS_STYLE.get(k, 'cyan')}]{k.lower()}[/]: {v}" for k, v in sorted(self.counts.items()) if v
        )
        by_parent: dict[str | None, list[tuple[str, list[Any]]]] = {}
        for aid, node in list(self.nodes.items()):  # a snapshot: events keep coming on the run's loop
            by_parent.setdefault(node[1], []).append((aid, node))
        tree = Tree(summary or "starting...", guide_style="dim")

        def add(branch: Any, parent_id: str | None, depth: int) -> None:
            groups: dict[str, list[tuple[str, list[Any]]]] = {}
            for aid, node in by_parent.get(parent_id, []):
                groups.setdefault(node[0], []).append((aid, node))
            for name, items in groups.items():
                if len(items) <= self.SHOW_EACH:
                    for aid, node in items:
                        sub = branch.add(f"[{STATUS_STYLE.get(node[2], 'white')}]{node[2]:<9}[/] {name}")
                        if depth < self.MAX_DEPTH:
                            add(sub, aid, depth + 1)
                    continue
                counts: dict[str, int] = {}
                for _, node in items:
                    counts[node[2]] = counts.get(node[2], 0) + 1
                text = "  ".join(
                    f"[{STATUS_STYLE.get(k, 'white')}]{k.lower()} {v}[/]" for k, v in sorted(counts.items())
                )
                branch.add(f"{name} [bold]x{len(items)}[/]  {text}")

        add(tree, None, 0)
        return Group(tree, f"[dim]{self.limits}[/dim]") if self.limits else tree


class FollowLines:
    """``--follow`` off a terminal: one line per action as it starts, is cached or ends, and when it
    waits for a place (QUEUED) and gets one (RUNNING)."""

    def __init__(self, echo: Any) -> None:
        self.echo = echo

    def __call__(self, event: str, action: Any, status: str) -> None:
        if event not in ("start", "end", "cached", "queued", "running"):
            return
        from flyte._context import current_action

        what = "CACHED" if event == "cached" else status
        token = current_action.set(None)  # the view's line is not the action's own output (its log)
        try:
            self.echo(f"  {what:<9} {action.task_name}  {action.action_id[:12]}")
        finally:
            current_action.reset(token)


def error_parts(err: str | None) -> tuple[str, str, str]:
    """(type, message, traceback) of a recorded error (JSON from ``error_record``, or plain text)."""
    if not err:
        return "", "", ""
    try:
        e = json.loads(err)
    except Exception:
        return "", err, ""
    if not isinstance(e, dict):
        return "", str(e), ""
    kind = str(e.get("code") or e.get("type") or "")
    return kind, str(e.get("message", "")), str(e.get("traceback") or "")


def _framework(path: str) -> bool:
    """Whether a traceback frame's file is flyte's own, asyncio's or the standard library's (a sync
    body runs under ``concurrent.futures``): not the user's code."""
    import os
    import sysconfig

    import flyte

    root = os.path.dirname(os.path.abspath(flyte.__file__)) + os.sep
    stdlib = tuple(
        os.path.join(p, "") for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    )
    return (
        path.startswith(root)
        or (os.sep + "asyncio" + os.sep) in path
        or path.startswith("<frozen ")
        or (path.startswith(stdlib) and (os.sep + "site-packages" + os.sep) not in path)
    )


def user_frames(tb: str) -> list[tuple[str, str, str]]:
    """(file, line, function) of each frame of the user's code in a formatted traceback."""
    out = []
    for line in tb.splitlines():
        stripped = line.strip()
        if stripped.startswith('File "'):
            path, _, rest = stripped[6:].partition('", line ')
            num, _, func = rest.partition(", in ")
            if not _framework(path):
                out.append((path, num, func))
    return out


def user_traceback(tb: str) -> str:
    """A recorded traceback without the frames of flyte itself and asyncio: the user's code, with
    each frame's file:line (all of it when nothing would be left)."""
    if not user_frames(tb):
        return tb
    out: list[str] = []
    dropping = False
    for line in tb.splitlines():
        stripped = line.lstrip()
        if stripped.startswith('File "'):
            dropping = _framework(stripped[6:].split('"', 1)[0])
            if not dropping:
                out.append(line)
            continue
        if dropping and line.startswith("    "):
            continue  # the source lines (and carets) of a dropped frame
        dropping = False
        out.append(line)
    return "\n".join(out)


def attempt_lines(actions: list[Any], attempts: list[dict[str, Any]], traceback: bool) -> list[str]:
    """One line per failed attempt (its action, number, error type and message); with
    ``traceback``, the user's part of each attempt's traceback under it."""
    names = {a["action_id"]: a["task_name"] for a in actions}
    out: list[str] = []
    for at in attempts:
        if at["status"] != "FAILED":
            continue
        kind, message, tb = error_parts(at["error"])
        first = message.splitlines()[0] if message else ""
        name = names.get(at["action_id"], "?")
        out.append(f"  {name} {at['action_id'][:12]} attempt {at['attempt'] + 1}: {kind}: {first}")
        if traceback and tb:
            out += ["    " + ln for ln in user_traceback(tb).splitlines()]
    return out
