# covers: File.from_local (outside a run), File as a run input, File.download (async), File.path
# expect-source: anchor
# expect-exit: 0
# expect: {"size": 1234}
# expect: {"is_file": true, "size_sync": 1234}
"""A File made from a local path before the run is passed as an input and downloaded inside."""

import asyncio
import json
import os
import tempfile

import flyte
from flyte.io import File

env = flyte.TaskEnvironment(name="file_input")


@env.task
async def size_of(f: File) -> int:
    local = await f.download()
    return os.path.getsize(local)


if __name__ == "__main__":
    flyte.init()
    fd, path = tempfile.mkstemp()
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"x" * 1234)
    f = asyncio.run(File.from_local(path))
    print("RESULT " + json.dumps({"size": flyte.run(size_of, f=f).outputs()[0]}))
    f2 = File.from_local_sync(path)
    out = flyte.run(size_of, f=f2).outputs()[0]
    print("RESULT " + json.dumps({"size_sync": out, "is_file": isinstance(f2, File)}))
