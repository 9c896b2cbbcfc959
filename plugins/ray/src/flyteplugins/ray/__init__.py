"""flyte-plugin-ray: run a workflow's child actions on a Ray cluster.

```python
flyte.init(executor="ray://head:10001", raw_data_path="s3://bucket/runs")   # or flyte run --executor
```
The driver keeps the controller (journal, action IDs, retries, caching); each child function action
is a Ray task placed by its ``Resources`` (``ray_options``), reusable environments run on warm Ray
actors, and inputs and outputs travel through the run's object store.
"""

from __future__ import annotations

from flyteplugins.ray._address import RayAddress, parse_address
from flyteplugins.ray._resources import ray_gpu_name, ray_options, tpu_chips

__all__ = ["RayAddress", "RayExecutor", "parse_address", "ray_gpu_name", "ray_options", "tpu_chips"]


def __getattr__(name: str) -> object:
    if name == "RayExecutor":  # imports nothing of Ray until it runs
        from flyteplugins.ray._executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'flyteplugins.ray' has no attribute {name!r}")
