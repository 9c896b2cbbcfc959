# covers: io.File, File.new_remote, File.open (async write/read), File.exists, File.name, passing File between tasks
# expect-source: anchor
# expect-exit: 0
# expect: {"exists": true, "name": "note.txt", "text": "hello file"}
"""A task writes a File through async open; another task reads it back."""

import json

import flyte
from flyte.io import File

env = flyte.TaskEnvironment(name="file_async")


@env.task
async def write(text: str) -> File:
    f = File.new_remote(file_name="note.txt")
    async with f.open("wb") as fh:
        await fh.write(text.encode())
    return f


@env.task
async def read(f: File) -> str:
    async with f.open("rb") as fh:
        data = bytes(await fh.read())
    return data.decode()


@env.task
async def main(text: str) -> dict[str, object]:
    f = await write(text)
    return {"text": await read(f), "exists": await f.exists(), "name": f.name}


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps(flyte.run(main, text="hello file").outputs()[0], sort_keys=True))
