# covers: dataclass inputs and outputs, nested dataclasses, list of dataclasses
# expect-source: anchor
# expect-exit: 0
# expect: {"type": "Shape", "value": {"name": "poly3+", "points": [{"x": 10, "y": 0}, {"x": 11, "y": 1}, {"x": 12, "y": 4}]}}
"""Dataclasses travel between tasks and come back out of the run as dataclasses."""

import json
from dataclasses import asdict, dataclass, field

import flyte

env = flyte.TaskEnvironment(name="dataclasses")


@dataclass
class Point:
    x: int
    y: int


@dataclass
class Shape:
    name: str
    points: list[Point] = field(default_factory=list)


@env.task
async def make(n: int) -> Shape:
    return Shape(name=f"poly{n}", points=[Point(i, i * i) for i in range(n)])


@env.task
async def shift(s: Shape, dx: int) -> Shape:
    return Shape(name=s.name + "+", points=[Point(p.x + dx, p.y) for p in s.points])


@env.task
async def main(n: int) -> Shape:
    return await shift(await make(n), 10)


if __name__ == "__main__":
    flyte.init()
    out = flyte.run(main, n=3).outputs()[0]
    print("RESULT " + json.dumps({"type": type(out).__name__, "value": asdict(out)}))
