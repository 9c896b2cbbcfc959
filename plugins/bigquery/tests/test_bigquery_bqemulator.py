"""A cross-check of the BigQuery REST stand-in: the main paths once more against ``bqemulator``
(a third-party BigQuery emulator from PyPI: DuckDB behind the BigQuery REST API).

bqemulator runs in its own virtual environment (it registers a pytest plugin that needs
testcontainers, so it stays out of the test venv), created once under ``~/.cache`` with uv (or
pip) and started without DuckDB's spatial extension, which it would try to download. Its query
jobs finish inside jobs.insert and jobs.cancel is a no-op, so the hold/cancel/re-attach tests and
reading anonymous result tables run against the stand-in only. The module is skipped when the
emulator cannot be installed (no network); FLYTE_BQ_SKIP_BQEMULATOR=1 skips it on purpose.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest
from conftest import PROJECT, free_port, pid_alive
from flyteplugins.bigquery import BigQueryConfig, BigQueryInvalidError, BigQueryTask, RowsOrTable

VERSION = "1.4.0"
LAUNCHER = """
import sys
import bqemulator.storage.engine as engine
engine.DuckDBEngine._load_spatial = lambda self: None  # GEOGRAPHY needs a download; not used here
from bqemulator.cli import main
sys.exit(main())
"""
env = flyte.TaskEnvironment(name="bq_emulator")


def _venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = Path(
        os.environ.get("FLYTE_BQEMULATOR_VENV") or cache / "flyte-plugin-bigquery" / f"bqemulator-{VERSION}"
    )
    python = venv / "bin" / "python"
    if python.exists():
        return venv
    pkgs = [f"bqemulator=={VERSION}", "numpy"]
    uv = shutil.which("uv")
    if uv:
        cmds = [
            [uv, "venv", "-q", "-p", sys.executable, str(venv)],
            [uv, "pip", "install", "-q", "-p", str(python), *pkgs],
        ]
    else:
        cmds = [[sys.executable, "-m", "venv", str(venv)], [str(python), "-m", "pip", "install", "-q", *pkgs]]
    for cmd in cmds:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip(f"bqemulator could not be installed ({' '.join(cmd[:3])}): {out.stderr[-500:]}")
    return venv


@pytest.fixture(scope="module")
def bqemulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("FLYTE_BQ_SKIP_BQEMULATOR") == "1":
        pytest.skip("FLYTE_BQ_SKIP_BQEMULATOR=1")
    venv = _venv()
    port = free_port()
    log = tmp_path_factory.mktemp("bqemulator") / "bqemulator.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                str(venv / "bin" / "python"),
                "-c",
                LAUNCHER,
                "start",
                "--rest-host",
                "127.0.0.1",
                "--rest-port",
                str(port),
                "--grpc-host",
                "127.0.0.1",
                "--grpc-port",
                "0",
                "--project",
                PROJECT,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"bqemulator did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert not pid_alive(proc.pid)


@pytest.fixture
def emulator(bqemulator: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bqemulator)
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bqemulator),
    )
    client.create_dataset("emu", exists_ok=True)
    client.query("CREATE OR REPLACE TABLE emu.events (ds STRING, name STRING, n INT64)").result()
    client.query("""INSERT INTO emu.events VALUES ('2024-01-01', 'ann', 3), ('2024-01-01', 'bob', 5),
                    ("x'; DROP TABLE events; --", 'mallory', 1)""").result()
    return client


CONFIG = BigQueryConfig(ProjectID=PROJECT, Location="US")
events = BigQueryTask(
    name="emu_events",
    query_template="SELECT name, n FROM emu.events WHERE ds = @ds AND n <= @most ORDER BY name",
    inputs={"ds": str, "most": int},
    output_dataframe_type=list,
    plugin_config=CONFIG,
)
broken = BigQueryTask(name="emu_broken", query_template="SELEC 1", plugin_config=CONFIG)


@env.task
async def main(ds: str, most: int) -> RowsOrTable:
    rows: RowsOrTable = await events(ds=ds, most=most)
    return rows


@env.task
async def fails() -> str:
    try:
        await broken()
    except BigQueryInvalidError as e:
        return str(e)
    return "no error"


def test_parameters_and_injection_on_bqemulator(emulator: Any) -> None:
    run = flyte.run(main, ds="2024-01-01", most=4)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == [{"name": "ann", "n": 3}]
    run = flyte.run(main, ds="x'; DROP TABLE events; --", most=10)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == [{"name": "mallory", "n": 1}]
    [count] = emulator.query("SELECT COUNT(*) AS n FROM emu.events").result()
    assert count.n == 3  # the table is still there


def test_sql_error_on_bqemulator(emulator: Any) -> None:
    run = flyte.run(fails)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0].startswith("BigQuery task 'emu_broken': Syntax error")


def test_pandas_output_on_bqemulator(emulator: Any) -> None:
    q = BigQueryTask(
        name="emu_pandas", query_template="SELECT @x + 1 AS y", inputs={"x": int}, plugin_config=CONFIG
    )
    run = flyte.run(q, x=41)
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0]["y"].tolist() == [42]
