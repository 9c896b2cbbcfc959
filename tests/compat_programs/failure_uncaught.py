# covers: failing task, run raises, non-zero exit of the script
# expect-source: anchor
# expect-exit: nonzero
"""A task that raises: flyte.run raises too, and the uncaught error fails the script."""

import flyte

env = flyte.TaskEnvironment(name="fails")


@env.task
async def explode(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


if __name__ == "__main__":
    flyte.init()
    flyte.run(explode, x=3)
    print('RESULT {"unreachable": true}')
