# covers: version, __version__, logger, system_logger, Environment, TaskTemplate, AsyncFunctionTaskTemplate
# expect-source: anchor
# expect-exit: 0
# expect: {"same": true, "version_is_str": true}
# expect: {"logger": true, "system_logger": true}
# expect: {"env_is_environment": true, "task_is_async_template": true, "task_is_template": true}
# expect: {"out": 9}
"""Package-level helpers: version strings, the user logger, and the task/environment base types."""

import json
import logging

import flyte

env = flyte.TaskEnvironment(name="meta")


@env.task
async def logged(x: int) -> int:
    flyte.logger.info("processing %d", x)
    return x


if __name__ == "__main__":
    flyte.init()
    print(
        "RESULT "
        + json.dumps(
            {"version_is_str": isinstance(flyte.version(), str), "same": flyte.version() == flyte.__version__}
        )
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "logger": isinstance(flyte.logger, logging.Logger),
                "system_logger": isinstance(flyte.system_logger, logging.Logger),
            }
        )
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "env_is_environment": isinstance(env, flyte.Environment),
                "task_is_template": isinstance(logged, flyte.TaskTemplate),
                "task_is_async_template": isinstance(logged, flyte.AsyncFunctionTaskTemplate),
            }
        )
    )
    print("RESULT " + json.dumps({"out": flyte.run(logged, x=9).outputs()[0]}))
