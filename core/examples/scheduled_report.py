"""Demo: a task on a schedule, with a message when it fails or succeeds.

flyte triggers list core/examples/scheduled_report.py     # what it declares, next fire times
export REPORT_WEBHOOK=https://hooks.slack.com/services/...  # read when sending, never recorded
flyte triggers serve core/examples/scheduled_report.py    # fires every 5 minutes until Ctrl+C
flyte triggers list                                       # past fires and their runs
flyte runs show <run name>                                # the run, its trigger, its deliveries
"""

from datetime import datetime

import flyte
import flyte.notify as notify
from flyte.models import ActionPhase

env = flyte.TaskEnvironment(name="reports")

slack = notify.Slack(
    on_phase=(ActionPhase.SUCCEEDED, ActionPhase.FAILED),
    webhook_url=flyte.Secret("report-webhook"),  # the environment variable REPORT_WEBHOOK
    message="report {{.Run.Name}}: {{.Phase}} {{.Error}}",
)


@env.task(
    triggers=flyte.Trigger(
        "every-5-min",
        automation=flyte.Cron("*/5 * * * *"),
        inputs={"at": flyte.TriggerTime, "source": "sales"},
        notifications=slack,
    )
)
def report(at: datetime, source: str = "sales") -> str:
    return f"{source} report for {at:%Y-%m-%d %H:%M}"


if __name__ == "__main__":
    print(flyte.run(report, at=datetime.now()).outputs()[0])
