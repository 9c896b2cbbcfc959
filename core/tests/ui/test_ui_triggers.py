"""`flyte ui` shows, with a run, the trigger occurrence that started it and its notification
deliveries (each attempt), never a secret's value."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the 'ui' extra: pip install 'flyte-core[ui]'")

import flyte
import flyte.notify as notify
from flyte._config import get_settings
from flyte._runtime.journal import open_journal
from flyte._triggers.scheduler import Scheduler
from local_receivers import HttpReceiver
from ui_support import start_server

env = flyte.TaskEnvironment("ui_trig")
T0 = datetime(2031, 5, 1, 8, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


@env.task
def report(at: datetime) -> str:
    return at.isoformat()


def test_run_page_shows_trigger_and_deliveries(
    tmp_path: Path, flyte_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTE_NOTIFY_BACKOFF_S", "0.01")
    with HttpReceiver(fail_first=1) as rx:
        monkeypatch.setenv("UI_HOOK", rx.url + "/services/secret-path-123")
        trig = flyte.Trigger(
            "hourly-report",
            automation=flyte.Cron("0 * * * *"),
            inputs={"at": flyte.TriggerTime},
            notifications=notify.Slack(on_phase="succeeded", webhook_url=flyte.Secret("ui-hook")),
        )
        clock = Clock(T0 + 30)
        sched = Scheduler(open_journal(get_settings().journal_path), [(report, trig)], clock=clock)
        clock.t = T0 + 3600
        (fire,) = sched.tick()
    assert len(rx.requests) == 1
    plain = flyte.run(report, at=datetime(2031, 1, 1, tzinfo=UTC))

    server = start_server(flyte_home / "journal.db", tmp_path)
    try:
        status, _, body = server.request(f"/runs/{fire.run}")
        html = body.decode()
        assert status == 200
        assert "ui_trig.report/hourly-report" in html and "cron 0 * * * * (UTC)" in html
        assert 'id="notifications"' in html
        assert html.count("DELIVERED") == 1 and html.count("FAILED") == 1 and "HTTP 503" in html
        assert "secret:ui-hook" in html and "secret-path-123" not in html
        _, _, body = server.request(f"/runs/{plain.name}")
        other = body.decode()
        assert 'id="run-trigger"' not in other and 'id="notifications"' not in other
    finally:
        server.stop()
