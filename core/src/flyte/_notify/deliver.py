"""Deliver a run's notifications when it ends: at least once, each attempt recorded with the run.

Every matching notification is first journaled as QUEUED (with its spec, secrets by name only), then
sent; a failed send is retried with a growing pause, up to ``FLYTE_NOTIFY_ATTEMPTS`` times. A
notification still QUEUED or FAILED after its process died is sent again by
:func:`redeliver_pending` (``flyte triggers serve`` calls it at start), so a receiver may see a
message twice but never zero times while it is reachable.

Secrets (``flyte.Secret`` URLs, headers, SMTP passwords) are read from the environment just before
a send; their values are replaced by ``***`` in every recorded or logged error, and targets are
recorded without paths or query strings (a webhook URL often carries its token there).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from flyte._secret import Secret
from flyte.notify import REDACTED, Email, NamedDelivery, NamedRule, Notification, Slack, Teams, Webhook

logger = logging.getLogger("flyte.notify")

QUEUED, DELIVERED, FAILED, SKIPPED = "QUEUED", "DELIVERED", "FAILED", "SKIPPED"
_TEMPLATE = re.compile(r"\{\{\s*\.(Run\.Name|Run\.Project|Run\.Domain|Phase|Error)\s*\}\}")


class DeliveryError(Exception):
    """One send failed (its message is already free of secret values)."""


def _attempts() -> int:
    return max(1, int(os.environ.get("FLYTE_NOTIFY_ATTEMPTS", "4")))


def _backoff() -> float:
    return float(os.environ.get("FLYTE_NOTIFY_BACKOFF_S", "0.5"))


class _Secrets:
    """Resolves secrets for one send and remembers their values to scrub them from errors."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def get(self, value: str | Secret) -> str:
        if not isinstance(value, Secret):
            return value
        env = value.env_var_name
        got = os.environ.get(env)
        if not got:
            raise DeliveryError(
                f"secret {value.key!r} is not set: export it as the environment variable {env}"
            )
        self.values.append(got)
        return got

    def scrub(self, text: str) -> str:
        for v in sorted(self.values, key=len, reverse=True):
            text = text.replace(v, "***")
        return text


def render(template: str, context: dict[str, str]) -> str:
    return _TEMPLATE.sub(lambda m: context.get(m.group(1), ""), template)


def _render_any(value: Any, context: dict[str, str]) -> Any:
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, dict):
        return {k: _render_any(v, context) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render_any(v, context) for v in value]
    return value


def target_of(n: Notification) -> str:
    """Where a notification goes, safe to record: no secret, no URL path or query."""

    def url(u: str | Secret) -> str:
        if isinstance(u, Secret):
            return f"secret:{u.key}"
        p = urllib.parse.urlsplit(u)
        return f"{p.scheme}://{p.hostname}" + (f":{p.port}" if p.port else "")

    if isinstance(n, Email):
        return f"smtp://{n.smtp_host}:{n.smtp_port} to {', '.join(n.recipients + n.cc + n.bcc)}"
    if isinstance(n, Webhook):
        return f"{n.method} {url(n.url)}"
    if isinstance(n, (Slack, Teams)):
        return url(n.webhook_url)
    if isinstance(n, NamedDelivery):
        return f"named:{n.name}"
    return n.kind


def _http(method: str, url: str, body: Any, headers: dict[str, str], secrets: _Secrets) -> None:
    data = None if body is None or method in ("GET", "HEAD") else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", "flyte-notify")
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
    except urllib.error.HTTPError as e:
        raise DeliveryError(secrets.scrub(f"HTTP {e.code} {e.reason}")) from None
    except (urllib.error.URLError, OSError) as e:
        raise DeliveryError(secrets.scrub(f"{type(e).__name__}: {e}")) from None


def _send_email(n: Email, ctx: dict[str, str], secrets: _Secrets) -> None:
    import smtplib
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"] = render(n.subject, ctx)
    msg["From"] = n.sender
    msg["To"] = ", ".join(n.recipients)
    if n.cc:
        msg["Cc"] = ", ".join(n.cc)
    msg.set_content(render(n.body, ctx))
    if n.html_body:
        msg.add_alternative(render(n.html_body, ctx), subtype="html")
    password = secrets.get(n.smtp_password) if n.smtp_password is not None else None
    try:
        with smtplib.SMTP(n.smtp_host, n.smtp_port, timeout=10) as smtp:
            if n.smtp_starttls:
                smtp.starttls()
            if n.smtp_user is not None and password is not None:
                smtp.login(n.smtp_user, password)
            smtp.send_message(msg, from_addr=n.sender, to_addrs=[*n.recipients, *n.cc, *n.bcc])
    except (smtplib.SMTPException, OSError) as e:
        raise DeliveryError(secrets.scrub(f"{type(e).__name__}: {e}")) from None


def send_one(n: Notification, ctx: dict[str, str]) -> None:
    """Send one notification now; raises DeliveryError (secret-free) when it fails."""
    secrets = _Secrets()
    if isinstance(n, Email):
        _send_email(n, ctx, secrets)
    elif isinstance(n, Slack):
        body: Any = (
            {"blocks": _render_any(list(n.blocks), ctx)}
            if n.blocks
            else {"text": render(n.message or "", ctx)}
        )
        _http("POST", secrets.get(n.webhook_url), body, {}, secrets)
    elif isinstance(n, Teams):
        body = (
            _render_any(n.card, ctx)
            if n.card
            else {"title": render(n.title, ctx), "text": render(n.message or "", ctx)}
        )
        _http("POST", secrets.get(n.webhook_url), body, {}, secrets)
    elif isinstance(n, Webhook):
        url = render(secrets.get(n.url), ctx)
        headers = {k: render(secrets.get(v), ctx) for k, v in (n.headers or {}).items()}
        _http(n.method, url, _render_any(n.body, ctx), headers, secrets)
    else:
        raise DeliveryError(f"{n.kind} is configured on a Flyte backend; it cannot be delivered locally")


def context_for(run: str, phase: str, error: str, project: str, domain: str) -> dict[str, str]:
    return {"Run.Name": run, "Run.Project": project, "Run.Domain": domain, "Phase": phase, "Error": error}


def _deliver(
    journal: Any, run: str, i: int, n: Notification, ctx: dict[str, str], first_attempt: int
) -> bool:
    phase, kind, target = ctx["Phase"], n.kind, target_of(n)
    pause = _backoff()
    last = first_attempt + _attempts() - 1
    for attempt in range(first_attempt, last + 1):
        try:
            send_one(n, ctx)
        except DeliveryError as e:
            journal.notify_record(run, i, attempt, kind, target, phase, FAILED, str(e), time.time())
            logger.warning(
                "notification %s to %s (run %s) failed, attempt %d: %s", kind, target, run, attempt, e
            )
            if attempt < last:
                time.sleep(pause)
                pause *= 2
            continue
        journal.notify_record(run, i, attempt, kind, target, phase, DELIVERED, None, time.time())
        logger.info("notification %s to %s delivered (run %s)", kind, target, run)
        return True
    return False


def run_phase(status: str, error: BaseException | None) -> str:
    """The notification phase of a run's journal status (a timeout failure is TIMED_OUT)."""
    from flyte.errors import TaskTimeoutError

    if status == "FAILED" and isinstance(error, TaskTimeoutError):
        return "timed_out"
    return status.lower()


def deliver_for_run(
    journal: Any,
    run: str,
    phase: str,
    error: str,
    notifications: tuple[Notification | NamedRule, ...],
    project: str = "",
    domain: str = "",
) -> list[bool]:
    """Send the notifications of ``run`` that ``phase`` fires; True per one delivered."""
    ctx = context_for(run, phase, error, project, domain)
    due = [n for n in notifications if isinstance(n, Notification) and phase in [p.value for p in n.phases]]
    for i, n in enumerate(due):  # journaled before any send: a crash now leaves them QUEUED
        spec = json.dumps({"notification": n.to_dict(), "context": ctx})
        journal.notify_record(run, i, 0, n.kind, target_of(n), phase, QUEUED, None, time.time(), spec)
    results = []
    for i, n in enumerate(due):
        if isinstance(n, NamedDelivery):
            journal.notify_record(
                run, i, 1, n.kind, target_of(n), phase, SKIPPED, "configured on a backend only", time.time()
            )
            results.append(False)
            continue
        results.append(_deliver(journal, run, i, n, ctx, 1))
    return results


def from_dict(d: dict[str, Any]) -> Notification:
    """Rebuild a notification from its recorded form (secrets come back as flyte.Secret)."""

    def value(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"secret"}:
            s = v["secret"]
            return Secret(key=s["key"], group=s.get("group"), as_env_var=s.get("env_var"))
        return v

    cls: Any = {
        "email": Email,
        "slack": Slack,
        "teams": Teams,
        "webhook": Webhook,
        "named_delivery": NamedDelivery,
    }[d["type"]]
    kw = {k: value(v) for k, v in d.items() if k != "type"}
    if isinstance(kw.get("headers"), dict):
        kw["headers"] = {k: value(v) for k, v in kw["headers"].items()}
    for k in ("recipients", "cc", "bcc", "blocks"):
        if isinstance(kw.get(k), list):
            kw[k] = tuple(kw[k])
    made: Notification = cls(**kw)
    return made


def redeliver_pending(journal: Any) -> int:
    """Send again every notification whose last recorded attempt is QUEUED or FAILED (its process
    died, or all its attempts failed); returns how many were delivered now."""
    rows = journal.notify_deliveries()
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    specs: dict[tuple[str, int], str] = {}
    for r in rows:
        latest[(r["run"], r["n"])] = r
        if r["attempt"] == 0 and r["spec"]:
            specs[(r["run"], r["n"])] = r["spec"]
    delivered = 0
    for (run, i), r in latest.items():
        if r["status"] not in (QUEUED, FAILED) or (run, i) not in specs:
            continue
        spec = json.loads(specs[(run, i)])
        redacted = [k for k, v in (spec["notification"].get("headers") or {}).items() if v == REDACTED]
        if redacted:  # a plain-text credential was not recorded: it cannot be sent again from here
            why = f"cannot resend: plain-text header(s) {redacted} were not recorded; use flyte.Secret"
            journal.notify_record(
                run, i, int(r["attempt"]) + 1, r["kind"], r["target"], r["phase"], SKIPPED, why, time.time()
            )
            continue
        n = from_dict(spec["notification"])
        if _deliver(journal, run, i, n, spec["context"], int(r["attempt"]) + 1):
            delivered += 1
    return delivered
