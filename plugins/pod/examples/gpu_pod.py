"""A GPU training step in a pod with a sidecar, next to a plain Python task.

    # the manifest a cluster would get: build/train_env.train_step.pod.yaml
    flyte serialize plugins/pod/examples/gpu_pod.py --out build/

    # run it here as real pods (podman; no GPU here, so opt into CPU, and use local images)
    FLYTE_GPU_FALLBACK=cpu FLYTE_POD_LOCAL_IMAGE=localhost/flyte-python:test \
    SIDECAR_IMAGE=localhost/flyte-busybox:test python plugins/pod/examples/gpu_pod.py
"""

from __future__ import annotations

import os

import flyte
from flyteplugins.pod import Pod

SIDECAR_IMAGE = os.environ.get("SIDECAR_IMAGE", "docker.io/library/busybox:1.36")

train_env = flyte.TaskEnvironment(
    name="train_env",
    image="ghcr.io/example/trainer:1.0",
    # requests 2 CPUs, may burst to 4; one L4 GPU (node selector + toleration); 2Gi of /dev/shm for
    # data-loader workers; 20Gi of ephemeral disk for checkpoints.
    resources=flyte.Resources(cpu=(2, 4), memory=("4Gi", "8Gi"), gpu="L4:1", shm="2Gi", disk="20Gi"),
    env_vars={"TOKENIZERS_PARALLELISM": "false"},
    plugin_config=Pod(
        pod_spec={
            "containers": [
                {"name": "primary", "volumeMounts": [{"name": "metrics", "mountPath": "/metrics"}]},
                {  # a sidecar that would ship metrics; here it just keeps the latest line
                    "name": "metrics",
                    "image": SIDECAR_IMAGE,
                    "command": ["sh", "-c", "touch /metrics/loss; exec tail -f /metrics/loss"],
                    "volumeMounts": [{"name": "metrics", "mountPath": "/metrics"}],
                },
            ],
            "volumes": [{"name": "metrics", "emptyDir": {}}],
        },
        labels={"team": "ml"},
        annotations={"example.com/owner": "ml-platform"},
    ),
)
driver = flyte.TaskEnvironment(name="driver")


@train_env.task
async def train_step(epochs: int, lr: float) -> float:
    """Pretend to train: the loss goes down each epoch; progress goes to the sidecar's volume."""
    loss = 1.0
    for epoch in range(epochs):
        loss *= 1 - lr
        with open("/metrics/loss", "a") as f:
            f.write(f"epoch={epoch} loss={loss:.4f}\n")
    return round(loss, 4)


@driver.task
async def sweep(epochs: int) -> dict[str, float]:
    """Two learning rates, each in its own pod."""
    return {str(lr): await train_step(epochs, lr) for lr in (0.1, 0.3)}


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(sweep, epochs=3)
    print(run.name, run.outputs()[0])
