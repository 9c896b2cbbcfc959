# covers: io.Dir, Dir.from_local, Dir.walk, Dir.list_files, Dir.exists, File.name, File.open
# expect-source: anchor
# expect-exit: 0
# expect: {"contents": {"a.txt": "A", "b.txt": "BB", "c.txt": "CCC"}, "exists": true, "top": ["a.txt", "b.txt", "c.txt"]}
"""A task uploads a local folder as a Dir; another walks it and reads every file."""

import json
import os
import tempfile

import flyte
from flyte.io import Dir

env = flyte.TaskEnvironment(name="dir_walk")


@env.task
async def build() -> Dir:
    root = tempfile.mkdtemp()
    os.makedirs(os.path.join(root, "sub"))
    for rel, text in {"a.txt": "A", "b.txt": "BB", "sub/c.txt": "CCC"}.items():
        with open(os.path.join(root, rel), "w") as fh:
            fh.write(text)
    return await Dir.from_local(root)


@env.task
async def inspect(d: Dir) -> dict[str, object]:
    contents = {}
    async for f in d.walk(recursive=True):
        async with f.open("rb") as fh:
            contents[f.name] = bytes(await fh.read()).decode()
    top = sorted(f.name for f in await d.list_files())
    return {"contents": contents, "top": top, "exists": await d.exists()}


@env.task
async def main() -> dict[str, object]:
    return await inspect(await build())


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps(flyte.run(main).outputs()[0], sort_keys=True))
