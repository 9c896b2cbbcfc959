"""The web app: Starlette routes rendering Jinja2 templates (autoescaped) over :mod:`flyte.ui._data`.

Every route is a GET; the journal is opened read-only. Files are served only from inside a run's
own store, and never with a content type a browser would run as a page.
"""

from __future__ import annotations

import mimetypes
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from flyte.ui._data import (
    STATUSES,
    JournalMissingError,
    JournalReader,
    OutsideStoreError,
    build_tree,
    fmt_bytes,
    fmt_time,
    gantt,
    read_report,
    read_value_bytes,
    resolve_in_store,
    run_automation,
    status_counts,
)

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
REPORT_CSP = (
    # A report is the task author's HTML (charts often carry inline script): it runs sandboxed in an
    # opaque origin, may be framed only by this UI's pages, and can load or send nothing.
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval';"
    " style-src 'unsafe-inline'; img-src data: blob:; font-src data:; media-src data: blob:;"
    " connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
SAFE_INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """Adds a strict CSP (scripts and styles from this server only) and no-sniff to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                if b"x-frame-options" not in names:
                    headers.append((b"x-frame-options", b"DENY"))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _run_url(name: str) -> str:
    return f"/runs/{quote(name, safe='')}"


def _action_url(run: str, action_id: str) -> str:
    return f"{_run_url(run)}/actions/{quote(action_id, safe='')}"


def _file_url(run: str, rel: str) -> str:
    return f"{_run_url(run)}/files/{quote(rel)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(run_url=_run_url, action_url=_action_url, file_url=_file_url, STATUSES=STATUSES)
    env.filters.update(ts=fmt_time, nbytes=fmt_bytes, status_class=lambda s: f"st-{str(s).lower()}")
    return env


class UI:
    """Route handlers bound to one journal."""

    def __init__(self, journal_path: str) -> None:
        self.reader = JournalReader(journal_path)
        self.env = _environment()

    def page(self, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("journal_path", self.reader.path)
        return HTMLResponse(self.env.get_template(template).render(**ctx), status_code=status_code)

    def message(self, title: str, text: str, status_code: int) -> HTMLResponse:
        return self.page("message.html", status_code=status_code, title=title, text=text)

    def missing_journal(self) -> HTMLResponse:
        return self.message(
            "No runs yet",
            f"There is no journal at {self.reader.path}. Start a run (flyte run FILE TASK) and reload.",
            200,
        )

    # -- pages -------------------------------------------------------------------------------------
    def runs(self, request: Request) -> Response:
        q = request.query_params
        status = (q.get("status") or "").upper() or None
        task = q.get("task") or None
        try:
            before = int(q["before"]) if q.get("before") else None
            after = int(q["after"]) if q.get("after") else None
            limit = int(q.get("limit") or 50)
        except ValueError:
            return self.message("Bad request", "before, after and limit are numbers", 400)
        try:
            page = self.reader.list_runs(status=status, task=task, before=before, after=after, limit=limit)
            tasks = self.reader.task_names()
            version = self.reader.list_state()
        except JournalMissingError:
            return self.missing_journal()
        filters = {k: v for k, v in (("status", status), ("task", task)) if v}
        if limit != 50:
            filters["limit"] = str(limit)
        tpl = "_runs_live.html" if q.get("fragment") else "runs.html"
        first = before is None and after is None
        return self.page(
            tpl,
            page=page,
            status=status or "",
            task=task or "",
            tasks=tasks,
            filters=filters,
            version=version,
            poll=first,
            title="Runs",
        )

    def run(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            run = self.reader.get_run(name)
            if run is None:
                return self.message("Not found", f"No run named {name!r}.", 404)
            actions, total = self.reader.run_actions(name)
            state = self.reader.run_state(name) or {}
            automation = run_automation(self.reader, name)
        except JournalMissingError:
            return self.missing_journal()
        now = time.time()
        roots = build_tree(actions, complete=len(actions) >= total)
        tpl = "_run_live.html" if request.query_params.get("fragment") else "run.html"
        return self.page(
            tpl,
            run=run,
            roots=roots,
            counts=status_counts(actions),
            total=total,
            shown=len(actions),
            chart=gantt(run, roots, now=now),
            version=state.get("version", ""),
            live=state.get("live", False),
            automation=automation,
            title=f"Run {run.name}",
        )

    def action(self, request: Request) -> Response:
        name, action_id = request.path_params["name"], request.path_params["action_id"]
        try:
            run = self.reader.get_run(name)
            if run is None:
                return self.message("Not found", f"No run named {name!r}.", 404)
            try:
                offset = int(request.query_params.get("children") or 0)
            except ValueError:
                offset = 0
            detail = self.reader.action_detail(run, action_id, child_offset=offset)
            if detail is None:
                return self.message("Not found", f"Run {name!r} has no action {action_id!r}.", 404)
            state = self.reader.run_state(name) or {}
        except JournalMissingError:
            return self.missing_journal()
        tpl = "_action_live.html" if request.query_params.get("fragment") else "action.html"
        return self.page(
            tpl,
            run=run,
            d=detail,
            a=detail.action,
            version=state.get("version", ""),
            live=state.get("live", False),
            title=f"{detail.action.task_name} in {run.name}",
        )

    def action_report(self, request: Request) -> Response:
        """One attempt's HTML report, for the sandboxed frame on the action's page."""
        p = request.path_params
        try:
            run = self.reader.get_run(p["name"])
        except JournalMissingError:
            return PlainTextResponse("no journal", status_code=404)
        attempt = p["attempt"]
        data = None if run is None else read_report(run.store_prefix, p["action_id"], attempt)
        if data is None:
            return PlainTextResponse("no report kept for this attempt", status_code=404)
        return Response(
            data,
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": REPORT_CSP, "x-frame-options": "SAMEORIGIN"},
        )

    # -- raw values and files ------------------------------------------------------------------------
    def _value_response(self, found: tuple[bytes | None, str | None] | None, what: str) -> Response:
        if found is None:
            return PlainTextResponse(f"not found: {what}", status_code=404)
        blob, prefix = found
        if blob is None:
            return PlainTextResponse(f"no value recorded for {what}", status_code=404)
        try:
            data = read_value_bytes(blob, prefix)
        except OutsideStoreError as e:
            return PlainTextResponse(f"refused: {e}", status_code=403)
        except OSError as e:
            return PlainTextResponse(f"could not read the stored value: {e.strerror}", status_code=404)
        tag, body = data[:1], data[1:]
        if tag == b"J":
            return Response(body, media_type="application/json")
        if tag == b"B":
            return Response(
                body,
                media_type="application/octet-stream",
                headers={"content-disposition": 'attachment; filename="value.bin"'},
            )
        if tag == b"P":
            return PlainTextResponse(
                f"<pickled value, {len(body)} bytes>: pickles are never loaded or served by the UI", 403
            )
        return PlainTextResponse("unrecognised value encoding", status_code=415)

    def run_value(self, request: Request) -> Response:
        name, fld = request.path_params["name"], request.path_params["field"]
        if fld not in ("inputs", "outputs"):
            return PlainTextResponse("not found", status_code=404)
        try:
            return self._value_response(self.reader.run_value(name, fld), f"{name} {fld}")
        except JournalMissingError:
            return PlainTextResponse("no journal", status_code=404)

    def action_value(self, request: Request) -> Response:
        p = request.path_params
        if p["field"] not in ("inputs", "outputs"):
            return PlainTextResponse("not found", status_code=404)
        try:
            found = self.reader.action_value(p["name"], p["action_id"], p["field"])
        except JournalMissingError:
            return PlainTextResponse("no journal", status_code=404)
        return self._value_response(found, f"{p['action_id']} {p['field']}")

    def store_file(self, request: Request) -> Response:
        """A file (or a directory listing) from inside the run's own store; nothing outside it."""
        name, rel = request.path_params["name"], request.path_params["path"]
        try:
            run = self.reader.get_run(name)
        except JournalMissingError:
            return PlainTextResponse("no journal", status_code=404)
        if run is None:
            return PlainTextResponse("no such run", status_code=404)
        try:
            path = resolve_in_store(run.store_prefix, rel)
        except OutsideStoreError as e:
            return PlainTextResponse(f"refused: {e}", status_code=403)
        if os.path.isdir(path):
            entries = sorted(os.listdir(path))[:1000]
            base = os.path.relpath(path, resolve_in_store(run.store_prefix, ""))
            base = "" if base == "." else base.rstrip("/") + "/"
            return self.page("listing.html", run=run, rel=base, entries=entries, title=f"{run.name}/{base}")
        if not os.path.isfile(path):
            return PlainTextResponse("no such file", status_code=404)
        guessed, _ = mimetypes.guess_type(path)
        filename = os.path.basename(path)
        if guessed in SAFE_INLINE_TYPES:
            return FileResponse(path, media_type=guessed, headers={"content-security-policy": "sandbox"})
        if (guessed or "").startswith("text/") or (
            guessed in ("application/json", None) and _looks_text(path)
        ):
            # Shown as plain text, never as HTML: a task's file must not run script in this origin.
            return FileResponse(
                path, media_type="text/plain; charset=utf-8", headers={"content-security-policy": "sandbox"}
            )
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=filename,
            headers={"content-security-policy": "sandbox"},
        )

    # -- JSON ----------------------------------------------------------------------------------------
    def api_runs(self, request: Request) -> Response:
        q = request.query_params
        try:
            page = self.reader.list_runs(
                status=q.get("status") or None,
                task=q.get("task") or None,
                before=int(q["before"]) if q.get("before") else None,
                after=int(q["after"]) if q.get("after") else None,
                limit=int(q.get("limit") or 50),
            )
        except ValueError:
            return JSONResponse({"error": "before, after and limit are numbers"}, status_code=400)
        except JournalMissingError:
            return JSONResponse({"runs": [], "total": 0, "has_newer": False, "has_older": False})
        return JSONResponse(
            {
                "runs": [r.to_json() for r in page.runs],
                "total": page.total,
                "has_newer": page.has_newer,
                "has_older": page.has_older,
                "newest": page.newest_rowid,
                "oldest": page.oldest_rowid,
            }
        )

    def api_run(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            run = self.reader.get_run(name)
            if run is None:
                return JSONResponse({"error": "no such run"}, status_code=404)
            actions, total = self.reader.run_actions(name)
        except JournalMissingError:
            return JSONResponse({"error": "no journal"}, status_code=404)
        return JSONResponse(
            {"run": run.to_json(), "total_actions": total, "actions": [a.to_json() for a in actions]}
        )

    def api_state(self, request: Request) -> Response:
        try:
            return JSONResponse({"version": self.reader.list_state(), "live": True})
        except JournalMissingError:
            return JSONResponse({"version": "", "live": True})

    def api_run_state(self, request: Request) -> Response:
        try:
            state = self.reader.run_state(request.path_params["name"])
        except JournalMissingError:
            state = None
        if state is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(state)

    def not_found(self, request: Request, exc: Exception) -> Response:
        return self.message("Not found", f"Nothing at {request.url.path}.", 404)


def _looks_text(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > len(head) - 4  # a multi-byte character cut at the end
    return True


def create_app(journal_path: str, allowed_hosts: Sequence[str] | None = None) -> Starlette:
    """The ASGI app for one journal; ``allowed_hosts`` guards against DNS rebinding (None: any)."""
    ui = UI(journal_path)
    routes = [
        Route("/", ui.runs, name="runs"),
        Route("/runs/{name}", ui.run, name="run"),
        Route("/runs/{name}/value/{field}", ui.run_value, name="run_value"),
        Route("/runs/{name}/files/{path:path}", ui.store_file, name="store_file"),
        Route("/runs/{name}/actions/{action_id}", ui.action, name="action"),
        Route("/runs/{name}/actions/{action_id}/value/{field}", ui.action_value, name="action_value"),
        Route(
            "/runs/{name}/actions/{action_id}/report/{attempt:int}", ui.action_report, name="action_report"
        ),
        Route("/api/runs", ui.api_runs),
        Route("/api/state", ui.api_state),
        Route("/api/runs/{name}", ui.api_run),
        Route("/api/runs/{name}/state", ui.api_run_state),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: ui.not_found})
    app.state.ui = ui
    return app
