"""Core + the S3 plugin + the community shell plugin installed together, against a real S3 server
(moto's, started on 127.0.0.1 by the test): a shell task reads a File that lives in S3 and writes a
File that goes back to S3, in a run whose record is imported and shown from a fresh FLYTE_HOME."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import flyte
import flyte._config
import pytest
from click.testing import CliRunner
from flyte.cli.main import cli
from flyte.io import File

pytestmark = pytest.mark.integration

shell = pytest.importorskip("flyteplugins.shell")
testing = pytest.importorskip("flyteplugins.s3.testing")

env = flyte.TaskEnvironment(name="s3mixed")

upper = shell.ShellTask(
    name="s3mixed.upper",
    script=(
        "tr a-z A-Z < {inputs.text} > {outputs.shouted}\n"
        "wc -l < {inputs.text} | tr -d ' ' > {outputs.lines}\n"
    ),
    inputs={"text": File},
    outputs={"shouted": File, "lines": int},
)


@env.task
async def make_text(lines: list[str]) -> File:
    path = Path.cwd() / "in.txt"
    path.write_text("\n".join(lines) + "\n")
    return await File.from_local(path)


@env.task
async def read_text(f: File) -> str:
    async with f.open("rb") as fh:
        return (await fh.read()).decode()


@env.task
async def main(lines: list[str]) -> str:
    text = await make_text(lines)
    shouted, n = await upper(text=text)
    return f"{n}:{await read_text(shouted)}"


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAINTEGRATION")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "integration-secret-" + uuid.uuid4().hex)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLYTE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(flyte._config, "_settings", None)
    with testing.MotoServer() as server:
        bucket = "it-" + uuid.uuid4().hex[:10]
        server.create_bucket(bucket)
        flyte.init(raw_data_path=f"s3://{bucket}/runs-data", storage=server.storage_options())
        yield server, bucket
    from flyte._runtime.store import clear_store_cache

    clear_store_cache()


def test_shell_task_reads_and_writes_files_in_s3(
    s3: tuple[object, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, bucket = s3
    run = flyte.run(main, lines=["hello", "s3"])
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == "2:HELLO\nS3\n"
    client = server.client()  # type: ignore[attr-defined]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    prefix = f"runs-data/runs/{run.name}/"
    assert all(k.startswith(prefix) for k in keys), keys
    assert any(k.endswith("/in.txt") for k in keys) and any(k.endswith("/shouted") for k in keys)

    # another machine: an empty FLYTE_HOME that knows only the bucket's endpoint
    home = tmp_path / "machine-b"
    home.mkdir()
    (home / "flyte.toml").write_text(
        f'[flyte]\nstorage = {{ endpoint_url = "{server.endpoint_url}", region = "us-east-1" }}\n'  # type: ignore[attr-defined]
    )
    monkeypatch.setenv("FLYTE_HOME", str(home))
    monkeypatch.setenv("FLYTE_CONFIG", str(home / "flyte.toml"))
    monkeypatch.setattr(flyte._config, "_settings", None)
    runner = CliRunner()
    res = runner.invoke(cli, ["runs", "import", f"s3://{bucket}/{prefix}"])
    assert res.exit_code == 0, res.output
    shown = json.loads(runner.invoke(cli, ["runs", "show", run.name, "--json"]).output)
    assert shown["run"]["status"] == "SUCCEEDED"
    assert {a["task_name"] for a in shown["actions"]} == {
        "s3mixed.main",
        "s3mixed.make_text",
        "s3mixed.upper",
        "s3mixed.read_text",
    }
    shell_row = next(a for a in shown["actions"] if a["task_name"] == "s3mixed.upper")
    assert shell_row["status"] == "SUCCEEDED"
