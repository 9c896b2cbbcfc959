"""The plugin contract sits at the bottom: a plugin's hooks module pays almost nothing for it.

``from flyte.extend import hookimpl`` is what every plugin's entry-point module does, and plugin
discovery imports every such module; it must not pull in the runtime (controller, journal, pluggy).
Measured in fresh interpreters with ``-X importtime``, as the issue asks.
"""

from __future__ import annotations

import os
import subprocess
import sys

MAX_EXTRA_MODULES = 10
MAX_EXTRA_MS = 10.0


def _imports(code: str) -> dict[str, int]:
    """Module -> its own import time (µs), from ``python -X importtime -c code``."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    found: dict[str, int] = {}
    for line in res.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            found[parts[2].strip()] = int(parts[0])
    return found


def _extra(code: str) -> tuple[set[str], float]:
    """Modules ``code`` loads beyond ``import flyte``, and their own import time in ms (best of 3)."""
    base = set(_imports("import flyte"))
    best: tuple[set[str], float] | None = None
    for _ in range(3):
        after = _imports(code)
        extra = set(after) - base
        ms = sum(after[m] for m in extra) / 1000
        if best is None or ms < best[1]:
            best = (extra, ms)
    assert best is not None
    return best


def test_hookimpl_costs_a_few_modules_and_milliseconds() -> None:
    extra, ms = _extra("from flyte.extend import hookimpl")
    assert "flyte._plugins.contract" in extra  # the measurement sees the lazy import
    assert len(extra) <= MAX_EXTRA_MODULES, sorted(extra)
    assert ms <= MAX_EXTRA_MS, (ms, sorted(extra))
    for heavy in ("pluggy", "asyncio", "pydantic", "flyte._runtime.controller", "flyte._runtime.journal"):
        assert heavy not in extra, heavy


def test_the_contract_types_are_as_light_as_the_marker() -> None:
    code = (
        "from flyte.extend import hookimpl, Backend, Connector, ExecutionContext, ResourceMeta, Resource, "
        "TypeTransformer, TaskTypeRegistry, NamedRegistry, Executor, ObjectStore"
    )
    extra, ms = _extra(code)
    assert len(extra) <= MAX_EXTRA_MODULES, sorted(extra)
    assert ms <= MAX_EXTRA_MS, (ms, sorted(extra))


def test_every_advertised_name_resolves() -> None:
    import flyte.extend

    for name in flyte.extend.__all__:
        assert getattr(flyte.extend, name) is not None, name
    assert sorted(dir(flyte.extend)) == sorted(flyte.extend.__all__)
    try:
        flyte.extend.NoSuchThing  # noqa: B018
    except AttributeError as e:
        assert "NoSuchThing" in str(e)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
