"""The example in plugins/bigquery/examples runs as documented, against the BigQuery REST stand-in
(seeded with a slice of ``bigquery-public-data.samples.shakespeare``; Google's cloud cannot be
reached here)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, PROJECT, StandIn
from flyte.cli.main import cli

EXAMPLE = EXAMPLES / "shakespeare.py"
WORDS = [
    ("the", 50, "hamlet"),
    ("to", 40, "hamlet"),
    ("The", 10, "hamlet"),
    ("be", 30, "hamlet"),
    ("dane", 5, "hamlet"),
    ("the", 70, "kinglear"),
    ("lear", 20, "kinglear"),
]


@pytest.fixture
def shakespeare(bq: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    public = bigquery.Client(
        project="bigquery-public-data",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": bq.endpoint},
    )
    public.create_dataset("samples", exists_ok=True)
    public.query(
        "CREATE OR REPLACE TABLE samples.shakespeare "
        "(word STRING, word_count INT64, corpus STRING, corpus_date INT64)"
    ).result()
    values = ", ".join(f"('{w}', {n}, '{c}', 1600)" for w, n, c in WORDS)
    public.query(f"INSERT INTO samples.shakespeare VALUES {values}").result()
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)  # the project that runs the jobs


def test_example_as_a_script(shakespeare: None) -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "hamlet"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == (
        "SUCCEEDED {'top': ['the:50', 'to:40', 'be:30', 'The:10', 'dane:5'], 'distinct_words': 4}"
    )


def test_example_with_flyte_run(shakespeare: None, bq: StandIn) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--name", "bq-example", str(EXAMPLE), "main", "--corpus", "kinglear", "--limit", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "run bq-example: SUCCEEDED" in result.output
    jobs = bq.jobs(contains="bq-example")
    assert len(jobs) == 2 and all("kinglear" not in j["query"] for j in jobs)
