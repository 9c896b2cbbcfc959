# covers: io.Dir, Dir.from_local_sync, Dir.walk_sync, Dir.download_sync, Dir.exists_sync
# expect-source: anchor
# expect-exit: 0
# expect: {"download": ["f0.txt", "f1.txt", "f2.txt"], "exists": true, "walk": ["f0.txt", "f1.txt", "f2.txt"]}
"""Sync tasks: upload a folder, walk it, and download it to a local folder."""

import json
import os
import tempfile

import flyte
from flyte.io import Dir

env = flyte.TaskEnvironment(name="dir_sync")


@env.task
def build(n: int) -> Dir:
    root = tempfile.mkdtemp()
    for i in range(n):
        with open(os.path.join(root, f"f{i}.txt"), "w") as fh:
            fh.write(str(i))
    return Dir.from_local_sync(root)


@env.task
def names(d: Dir) -> list[str]:
    return sorted(f.name for f in d.walk_sync())


@env.task
def download(d: Dir) -> list[str]:
    local = d.download_sync(os.path.join(tempfile.mkdtemp(), "copy"))
    return sorted(os.listdir(local))


@env.task
def main(n: int) -> dict[str, object]:
    d = build(n)
    return {"walk": names(d), "download": download(d), "exists": d.exists_sync()}


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps(flyte.run(main, n=3).outputs()[0], sort_keys=True))
