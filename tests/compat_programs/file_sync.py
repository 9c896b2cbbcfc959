# covers: io.File, File.from_local_sync, File.open_sync, File.download_sync, File.exists_sync, sync tasks with files
# expect-source: anchor
# expect-exit: 0
# expect: {"content": "a\nb\nc", "exists": true, "lines": 3}
"""Sync tasks upload a local file, read it with open_sync and download it to a chosen path."""

import json
import os
import tempfile

import flyte
from flyte.io import File

env = flyte.TaskEnvironment(name="file_sync")


@env.task
def make(lines: list[str]) -> File:
    fd, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines))
    return File.from_local_sync(path)


@env.task
def count_lines(f: File) -> int:
    with f.open_sync("rb") as fh:
        return len(fh.read().decode().splitlines())


@env.task
def fetch(f: File) -> str:
    target = os.path.join(tempfile.mkdtemp(), "copy.txt")
    local = f.download_sync(target)
    with open(local) as fh:
        return fh.read()


@env.task
def main(lines: list[str]) -> dict[str, object]:
    f = make(lines)
    return {"lines": count_lines(f), "content": fetch(f), "exists": f.exists_sync()}


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps(flyte.run(main, lines=["a", "b", "c"]).outputs()[0], sort_keys=True))
