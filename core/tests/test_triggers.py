"""The local trigger scheduler with an injected clock: fire times, the TriggerTime input, catch-up
policies after a downtime, and an occurrence journaled by a process that died before its run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import flyte
import pytest
from flyte._config import get_settings
from flyte._runtime.journal import open_journal
from flyte._triggers.scheduler import Scheduler, run_name_for, scheduled_triggers
from flyte.errors import InvalidParameterError

env = flyte.TaskEnvironment("trig_env")
SEEN: list[tuple[str, datetime, int]] = []

every_minute = flyte.Trigger(
    "every-minute", automation=flyte.FixedRate(1), inputs={"at": flyte.TriggerTime, "n": 7}
)
every_5 = flyte.Trigger("five", automation=flyte.Cron("*/5 * * * *"), inputs={"at": flyte.TriggerTime})
on_demand = flyte.Trigger("manual")  # no automation: not scheduled


@env.task(triggers=[every_minute, on_demand])
def tick(at: datetime, n: int = 0) -> str:
    SEEN.append(("tick", at, n))
    return at.isoformat()


@env.task(triggers=every_5)
def five(at: datetime) -> str:
    SEEN.append(("five", at, 0))
    return at.isoformat()


T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _reset() -> None:
    SEEN.clear()


def journal():  # type: ignore[no-untyped-def]
    return open_journal(get_settings().journal_path)


def scheduler(clock: FakeClock, catch_up: str = "all", only: str | None = "tick", **kw):  # type: ignore[no-untyped-def]
    import sys

    found = scheduled_triggers(sys.modules[__name__])
    if only is not None:
        found = [(t, tr) for t, tr in found if t.name.endswith(only)]
    return Scheduler(journal(), found, clock=clock, catch_up=catch_up, **kw)


def times(kind: str = "tick") -> list[float]:
    return [at.timestamp() for k, at, _ in SEEN if k == kind]


def test_only_scheduled_triggers_are_served() -> None:
    import sys

    found = scheduled_triggers(sys.modules[__name__])
    assert sorted((t.name, tr.name) for t, tr in found) == [
        ("trig_env.five", "five"),
        ("trig_env.tick", "every-minute"),
    ]


def test_fixed_rate_fires_each_interval_with_trigger_time() -> None:
    clock = FakeClock(T0)
    s = scheduler(clock)
    assert s.tick() == []
    clock.t = T0 + 59
    assert s.tick() == []
    clock.t = T0 + 60
    fired = s.tick()
    assert [f.scheduled_at for f in fired] == [T0 + 60]
    clock.t = T0 + 61
    assert s.tick() == []  # the same occurrence never fires twice
    clock.t = T0 + 125
    assert [f.scheduled_at for f in s.tick()] == [T0 + 120]
    assert times() == [T0 + 60, T0 + 120]
    assert [n for _, _, n in SEEN] == [7, 7]  # the trigger's fixed inputs
    fires = journal().trigger_fires("trig_env.tick/every-minute")
    assert [(f["scheduled_at"], f["status"], f["run_status"]) for f in fires] == [
        (T0 + 120, "STARTED", "SUCCEEDED"),
        (T0 + 60, "STARTED", "SUCCEEDED"),
    ]
    assert fires[0]["run"] == run_name_for("trig_env.tick/every-minute", "every-minute", T0 + 120)
    assert s.next_fires() == {"trig_env.tick/every-minute": T0 + 180}


def test_cron_fires_on_clock_times() -> None:
    clock = FakeClock(T0 + 61)  # 12:01:01
    s = scheduler(clock, only="five")
    clock.t = T0 + 299
    assert s.tick() == []
    clock.t = T0 + 300
    assert [f.scheduled_at for f in s.tick()] == [T0 + 300]
    assert times("five") == [T0 + 300]


@pytest.mark.parametrize(
    ("policy", "fired", "skipped"),
    [("all", [2, 3, 4, 5, 6], []), ("latest", [6], [2, 3, 4, 5]), ("none", [], [2, 3, 4, 5, 6])],
)
def test_catch_up_after_downtime(policy: str, fired: list[int], skipped: list[int]) -> None:
    clock = FakeClock(T0)
    first = scheduler(clock, catch_up=policy)
    clock.t = T0 + 60
    first.tick()
    # the scheduler is gone for five minutes; a new one starts (same journal)
    clock.t = T0 + 6 * 60 + 10
    second = scheduler(clock, catch_up=policy)
    assert second.missed() == {"trig_env.tick/every-minute": 5}
    started = second.tick()
    assert [f.scheduled_at for f in started] == [T0 + 60 * k for k in fired]
    assert times() == [T0 + 60] + [T0 + 60 * k for k in fired]
    fires = journal().trigger_fires("trig_env.tick/every-minute")
    assert sorted(f["scheduled_at"] for f in fires if f["status"] == "SKIPPED") == [
        T0 + 60 * k for k in skipped
    ]
    # afterwards it fires on time again, whatever the policy
    clock.t = T0 + 7 * 60
    assert [f.scheduled_at for f in second.tick()] == [T0 + 7 * 60]
    # the grid kept its origin (the first activation) across the restart
    assert second.served[0].activated_at == T0


def test_occurrence_journaled_before_a_crash_starts_once_at_restart() -> None:
    clock = FakeClock(T0)
    crashed = scheduler(clock, start=lambda f: None)  # the process died before starting the run
    clock.t = T0 + 60
    assert len(crashed.tick()) == 1
    assert SEEN == []
    restarted = scheduler(clock)
    assert [f.scheduled_at for f in restarted.tick()] == [T0 + 60]
    again = scheduler(clock)
    assert again.tick() == []
    assert times() == [T0 + 60]
    fires = journal().trigger_fires("trig_env.tick/every-minute")
    assert [(f["status"], f["run_status"]) for f in fires] == [("STARTED", "SUCCEEDED")]


def test_an_unbound_required_input_is_named_when_serving() -> None:
    @env.task
    def needs(at: datetime, region: str) -> str:
        return region

    trig = flyte.Trigger("t", automation=flyte.FixedRate(5), inputs={"at": flyte.TriggerTime})
    with pytest.raises(InvalidParameterError, match=r"inputs.*\['region'\] have no default"):
        Scheduler(journal(), [(needs, trig)], clock=FakeClock(T0))


def test_bad_catch_up_and_bad_cron_are_named() -> None:
    with pytest.raises(InvalidParameterError, match="catch_up"):
        scheduler(FakeClock(T0), catch_up="some")
    with pytest.raises(InvalidParameterError, match=r"expression.*minute field.*61"):
        flyte.Cron("61 * * * *")


def test_triggers_list_shows_next_fire_and_past_fires_with_runs() -> None:
    from click.testing import CliRunner
    from flyte.cli.main import cli

    clock = FakeClock(T0)
    s = scheduler(clock)
    clock.t = T0 + 60
    (fire,) = s.tick()
    res = CliRunner().invoke(cli, ["triggers", "list", "--json"])
    assert res.exit_code == 0, res.output
    (listed,) = json.loads(res.output)
    assert listed["key"] == "trig_env.tick/every-minute" and listed["activated_at"] == T0
    assert [(f["run"], f["status"], f["run_status"]) for f in listed["fires"]] == [
        (fire.run, "STARTED", "SUCCEEDED")
    ]
    assert listed["next_fire"] > T0 + 60 and (listed["next_fire"] - T0) % 60 == 0
    res = CliRunner().invoke(cli, ["triggers", "list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and fire.run in res.output and "SUCCEEDED" in res.output
    assert "next fire:" in res.output
    res = CliRunner().invoke(cli, ["runs", "show", fire.run])
    assert (
        "started by trigger trig_env.tick/every-minute (occurrence 2030-01-01T12:01:00+00:00)" in res.output
    )


def test_triggers_list_of_a_file_shows_triggers_not_served_yet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from flyte.cli.main import cli

    src = tmp_path / "declared.py"
    src.write_text(
        "import flyte\n"
        "env = flyte.TaskEnvironment('decl')\n"
        "@env.task(triggers=flyte.Trigger('nightly', automation=flyte.Cron('0 2 * * *')))\n"
        "def nightly() -> None:\n"
        "    pass\n"
    )
    res = CliRunner().invoke(cli, ["triggers", "list", str(src), "--json"])
    assert res.exit_code == 0, res.output
    (listed,) = json.loads(res.output)
    assert (
        listed["key"] == "decl.nightly/nightly" and listed["activated_at"] is None and listed["fires"] == []
    )
    nxt = datetime.fromtimestamp(listed["next_fire"], UTC)
    assert (nxt.hour, nxt.minute, nxt.second) == (2, 0, 0)
    assert 0 < listed["next_fire"] - datetime.now(UTC).timestamp() <= 24 * 3600


def test_the_example_declares_a_served_trigger() -> None:
    from pathlib import Path

    from click.testing import CliRunner
    from flyte.cli.main import cli

    example = Path(__file__).parents[1] / "examples" / "scheduled_report.py"
    res = CliRunner().invoke(cli, ["triggers", "list", str(example), "--json"])
    assert res.exit_code == 0, res.output
    (listed,) = json.loads(res.output)
    assert listed["key"] == "reports.report/every-5-min"
    assert datetime.fromtimestamp(listed["next_fire"], UTC).minute % 5 == 0


@pytest.mark.parametrize(("policy", "fired"), [("all", [2, 3, 4, 5]), ("latest", [5]), ("none", [5])])
def test_a_stalled_scheduler_fires_the_newest_and_applies_the_policy_to_older(
    policy: str, fired: list[int]
) -> None:
    """Occurrences that came due while this process was stalled (e.g. a laptop asleep) are missed
    ones too; the newest is on time."""
    clock = FakeClock(T0)
    s = scheduler(clock, catch_up=policy)
    s.tick()
    clock.t = T0 + 60
    s.tick()
    clock.t = T0 + 5 * 60 + 5
    assert [f.scheduled_at for f in s.tick()] == [T0 + 60 * k for k in fired]
