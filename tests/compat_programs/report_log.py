# covers: task(report=True), flyte.report.log, flyte.report.flush, flyte.report.get_tab
# expect-source: anchor
# expect-exit: 0
# expect: {"out": 15}
"""A task with a report logs HTML to it; locally the task result is unaffected."""

import json

import flyte
import flyte.report

env = flyte.TaskEnvironment(name="reports")


@env.task(report=True)
async def summarize(values: list[int]) -> int:
    total = sum(values)
    await flyte.report.log.aio(f"<h2>Total</h2><p>{total}</p>")
    flyte.report.get_tab("details").log(f"<p>{len(values)} values</p>")
    await flyte.report.flush.aio()
    return total


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"out": flyte.run(summarize, values=[4, 5, 6]).outputs()[0]}))
