# covers: Trigger, Cron, FixedRate, TriggerTime, Trigger.hourly, Trigger.minutely, task triggers run locally
# expect-source: anchor
# expect-exit: 0
# expect: {"cron": "0 2 * * *", "names": ["nightly", "every-ten"]}
# expect: {"out": "adhoc@2024-05-06T07:08:00+00:00"}
# expect: {"minute": 9}
"""Schedules declared on tasks; a scheduled task still runs when called directly with its time."""

import json
from datetime import UTC, datetime, timedelta

import flyte

env = flyte.TaskEnvironment(name="triggers")

nightly = flyte.Trigger(
    "nightly",
    flyte.Cron("0 2 * * *", timezone="Europe/Berlin"),
    inputs={"when": flyte.TriggerTime, "label": "nightly"},
)
every_ten = flyte.Trigger("every-ten", flyte.FixedRate(10), inputs={"when": flyte.TriggerTime})


@env.task(triggers=(nightly, every_ten, flyte.Trigger.hourly("when")))
def report(when: datetime, label: str = "adhoc") -> str:
    return f"{label}@{when.isoformat()}"


@env.task(triggers=flyte.Trigger.minutely("when"))
def ping(when: datetime) -> int:
    return when.minute


if __name__ == "__main__":
    flyte.init()
    t = datetime(2024, 5, 6, 7, 8, tzinfo=UTC)
    print(
        "RESULT "
        + json.dumps({"names": [nightly.name, every_ten.name], "cron": nightly.automation.expression})
    )
    print("RESULT " + json.dumps({"out": flyte.run(report, when=t).outputs()[0]}))
    print("RESULT " + json.dumps({"minute": flyte.run(ping, when=t + timedelta(minutes=1)).outputs()[0]}))
