"""flyte.notify: definition-time validation, delivery over HTTP/SMTP with retries, the record kept
with the run, and secrets kept out of the journal, the logs and `flyte serialize`."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import flyte
import flyte.notify as notify
import pytest
from flyte.errors import InvalidParameterError
from flyte.models import ActionPhase
from local_receivers import HttpReceiver, smtp_receiver

env = flyte.TaskEnvironment("notify_env")


@env.task
def ok(x: int) -> int:
    return x + 1


@env.task
def boom(x: int) -> int:
    raise ValueError(f"bad input {x}")


@env.task(timeout=1)
def too_slow() -> int:
    import time

    time.sleep(2.5)
    return 0


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_NOTIFY_BACKOFF_S", "0.05")


def _journal() -> object:
    from flyte._config import get_settings
    from flyte._runtime.journal import open_journal

    return open_journal(get_settings().journal_path)


def journal_bytes() -> bytes:
    """The journal file and its write-ahead log, as on disk."""
    return b"".join(p.read_bytes() for p in (Path.cwd() / "flyte-home").glob("journal.db*"))


def deliveries(run: str) -> list[dict]:
    return _journal().notify_deliveries(run)  # type: ignore[attr-defined]


# ---- definition time ----------------------------------------------------------------------------
def test_bad_definitions_name_the_field() -> None:
    with pytest.raises(InvalidParameterError, match=r"on_phase.*SUCCEEDED, FAILED"):
        notify.Webhook(on_phase=ActionPhase.RUNNING, url="http://127.0.0.1/x")
    with pytest.raises(InvalidParameterError, match="on_phase"):
        notify.Slack(on_phase=(), webhook_url="http://127.0.0.1/x")
    with pytest.raises(InvalidParameterError, match="recipients"):
        notify.Email(on_phase=ActionPhase.FAILED, recipients=[])
    with pytest.raises(InvalidParameterError, match=r"url.*http"):
        notify.Webhook(on_phase="failed", url="ftp://x")
    with pytest.raises(InvalidParameterError, match="method"):
        notify.Webhook(on_phase="failed", url="http://x", method="FETCH")
    with pytest.raises(InvalidParameterError, match="smtp_user"):
        notify.Email(on_phase="failed", recipients=["a@b.c"], smtp_password=flyte.Secret("pw"))
    with pytest.raises(InvalidParameterError, match=r"smtp_password='\*\*\*'.*flyte.Secret") as e:
        notify.Email(on_phase="failed", recipients=["a@b.c"], smtp_user="u", smtp_password="hunter2")
    assert "hunter2" not in str(e.value)
    with pytest.raises(InvalidParameterError, match="notifications"):
        flyte.with_runcontext(notifications=["not a notification"])
    with pytest.raises(InvalidParameterError, match="notifications"):
        flyte.Trigger("t", automation=flyte.FixedRate(5), notifications=42)
    # phases as strings, normalised to a tuple of ActionPhase (the anchor's shape)
    w = notify.Webhook(on_phase="FAILED", url="http://x")
    assert w.on_phase == (ActionPhase.FAILED,)


# ---- delivery -----------------------------------------------------------------------------------
def test_webhook_retried_after_a_refusal_and_recorded() -> None:
    with HttpReceiver(fail_first=1) as rx:
        hook = notify.Webhook(
            on_phase=ActionPhase.SUCCEEDED,
            url=rx.url + "/hook/{{.Run.Name}}",
            headers={"X-Phase": "{{.Phase}}"},
        )
        run = flyte.with_runcontext(name="nw1", notifications=hook, project="p1", domain="d1").run(ok, x=1)
    assert run.outputs()[0] == 2
    assert len(rx.requests) == 1 and rx.refused == 1
    req = rx.requests[0]
    assert req["path"] == "/hook/nw1" and req["headers"]["X-Phase"] == "succeeded"
    assert req["json"] == {"run": "nw1", "project": "p1", "domain": "d1", "phase": "succeeded", "error": ""}
    rows = deliveries("nw1")
    assert [(r["attempt"], r["status"]) for r in rows] == [(0, "QUEUED"), (1, "FAILED"), (2, "DELIVERED")]
    assert "503" in rows[1]["error"]
    from click.testing import CliRunner
    from flyte.cli.main import cli

    shown = json.loads(CliRunner().invoke(cli, ["runs", "show", "nw1", "--json"]).output)
    assert [d["status"] for d in shown["run"]["notifications"]] == ["QUEUED", "FAILED", "DELIVERED"]
    text = CliRunner().invoke(cli, ["runs", "show", "nw1"]).output
    assert "attempt 1: FAILED: HTTP 503" in text and "attempt 2: DELIVERED" in text


def test_only_matching_phases_are_sent_and_failure_carries_the_error() -> None:
    with HttpReceiver() as rx:
        on_ok = notify.Slack(on_phase=ActionPhase.SUCCEEDED, webhook_url=rx.url + "/ok")
        on_fail = notify.Slack(
            on_phase=ActionPhase.FAILED, webhook_url=rx.url + "/fail", message="{{.Error}}"
        )
        run = flyte.with_runcontext(name="nf1", notifications=(on_ok, on_fail)).start(boom, x=7)
    assert run.status == "FAILED"
    assert [r["path"] for r in rx.requests] == ["/fail"]
    text = rx.requests[0]["json"]["text"]
    assert "bad input 7" in text and set(rx.requests[0]["json"]) == {"text"}


def test_a_timed_out_run_is_the_timed_out_phase() -> None:
    with HttpReceiver() as rx:
        failed = notify.Webhook(on_phase=ActionPhase.FAILED, url=rx.url + "/failed")
        timed_out = notify.Webhook(on_phase=ActionPhase.TIMED_OUT, url=rx.url + "/timed-out")
        run = flyte.with_runcontext(name="nto", notifications=[failed, timed_out]).start(too_slow)
    assert run.status == "FAILED"
    assert [r["path"] for r in rx.requests] == ["/timed-out"]
    assert rx.requests[0]["json"]["phase"] == "timed_out"


def test_slack_blocks_and_teams_formats() -> None:
    with HttpReceiver() as rx:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*{{.Run.Name}}* {{.Phase}}"}}]
        s = notify.Slack(on_phase="succeeded", webhook_url=rx.url, blocks=blocks)
        t = notify.Teams(on_phase="succeeded", webhook_url=rx.url + "/teams", message="{{.Run.Name}} ok")
        flyte.with_runcontext(name="ns1", notifications=[s, t]).run(ok, x=1)
    assert rx.requests[0]["json"] == {
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*ns1* succeeded"}}]
    }
    assert rx.requests[1]["path"] == "/teams"
    assert rx.requests[1]["json"] == {"title": "Run ns1 succeeded", "text": "ns1 ok"}


def test_email_over_smtp_with_secret_password_retried(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-very-secret")
    with smtp_receiver(fail_first=1, user="bot", password="hunter2-very-secret") as (port, rx):
        mail = notify.Email(
            on_phase=ActionPhase.FAILED,
            recipients=["oncall@example.com"],
            cc=["lead@example.com"],
            subject="{{.Run.Name}} {{.Phase}}",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_user="bot",
            smtp_password=flyte.Secret("smtp-password"),
        )
        with caplog.at_level(logging.DEBUG, logger="flyte"):
            run = flyte.with_runcontext(name="ne1", notifications=[mail]).start(boom, x=3)
    assert run.status == "FAILED"
    assert rx.refused == 1 and len(rx.messages) == 1 and rx.logins == ["bot", "bot"]
    msg = rx.messages[0]
    assert sorted(msg["to"]) == ["lead@example.com", "oncall@example.com"]
    assert "Subject: ne1 failed" in msg["data"] and "bad input 3" in msg["data"]
    rows = deliveries("ne1")
    assert [r["status"] for r in rows] == ["QUEUED", "FAILED", "DELIVERED"]
    dump = json.dumps(rows) + caplog.text
    assert "hunter2" not in dump and b"hunter2" not in journal_bytes()
    assert "smtp-password" in rows[0]["spec"]  # the secret is named, not resolved


def test_secret_webhook_url_never_recorded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with HttpReceiver(fail_first=1) as rx:
        secret_url = rx.url + "/services/T000/B000/tok3n-xyz"
        monkeypatch.setenv("SLACK_HOOK", secret_url)
        s = notify.Slack(on_phase="succeeded", webhook_url=flyte.Secret("slack-hook"))
        with caplog.at_level(logging.DEBUG, logger="flyte"):
            flyte.with_runcontext(name="nsec", notifications=s).run(ok, x=1)
    assert len(rx.requests) == 1 and rx.requests[0]["path"] == "/services/T000/B000/tok3n-xyz"
    rows = deliveries("nsec")
    assert rows[-1]["status"] == "DELIVERED" and rows[-1]["target"] == "secret:slack-hook"
    assert b"nsec" in journal_bytes() and b"tok3n-xyz" not in journal_bytes()
    assert "tok3n-xyz" not in caplog.text


def test_missing_secret_is_a_recorded_failure_naming_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_NOTIFY_ATTEMPTS", "2")
    monkeypatch.delenv("NOPE_HOOK", raising=False)
    s = notify.Webhook(on_phase="succeeded", url=flyte.Secret("nope-hook"))
    run = flyte.with_runcontext(name="nmiss", notifications=s).run(ok, x=1)
    assert run.status == "SUCCEEDED"  # a notification never fails the run
    rows = deliveries("nmiss")
    assert [r["status"] for r in rows] == ["QUEUED", "FAILED", "FAILED"]
    assert "NOPE_HOOK" in rows[-1]["error"]


def test_pending_delivery_is_sent_again_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """At least once: a delivery whose attempts all failed (or whose process died) is sent by the
    next `redeliver_pending` (run by `flyte triggers serve` at start)."""
    from flyte._notify.deliver import redeliver_pending

    monkeypatch.setenv("FLYTE_NOTIFY_ATTEMPTS", "1")
    monkeypatch.setenv("HOOK_TOKEN", "Bearer s3cr3t-token")
    with HttpReceiver(fail_first=1) as rx:
        auth = {"Authorization": flyte.Secret("hook-token")}
        hook = notify.Webhook(on_phase="succeeded", url=rx.url + "/again", headers=auth)
        flyte.with_runcontext(name="npend", notifications=hook).run(ok, x=1)
        assert rx.requests == []
        assert redeliver_pending(_journal()) == 1
        assert redeliver_pending(_journal()) == 0
    assert [r["path"] for r in rx.requests] == ["/again"]
    assert rx.requests[0]["headers"]["Authorization"] == "Bearer s3cr3t-token"  # the secret, rebuilt by name
    assert "s3cr3t" not in json.dumps(deliveries("npend"))
    assert [r["status"] for r in deliveries("npend")] == ["QUEUED", "FAILED", "DELIVERED"]


# ---- serialize ----------------------------------------------------------------------------------
TRIGGERED = """
import flyte, flyte.notify as notify
from datetime import datetime
env = flyte.TaskEnvironment("trig_ser")
hook = notify.Slack(on_phase="failed", webhook_url=flyte.Secret("slack-hook"))
mail = notify.Email(on_phase=("failed", "timed_out"), recipients=["a@example.com"], smtp_user="u",
                    smtp_password=flyte.Secret("smtp-pw"))
@env.task(triggers=flyte.Trigger("every5", automation=flyte.FixedRate(5), inputs={"at": flyte.TriggerTime},
                                 notifications=[hook, mail]))
def job(at: datetime) -> str:
    return at.isoformat()
"""


def test_serialize_records_triggers_and_notifications_without_secret_values(tmp_path: Path) -> None:
    src = tmp_path / "trig_ser.py"
    src.write_text(TRIGGERED)
    out = tmp_path / "out"
    env_vars = {"SLACK_HOOK": "https://hooks.example.com/very-secret-token", "SMTP_PW": "pw-value-xyz"}
    import os

    p = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "serialize", str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, **env_vars},
    )
    assert p.returncode == 0, p.stderr
    text = "".join(f.read_text() for f in out.rglob("*.json"))
    assert "very-secret-token" not in text and "pw-value-xyz" not in text
    spec = next(json.loads(f.read_text()) for f in out.rglob("*.json") if "job" in f.name)
    trig = spec["triggers"][0]
    assert trig["automation"] == {"fixed_rate": {"interval_minutes": 5, "start_time": None}}
    assert trig["inputs"] == {"at": {"trigger_time": True}}
    kinds = [n["type"] for n in trig["notifications"]]
    assert kinds == ["slack", "email"]
    assert trig["notifications"][0]["webhook_url"] == {
        "secret": {"key": "slack-hook", "group": None, "env_var": "SLACK_HOOK"}
    }
    assert trig["notifications"][1]["on_phase"] == ["failed", "timed_out"]


ABORTABLE = """
import asyncio, sys
import flyte, flyte.notify as notify
env = flyte.TaskEnvironment("abortable")
@env.task
async def slow() -> int:
    print("STARTED", flush=True)
    await asyncio.sleep(60)
    return 1
if __name__ == "__main__":
    hooks = [notify.Webhook(on_phase=p, url=sys.argv[1] + "/" + p) for p in ("aborted", "failed")]
    flyte.with_runcontext(name="nab", notifications=hooks).run(slow)
"""


def test_a_run_stopped_with_ctrl_c_notifies_aborted(tmp_path: Path) -> None:
    import os
    import signal

    prog = tmp_path / "abortable.py"
    prog.write_text(ABORTABLE)
    with HttpReceiver() as rx:
        p = subprocess.Popen(
            [sys.executable, str(prog), rx.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert p.stdout is not None and p.stdout.readline().strip() == "STARTED"
            os.kill(p.pid, signal.SIGINT)
            p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [r["path"] for r in rx.requests] == ["/aborted"]
    assert rx.requests[0]["json"]["phase"] == "aborted" and rx.requests[0]["json"]["run"] == "nab"
    assert [r["status"] for r in deliveries("nab")] == ["QUEUED", "DELIVERED"]


def test_a_plain_text_credential_header_is_sent_but_never_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The anchor's examples put an API key in a header: it is sent, but neither recorded with the
    run nor serialised; a resend after a failure then says to use flyte.Secret."""
    from flyte._notify.deliver import redeliver_pending

    monkeypatch.setenv("FLYTE_NOTIFY_ATTEMPTS", "1")
    with HttpReceiver(fail_first=1) as rx:
        hook = notify.Webhook(
            on_phase="succeeded", url=rx.url, headers={"X-API-Key": "plain-key-42", "X-Env": "dev"}
        )
        assert hook.to_dict()["headers"] == {"X-API-Key": notify.REDACTED, "X-Env": "dev"}
        flyte.with_runcontext(name="nplain", notifications=hook).run(ok, x=1)
        assert redeliver_pending(_journal()) == 0
        flyte.with_runcontext(name="nplain2", notifications=hook).run(ok, x=2)
    assert [{k.lower(): v for k, v in r["headers"].items()}["x-api-key"] for r in rx.requests] == [
        "plain-key-42"
    ]
    rows = deliveries("nplain")
    assert [r["status"] for r in rows] == ["QUEUED", "FAILED", "SKIPPED"] and "flyte.Secret" in rows[-1][
        "error"
    ]
    assert b"plain-key-42" not in journal_bytes()
