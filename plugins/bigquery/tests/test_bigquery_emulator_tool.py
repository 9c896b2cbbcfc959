"""The developer-facing emulator tool (``python -m flyteplugins.bigquery.emulator``) as a user runs
it: a subprocess on 127.0.0.1 seeded from a CSV file, queried with the real google-cloud-bigquery
client through a BigQueryTask in a flyte run, stopped by its PID with nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import flyte
import pytest
from conftest import free_port, pid_alive
from flyteplugins.bigquery import BigQueryConfig, BigQueryTask

TOOL = [sys.executable, "-m", "flyteplugins.bigquery.emulator"]

sales_by_region = BigQueryTask(
    name="sales_by_region",
    query_template=(
        "SELECT region, SUM(amount) AS total FROM shop.sales WHERE amount >= @min"
        " GROUP BY region ORDER BY region"
    ),
    inputs={"min": int},
    plugin_config=BigQueryConfig(ProjectID="local"),
)


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [*TOOL, "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "emulator.log", "w"),
        text=True,
        cwd=tmp_path,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    assert line == f"LISTENING {port}\n", (tmp_path / "emulator.log").read_text()
    return proc, port


def _stop(proc: subprocess.Popen[str], sig: int) -> None:
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=30) == 0
    assert not pid_alive(proc.pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_seeded_tool_answers_a_bigquery_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: int
) -> None:
    csv = tmp_path / "sales.csv"
    csv.write_text("region,amount,day\neu,10,2024-01-01\nus,5,2024-01-01\neu,7,2024-01-02\nus,1,2024-01-03\n")
    proc, port = _start(tmp_path, "--seed", f"{csv}:shop.sales")
    try:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", f"127.0.0.1:{port}")
        env = flyte.TaskEnvironment(name="emulator_tool")

        @env.task
        async def report(min: int) -> list[str]:
            df = await sales_by_region(min=min)
            return [f"{r.region}={r.total}" for r in df.itertuples()]

        run = flyte.run(report, min=5)
        assert run.outputs()[0] == ["eu=17", "us=5"]
        # the seeded table's schema has the CSV's inferred types
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        client = bigquery.Client(
            project="local",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": f"http://127.0.0.1:{port}"},
        )
        schema = {f.name: f.field_type for f in client.get_table("shop.sales").schema}
        assert schema == {"region": "STRING", "amount": "INTEGER", "day": "DATE"}
    finally:
        if proc.poll() is None:
            _stop(proc, sig)
    assert proc.returncode == 0


def test_binds_loopback_by_default(tmp_path: Path) -> None:
    proc, port = _start(tmp_path)
    try:
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = {line.split()[1] for line in listening if line.split()[3] == "0A"}
        assert f"0100007F:{port:04X}" in local
        assert f"00000000:{port:04X}" not in local
    finally:
        _stop(proc, signal.SIGTERM)


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ("missing.csv:shop.sales", "no such file"),
        ("sales.csv:sales", "expected FILE.csv:DATASET.TABLE"),
        ("sales.csv", "expected FILE.csv:DATASET.TABLE"),
    ],
)
def test_bad_seed_is_a_clear_error(tmp_path: Path, seed: str, message: str) -> None:
    (tmp_path / "sales.csv").write_text("a,b\n1,2\n")
    out = subprocess.run(
        [*TOOL, "--port", "0", "--seed", seed], capture_output=True, text=True, cwd=tmp_path, timeout=30
    )
    assert out.returncode == 2
    assert message in out.stderr and "--seed" in out.stderr
