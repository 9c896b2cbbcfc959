# covers: NamedTuple outputs, Run.outputs() indexing/attributes, len(outputs)
# expect-source: anchor
# expect-exit: 0
# expect: {"index": [6, "3 values"], "len": 2, "o": [6, "3 values"]}
# expect: {"unpacked": [6, "3 values"]}
"""A task returning a NamedTuple: outputs are reachable by index, by o<i> and by field name."""

import json
from typing import NamedTuple

import flyte

env = flyte.TaskEnvironment(name="named_outputs")


class Stats(NamedTuple):
    total: int
    label: str


@env.task
async def summarize(values: list[int]) -> Stats:
    return Stats(total=sum(values), label=f"{len(values)} values")


if __name__ == "__main__":
    flyte.init()
    out = flyte.run(summarize, values=[1, 2, 3]).outputs()
    print("RESULT " + json.dumps({"index": [out[0], out[1]], "o": [out.o0, out.o1], "len": len(out)}))
    first, second = out
    print("RESULT " + json.dumps({"unpacked": [first, second]}))
