"""Container tasks next to Python tasks: count words with a busybox command, check a Python task in its
image, and summarise on this machine.

    .ci/setup-podman.sh && .ci/build-test-images.sh      # podman, and the two local images
    python plugins/container/examples/container_example.py
    flyte run --isolation container plugins/container/examples/container_example.py main --n 3

``isolation="container"`` runs the tasks of ``image_env`` (an environment with an image) inside that
image; ``host_env`` has no image, so ``main`` stays here and fans out.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import flyte
from flyte.io import File
from flyteplugins.container import ContainerTask

BUSYBOX = os.environ.get("EXAMPLE_BUSYBOX_IMAGE", "localhost/flyte-busybox:test")
PYTHON = os.environ.get("EXAMPLE_PYTHON_IMAGE", "localhost/flyte-python:test")

# A command in an image, typed like any task: inputs arrive as files under /var/inputs (File inputs
# mounted read-only), outputs are read back from /var/outputs/<name>.
word_count = ContainerTask(
    name="example.word_count",
    image=BUSYBOX,
    command=["sh", "-c"],
    arguments=[
        "wc -w < {{.inputs.text}} | tr -d ' ' > /var/outputs/words; "
        "sort -u {{.inputs.text}} | head -n {{.inputs.top}} > /var/outputs/unique; "
        "echo counted {{.inputs.top}}"
    ],
    inputs={"text": File, "top": int},
    outputs={"words": int, "unique": File},
    resources=flyte.Resources(cpu=1, memory="64Mi"),
)

host_env = flyte.TaskEnvironment(name="example_host")
image_env = flyte.TaskEnvironment(name="example_image", image=PYTHON)


@image_env.task
def score(words: int, n: int) -> float:
    """Runs inside the Python image with isolation='container' (here otherwise)."""
    import math

    return round(math.log2(words + 1) * n, 3)


@host_env.task
async def make_text(n: int) -> File:
    path = Path(tempfile.mkdtemp(prefix="flyte-example-")) / "example-text.txt"  # not the cwd
    path.write_text("".join(f"word{i % 5} other{i}\n" for i in range(n * 10)))
    return await File.from_local(path)


@host_env.task
async def main(n: int = 3) -> dict[str, object]:
    text = await make_text(n)
    counted = await word_count(text=text, top=n)
    async with counted.unique.open("rb") as f:
        unique = (await f.read()).decode().splitlines()
    return {"words": counted.words, "unique": unique, "score": await score.aio(counted.words, n)}


if __name__ == "__main__":
    flyte.init_from_config()
    run = flyte.with_runcontext(isolation="container").run(main, n=3)
    print(run.name, run.outputs()[0])
