"""A run's supervisor and channel actors stay up for the driver process's next run (a Ray actor is a
process: starting two per run cost seconds), without mixing the runs: the next run finds them
through the GCS, an ended run leaves no key behind, and a dead spare is replaced."""

from __future__ import annotations

import flyte
import pytest
import ray_flows as flows
from flyteplugins.ray import _executor
from flyteplugins.ray._remote import NAMESPACE
from ray_cluster import RayCluster


def _run_keys() -> set[bytes]:
    from ray.experimental import internal_kv

    return set(internal_kv._internal_kv_list(b"flyte-run-", namespace=_executor.KV_NAMESPACE))


def _alive(name: str) -> bool:
    import ray

    return any(
        a["name"] == name
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == NAMESPACE
    )


def test_consecutive_runs_reuse_the_supervisor_and_channel(on_ray: RayCluster) -> None:
    total = sum(i * i for i in range(6))
    assert flyte.run(flows.fanout, n=6).outputs()[0] == total
    keys = _run_keys()
    sup, channel = _executor._spares["sup"], _executor._spares["channel"]
    assert _alive(sup[1]) and _alive(channel[1])

    # The nested fan-out's parent body sends its child calls through the reused channel.
    assert flyte.run(flows.nested_fanout, n=6).outputs()[0] == total
    assert _executor._spares["sup"][1] == sup[1]
    assert _executor._spares["channel"][1] == channel[1]
    assert _run_keys() == keys  # each run removed its key to its supervisor as it ended


def test_a_dead_spare_supervisor_is_replaced(on_ray: RayCluster, recwarn: pytest.WarningsRecorder) -> None:
    import ray

    assert flyte.run(flows.fanout, n=3).outputs()[0] == 5
    old = _executor._spares["sup"]
    ray.kill(old[0])  # as if its node had died between the runs
    assert flyte.run(flows.fanout, n=3).outputs()[0] == 5
    assert _executor._spares["sup"][1] != old[1]
    # found dead before the run used it: no attempt was lost to it (no system retry warned)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)], [
        str(w.message) for w in recwarn
    ]
