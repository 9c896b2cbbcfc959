# covers: ctx().checkpoint, Checkpoint.save_sync/load_sync, retries resuming from a checkpoint
# expect-source: anchor
# expect-exit: 0
# expect: {"out": [3, 6]}
"""A task checkpoints its progress; after a simulated crash the retry resumes from it."""

import json
import os
import tempfile

import flyte

env = flyte.TaskEnvironment(name="checkpoints")
MARK = os.path.join(tempfile.gettempdir(), "crashed-once")


@env.task(retries=2)
def count_to(n: int) -> list[int]:
    cp = flyte.ctx().checkpoint
    prev = cp.load_sync()
    start = int(prev.read_bytes().decode()) if prev is not None else 0
    for i in range(start, n):
        if i == 3 and not os.path.exists(MARK):
            open(MARK, "w").close()
            raise RuntimeError("simulated crash")
        cp.save_sync(str(i + 1).encode())
    return [start, n]


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"out": flyte.run(count_to, n=6).outputs()[0]}))
