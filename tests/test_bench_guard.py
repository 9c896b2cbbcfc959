"""The benchmark's regression guard (bench/guard.py): ratios against bench/baseline.json."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_guard", Path(__file__).resolve().parents[1] / "bench" / "guard.py"
)
assert _spec is not None and _spec.loader is not None
guard = importlib.util.module_from_spec(_spec)
sys.modules["bench_guard"] = guard  # dataclasses look their module up there
_spec.loader.exec_module(guard)


def test_ratio_more_than_tolerance_above_baseline_fails(tmp_path: Path) -> None:
    base = {"tolerance": 0.25, "full": {"chain_1k": 100.0, "fanout_10k": 8.0}}
    verdicts = guard.check({"chain_1k": 126.0, "fanout_10k": 9.9, "new_row": 3.0}, base, "full")
    assert verdicts["chain_1k"].failed  # +26%
    assert "REGRESSED" in verdicts["chain_1k"].cell
    assert not verdicts["fanout_10k"].failed  # +24%
    assert verdicts["fanout_10k"].cell.startswith("8.00x (+24%) ok")
    assert not verdicts["new_row"].failed and verdicts["new_row"].cell == "no baseline"


def test_sections_are_per_size_set() -> None:
    base = {"full": {"chain_1k": 100.0}, "quick": {"chain_1k": 10.0}}
    assert guard.check({"chain_1k": 20.0}, base, "quick")["chain_1k"].failed
    assert not guard.check({"chain_1k": 20.0}, base, "full")["chain_1k"].failed


def test_record_keeps_the_other_section_and_the_tolerance(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"tolerance": 0.1, "quick": {"chain_1k": 9.0}}))
    guard.record(path, {"chain_1k": 123.4567, "fanout_1k": 7.0}, "full")
    data = json.loads(path.read_text())
    assert data["tolerance"] == 0.1
    assert data["quick"] == {"chain_1k": 9.0}
    assert data["full"] == {"chain_1k": 123.457, "fanout_1k": 7.0}
    assert "full" in data["recorded"]
    assert guard.check({"chain_1k": 136.0}, guard.load(path), "full")["chain_1k"].failed  # 10% tolerance


def test_missing_file_is_an_empty_baseline(tmp_path: Path) -> None:
    assert guard.load(tmp_path / "none.json") == {}
    with pytest.raises(ValueError, match="JSON object"):
        (tmp_path / "bad.json").write_text("[1]")
        guard.load(tmp_path / "bad.json")


def test_the_committed_baseline_covers_every_row() -> None:
    data = guard.load(Path(__file__).resolve().parents[1] / "bench" / "baseline.json")
    rows = {"fanout_1k", "fanout_10k", "chain_1k", "tree_10x10x10", "cache_hits_1k", "payload_50mb"}
    rows |= {"fanout_100k", "process_chain", "process_fanout", "replica_warm"}
    for mode in ("full", "quick"):
        assert set(data[mode]) == rows, mode
        assert all(v > 1 for v in data[mode].values()), mode  # ours is never faster than the floor
