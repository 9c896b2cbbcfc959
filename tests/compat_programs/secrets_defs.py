# covers: Secret, TaskEnvironment(secrets=...), task.override(secrets=...)
# expect-source: anchor
# expect-exit: 0
# expect: {"env_var": "API_KEY", "group": "db", "key": "api-key"}
# expect: {"out": 4}
"""Secrets declared on an environment and a task; fields keep what the user gave."""

import json

import flyte

api = flyte.Secret(key="api-key", as_env_var="API_KEY")
grouped = flyte.Secret(group="db", key="password")
env = flyte.TaskEnvironment(name="secrets", secrets=[api, "plain-secret"])


@env.task
async def uses_secret(x: int) -> int:
    return x


@env.task
async def parent(x: int) -> int:
    return await uses_secret.override(secrets=grouped)(x)


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"key": api.key, "env_var": api.as_env_var, "group": grouped.group}))
    print("RESULT " + json.dumps({"out": flyte.run(parent, x=4).outputs()[0]}))
