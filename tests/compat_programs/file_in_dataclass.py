# covers: io.File inside a dataclass, io.Dir as a run input, File.from_existing_remote, Dir.from_local_sync outside a run
# expect-source: anchor
# expect-exit: 0
# expect: {"out": "2 files: alpha"}
"""Files nested in a dataclass, and a Dir uploaded before the run and passed in."""

import json
import os
import tempfile
from dataclasses import dataclass

import flyte
from flyte.io import Dir, File

env = flyte.TaskEnvironment(name="nested_files")


@dataclass
class Bundle:
    label: str
    doc: File


@env.task
async def pack(d: Dir) -> Bundle:
    files = sorted(await d.list_files(), key=lambda f: f.name)
    return Bundle(label=f"{len(files)} files", doc=files[0])


@env.task
async def unpack(b: Bundle) -> str:
    again = File.from_existing_remote(b.doc.path)
    async with again.open("rb") as fh:
        return b.label + ": " + bytes(await fh.read()).decode()


@env.task
async def main(d: Dir) -> str:
    return await unpack(await pack(d))


if __name__ == "__main__":
    flyte.init()
    root = tempfile.mkdtemp()
    for name, text in {"a.txt": "alpha", "b.txt": "beta"}.items():
        with open(os.path.join(root, name), "w") as fh:
            fh.write(text)
    d = Dir.from_local_sync(root)
    print("RESULT " + json.dumps({"out": flyte.run(main, d=d).outputs()[0]}))
