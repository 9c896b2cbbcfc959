"""Regression guard for the benchmark: ours/asyncio ratios against `bench/baseline.json`.

Why ratios and not seconds: the floor (the same workload on plain asyncio) is measured in the same run
on the same machine, so a ratio mostly cancels out how busy or fast the machine is; a figure in
seconds from another day would not.

`baseline.json` holds one section per size set (`full`, `quick`), each `{row key: ours/asyncio}`.
A row fails when its ratio in this run is more than `tolerance` (default 25 %) above the baseline's.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TOLERANCE = 0.25


@dataclass(frozen=True)
class Verdict:
    key: str
    ratio: float
    baseline: float | None  # None: the baseline has no figure for this row (not guarded)
    limit: float | None

    @property
    def failed(self) -> bool:
        return self.limit is not None and self.ratio > self.limit

    @property
    def cell(self) -> str:
        if self.baseline is None or self.limit is None:
            return "no baseline"
        change = self.ratio / self.baseline - 1
        verdict = "REGRESSED" if self.failed else "ok"
        return f"{self.baseline:.2f}x ({change:+.0%}) {verdict}"


def load(path: Path) -> dict[str, Any]:
    """The baseline file, or an empty one when it does not exist yet."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'full'/'quick' sections")
    return data


def check(ratios: dict[str, float], baseline: dict[str, Any], mode: str) -> dict[str, Verdict]:
    """One verdict per measured row; rows without a baseline figure are reported, never failed."""
    section = baseline.get(mode) or {}
    tolerance = float(baseline.get("tolerance", DEFAULT_TOLERANCE))
    out: dict[str, Verdict] = {}
    for key, value in ratios.items():
        base = section.get(key)
        if base is None:
            out[key] = Verdict(key, value, None, None)
        else:
            out[key] = Verdict(key, value, float(base), float(base) * (1 + tolerance))
    return out


def record(path: Path, ratios: dict[str, float], mode: str) -> None:
    """Write this run's ratios as the `mode` section, keeping the other section and the tolerance."""
    data = load(path)
    data.setdefault("tolerance", DEFAULT_TOLERANCE)
    data[mode] = {k: round(v, 3) for k, v in sorted(ratios.items())}
    data.setdefault("recorded", {})[mode] = (
        f"{_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
