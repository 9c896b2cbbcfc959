# covers: tuple outputs, Run.outputs() unpacking, single output unwrap
# expect-source: anchor
# expect-exit: 0
# expect: {"alpha": true, "length": 3, "upper": "ABC"}
# expect: {"len": 1, "single": ["x", "y"]}
"""Tuple outputs unpack like the returned tuple; a single output is `outputs()[0]`."""

import json

import flyte

env = flyte.TaskEnvironment(name="tuple_outputs")


@env.task
async def split(text: str) -> tuple[str, int, bool]:
    return text.upper(), len(text), text.isalpha()


@env.task
async def single(text: str) -> list[str]:
    return list(text)


if __name__ == "__main__":
    flyte.init()
    upper, length, alpha = flyte.run(split, text="abc").outputs()
    print("RESULT " + json.dumps({"upper": upper, "length": length, "alpha": alpha}))
    out = flyte.run(single, text="xy").outputs()
    print("RESULT " + json.dumps({"single": out[0], "len": len(out)}))
