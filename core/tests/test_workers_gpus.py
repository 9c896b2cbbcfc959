"""GPU assignment in process mode, with the machine's GPUs given by ``FLYTE_LOCAL_GPUS``."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import flyte
import flyte.errors
import pytest
import workers_app as app
from flyte._runtime.placement.gpus import discover, matches, parse_override

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


@pytest.fixture(autouse=True)
def _gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_LOCAL_GPUS", "T4:0,T4:1,2xA100")
    monkeypatch.delenv("FLYTE_GPU_FALLBACK", raising=False)


def test_parse_and_match() -> None:
    gpus = parse_override("T4:0,T4:1,2xA100")
    assert [(g.index, g.name) for g in gpus] == [(0, "T4"), (1, "T4"), (2, "A100"), (3, "A100")]
    assert matches("NVIDIA A100-SXM4-80GB", "A100_80G") and matches("NVIDIA A100-SXM4-80GB", "A100")
    assert not matches("NVIDIA A100-SXM4-40GB", "A100_80G") and not matches("NVIDIA A100-PCIE", "A10")
    assert matches("Tesla T4", "T4 shared") and matches("NVIDIA H100 80GB HBM3", None)


def test_actions_see_only_their_gpus_and_wait_for_free_ones(capfd: pytest.CaptureFixture[str]) -> None:
    out = flyte.with_runcontext(max_cpus=8).run(app.three_t4, s=0.4).outputs()[0]  # GPUs, not CPUs, limit
    devs = sorted(o[0] for o in out)
    assert set(devs) <= {"0", "1"} and len(devs) == 3
    spans = sorted((float(o[1]), float(o[2])) for o in out)
    assert spans[2][0] >= min(spans[0][1], spans[1][1]) - 0.05  # the third waited for a free T4
    assert flyte.run(app.visible_a100).outputs()[0] == "2,3"
    assert "CUDA_VISIBLE_DEVICES=" in capfd.readouterr().out


def test_missing_gpu_type_fails_fast_with_a_clear_error() -> None:
    t0 = time.perf_counter()
    with pytest.raises(Exception) as failed:
        flyte.run(app.visible_h100)
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert time.perf_counter() - t0 < 2
    err = run.error
    assert isinstance(err, flyte.errors.AcceleratorUnavailableError)
    text = str(err)
    assert "1x H100" in text and "2x T4" in text and "FLYTE_GPU_FALLBACK=cpu" in text


def test_cpu_fallback_when_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_GPU_FALLBACK", "cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert flyte.run(app.visible_h100).outputs()[0] == ""
    assert any("Running it on CPU" in str(w.message) for w in caught)


def test_mig_partitions_are_refused_with_where_to_run() -> None:
    with pytest.raises(Exception) as failed:
        flyte.run(app.visible_mig)
    err = failed.value
    assert isinstance(err, flyte.errors.AcceleratorUnavailableError)
    assert "MIG" in str(err) and "cluster" in str(err)


def test_discovery_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, 81559'\necho '1, NVIDIA H100 80GB HBM3, 81559'\n"
    )
    fake.chmod(0o755)
    monkeypatch.delenv("FLYTE_LOCAL_GPUS")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    gpus, source = discover()
    assert source == "nvidia-smi"
    assert [(g.index, g.name, g.memory_mib) for g in gpus] == [(1, "NVIDIA H100 80GB HBM3", 81559)]
