# covers: int/float/str/bool/bytes-free scalars, Optional, dict, nested list, Enum, datetime, timedelta, defaults
# expect-source: anchor
# expect-exit: 0
# expect: {"default": "dflt", "dict": {"k": [1, 2]}, "scalars": [2, 2.5, "s!", false, null]}
# expect: {"color": "green", "is_enum": true}
# expect: {"span_s": 180.0, "when": "2024-01-02T03:05:35+00:00"}
"""Common input/output types and defaults round-trip through a run."""

import enum
import json
from datetime import UTC, datetime, timedelta

import flyte

env = flyte.TaskEnvironment(name="types")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@env.task
async def echo(
    i: int,
    f: float,
    s: str,
    b: bool,
    opt: int | None,
    d: dict[str, list[int]],
    color: Color,
    when: datetime,
    span: timedelta,
    default: str = "dflt",
) -> tuple[int, float, str, bool, int | None, dict[str, list[int]], Color, datetime, timedelta, str]:
    return i + 1, f * 2, s + "!", not b, opt, d, color, when + span, span * 2, default


if __name__ == "__main__":
    flyte.init()
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    out = flyte.run(
        echo,
        i=1,
        f=1.25,
        s="s",
        b=True,
        opt=None,
        d={"k": [1, 2]},
        color=Color.GREEN,
        when=when,
        span=timedelta(seconds=90),
    ).outputs()
    i, f, s, b, opt, d, color, w, span, default = out
    print("RESULT " + json.dumps({"scalars": [i, f, s, b, opt], "dict": d, "default": default}))
    print("RESULT " + json.dumps({"color": color.value, "is_enum": isinstance(color, Color)}))
    print("RESULT " + json.dumps({"when": w.isoformat(), "span_s": span.total_seconds()}))
