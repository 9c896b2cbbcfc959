"""The example workflow in plugins/spark/examples runs as documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import flyte

EXAMPLE = Path(__file__).parent.parent / "examples" / "spark_etl.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("spark_etl", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_etl_runs() -> None:
    etl = _load()
    n = 10_000
    out = flyte.run(etl.main, n=n).outputs()[0]
    expected = {r: 0.0 for r in etl.REGIONS}
    for i in range(n):
        expected[etl.REGIONS[i % 4]] += i % 97 + 0.5
    assert out == {r: expected[r] for r in sorted(expected)}
