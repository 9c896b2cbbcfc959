"""Tasks whose specs are checked against golden files (test_spec.py)."""

from datetime import timedelta

import flyte

env = flyte.TaskEnvironment(
    name="golden",
    image=flyte.Image.from_debian_base(python_version=(3, 11)).with_pip_packages("numpy==2.1.0"),
    resources=flyte.Resources(cpu=(1, 2), memory=("1Gi", "2Gi"), gpu="A100:2", disk="10Gi", shm="1Gi"),
    env_vars={"LOG_LEVEL": "info"},
    secrets=[flyte.Secret(key="api-token", as_env_var="API_TOKEN")],
    cache="auto",
)


@env.task(retries=3, timeout=timedelta(minutes=5), short_name="train")
async def train_model(epochs: int, lr: float = 0.01, tags: list[str] | None = None) -> dict[str, float]:
    """Train for some epochs."""
    return {"loss": 0.1}


reusable = flyte.TaskEnvironment(
    name="golden-reuse",
    reusable=flyte.ReusePolicy(replicas=(2, 4), concurrency=4, idle_ttl=300),
)


@reusable.task(cache=flyte.Cache(behavior="override", version_override="v4", ignored_inputs=("seed",)))
async def predict(x: float, seed: int = 0) -> float:
    return x
