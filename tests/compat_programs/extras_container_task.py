# covers: extras.ContainerTask (definition), TaskEnvironment.from_task
# expect-source: anchor
# expect-exit: 0
# expect: {"env": "container_env", "name": "greeter"}
# expect: {"is_template": true}
"""A raw-container task is declared with typed inputs/outputs (running it needs a container engine)."""

import json

import flyte
from flyte.extras import ContainerTask

greeter = ContainerTask(
    name="greeter",
    image="alpine:3.19",
    command=["sh", "-c", "echo hello {{.inputs.who}} > /var/outputs/msg"],
    inputs={"who": str},
    outputs={"msg": str},
)
env = flyte.TaskEnvironment.from_task("container_env", greeter)

if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"name": greeter.name, "env": env.name}))
    print("RESULT " + json.dumps({"is_template": isinstance(greeter, flyte.TaskTemplate)}))
