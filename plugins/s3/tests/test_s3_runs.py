"""Runs whose data lives in S3 (real servers on 127.0.0.1: SeaweedFS and moto): offloaded values,
File/Dir, the run's record in the bucket, importing it on "another machine" (a fresh FLYTE_HOME) and
resuming it there, credentials kept out of every record, and object keys confined to the run's prefix."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import flyte._config
import flyte.errors
import pytest
import s3_flows as flows
from click.testing import CliRunner
from flyte._runtime import codec
from flyte._runtime.records import read_record
from flyte._runtime.store import clear_store_cache, store_for
from flyte.cli.main import cli
from flyteplugins.s3.testing import MotoServer
from s3_testkit import ACCESS_KEY, SECRET_KEY, SERVERS, S3Env, count, s3_env, start_server, wait_for

warnings.filterwarnings("ignore", message=".*has no JSON schema.*")


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    with start_server(request.param) as s:
        yield s


@pytest.fixture
def s3(server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    yield from s3_env(server, tmp_path, monkeypatch, retry_deadline=5)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto alone: the tests that inject faults or pause the server."""
    with MotoServer() as s:
        yield s


@pytest.fixture
def s3_moto(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Env]:
    yield from s3_env(moto, tmp_path, monkeypatch, retry_deadline=5)


def manifest(s3: S3Env, run_name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(s3.get(f"data/runs/{run_name}/_record/run.json"))  # type: ignore[no-any-return]


def record_lines(s3: S3Env, run_name: str) -> list[dict]:  # type: ignore[type-arg]
    """The record's rows, read as `flyte runs import` reads them."""
    return read_record(store_for(s3.run_prefix(run_name)), s3.run_prefix(run_name))[1]


def test_values_above_the_inline_limit_go_to_the_run_prefix(s3: S3Env) -> None:
    run = flyte.run(flows.fanout, n=4)
    assert run.status == "SUCCEEDED" and run.outputs()[0] == 4 * flows.BIG
    keys = s3.keys()
    assert all(k.startswith(f"data/runs/{run.name}/") for k in keys), keys
    outputs = [k for k in keys if k.endswith("/outputs")]
    assert len(outputs) == 4
    assert {len(s3.get(k)) for k in outputs} == {flows.BIG + 3}  # J + the JSON string
    m = manifest(s3, run.name)
    assert m["final"] and m["run"]["status"] == "SUCCEEDED" and m["segments"] == []
    assert m["run"]["store_prefix"] == s3.run_prefix(run.name)
    actions = [x for x in record_lines(s3, run.name) if x["table"] == "actions"]
    assert len(actions) == 5 and {a["status"] for a in actions} == {"SUCCEEDED"}


def test_file_and_dir_live_in_s3(s3: S3Env) -> None:
    run = flyte.run(flows.files_and_dirs, text="hello", n=5)
    assert run.outputs()[0] == f"hello|HELLO|{sum(range(5))}"
    offloaded = [k for k in s3.keys() if "/offloaded/" in k]
    names = sorted(k.rsplit("/", 1)[-1] for k in offloaded)
    assert names == ["copy.txt", "notes.txt", "p0.txt", "p1.txt", "p2.txt", "p3.txt", "p4.txt"]
    assert any(k.endswith("/parts/sub/p1.txt") for k in offloaded)


def test_dir_handles_list_the_bucket(s3: S3Env) -> None:
    got = flyte.run(flows.browse_dir, n=4).outputs()[0]
    assert got["schemes"] == ["s3"]
    # walk(recursive=False) and list_files go one folder level down, as the anchor's do
    assert got["top"] == ["p0.txt", "p1.txt", "p2.txt", "p3.txt"] == got["list"]
    assert got["deep"] == ["p1.txt", "p3.txt"]
    assert got["get_file"] == ["1"] and got["none"] == ["None"]
    assert got["exists"] == ["True", "False"]


def test_with_runcontext_raw_data_path_and_the_standard_endpoint_variable(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no storage options at all: boto3's own AWS_ENDPOINT_URL / AWS_DEFAULT_REGION are honoured
    monkeypatch.setattr(flyte._config, "_settings", None)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    flyte.init()
    run = flyte.with_runcontext(raw_data_path=f"s3://{s3.bucket}/ctx").run(flows.fanout, n=2)
    assert run.outputs()[0] == 2 * flows.BIG
    keys = s3.keys()
    assert keys and all(k.startswith(f"ctx/runs/{run.name}/") for k in keys), keys


def test_config_file_points_runs_at_s3(s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "flyte.toml"
    cfg.write_text(
        f'[flyte]\nraw_data_path = "s3://{s3.bucket}/cfg"\n'
        f'storage = {{ endpoint_url = "{s3.server.endpoint_url}", region = "us-east-1" }}\n'
    )
    monkeypatch.setattr(flyte._config, "_settings", None)
    flyte.init_from_config(str(cfg))
    run = flyte.run(flows.files_and_dirs, text="cfg", n=2)
    assert run.outputs()[0] == "cfg|CFG|1"
    assert any(k.startswith(f"cfg/runs/{run.name}/offloaded/") for k in s3.keys())


def test_process_isolation_workers_use_the_same_store(s3: S3Env) -> None:
    run = flyte.with_runcontext(isolation="process").run(flows.files_and_dirs, text="proc", n=3)
    assert run.outputs()[0] == "proc|PROC|3"
    assert any("/offloaded/" in k for k in s3.keys(f"data/runs/{run.name}/"))


def _other_machine(s3: S3Env, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    """A fresh FLYTE_HOME (an empty journal) configured from a flyte.toml, as on another machine."""
    home = s3.tmp / name
    home.mkdir()
    (home / "flyte.toml").write_text(
        f'[flyte]\nraw_data_path = "{s3.raw}"\n'
        f'storage = {{ endpoint_url = "{s3.server.endpoint_url}", region = "us-east-1" }}\n'
    )
    monkeypatch.setenv("FLYTE_HOME", str(home))
    monkeypatch.setenv("FLYTE_CONFIG", str(home / "flyte.toml"))
    monkeypatch.setattr(flyte._config, "_settings", None)
    monkeypatch.setattr(codec, "_key_override", None)
    clear_store_cache()
    return home


def test_import_on_another_machine_then_show_and_recover(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTE_PICKLE_KEY", "shared-team-secret-0123456789")  # both machines
    work = tmp_path / "work"
    work.mkdir()
    flag = tmp_path / "flag"
    flag.touch()
    with pytest.raises(Exception) as failed:
        flyte.run(flows.resumable, n=3, workdir=str(work), flag=str(flag))
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED" and "failing on purpose" in str(run.error)
    assert count(work, "small-0") == 1 and count(work, "step-2") == 1

    home = _other_machine(s3, monkeypatch, "machine-b")
    prefix = s3.run_prefix(run.name)
    runner = CliRunner()
    res = runner.invoke(cli, ["runs", "import", prefix])
    assert res.exit_code == 0, res.output
    assert f"imported run {run.name} (FAILED, 8 actions)" in res.output
    assert (home / "journal.db").exists()
    res = runner.invoke(cli, ["runs", "show", run.name, "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.output)
    assert shown["run"]["status"] == "FAILED" and len(shown["actions"]) == 8
    res = runner.invoke(cli, ["runs", "import", prefix])
    assert res.exit_code != 0 and "--force" in res.output

    flag.unlink()
    res = runner.invoke(cli, ["rerun", run.name, "--recover"])
    assert res.exit_code == 0, res.output
    assert f"run {run.name}: SUCCEEDED" in res.output
    assert f"outputs: {3 * flows.BIG + sum(i * i for i in range(3)) + 1000}" in res.output
    for i in range(3):  # nothing that had finished ran again
        assert count(work, f"small-{i}") == 1 and count(work, f"step-{i}") == 1
    m = manifest(s3, run.name)  # machine B brought the shared record up to date
    assert m["run"]["status"] == "SUCCEEDED" and m["final"]

    _other_machine(s3, monkeypatch, "machine-c")  # a third machine sees the finished run
    assert runner.invoke(cli, ["runs", "import", f"{prefix}/_record/run.json"]).exit_code == 0
    shown = json.loads(runner.invoke(cli, ["runs", "show", run.name, "--json"]).output)
    assert shown["run"]["status"] == "SUCCEEDED"


def test_the_record_is_exported_while_the_run_is_running(s3: S3Env, tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    gate = tmp_path / "gate"
    runs: list[flyte.Run] = []
    t = threading.Thread(
        target=lambda: runs.append(flyte.run(flows.pipeline, n=3, workdir=str(work), gate=str(gate)))
    )
    t.start()
    try:
        wait_for(work / "at-gate")  # steps 0 and 1 are done; step 2 waits
        start = time.monotonic()
        while True:  # the debounced export catches up within about a second
            keys = [k for k in s3.keys() if k.endswith("/_record/run.json")]
            if keys:
                run_name = keys[0].split("/")[2]
                m = manifest(s3, run_name)
                done = {x["action_id"] for x in record_lines(s3, run_name) if x.get("status") == "SUCCEEDED"}
                if m["run"]["status"] == "RUNNING" and len(done) == 2 and not m["final"]:
                    break
            assert time.monotonic() - start < 5, "the running run's record did not reach the bucket"
            time.sleep(0.1)
    finally:
        gate.touch()
        t.join(60)
    assert runs[0].status == "SUCCEEDED"
    assert manifest(s3, runs[0].name)["run"]["status"] == "SUCCEEDED"


def test_no_credential_reaches_the_journal_the_record_or_the_logs(
    s3_moto: S3Env, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    s3 = s3_moto  # injects faults: moto's server
    token = "tok-" + SECRET_KEY[::-1]
    caplog.set_level("DEBUG", logger="flyte")
    s3.server.inject_faults(2)  # retries are logged: their messages must not carry credentials
    work = tmp_path / "w"
    work.mkdir()
    flag = tmp_path / "flag"
    flag.touch()
    with pytest.raises(Exception) as failed:
        flyte.with_runcontext(env_vars={"API_TOKEN": token, "PLAIN": "visible"}).run(
            flows.resumable, n=2, workdir=str(work), flag=str(flag)
        )
    run = failed.value.flyte_run  # type: ignore[attr-defined]
    assert run.status == "FAILED"
    res = CliRunner().invoke(cli, ["runs", "show", run.name])
    pickle_key = (s3.home / "pickle.key").read_bytes().strip()
    assert (s3.home / "pickle.key").stat().st_mode & 0o777 == 0o600

    # the journal, its WAL and its redo logs (a directory of files)
    files = [f for p in s3.home.glob("journal.db*") for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    blobs = {f.name: f.read_bytes() for f in files if f.is_file()}
    blobs.update({k: s3.get(k) for k in s3.keys()})
    assert "retrying" in caplog.text  # the injected faults were retried and logged
    blobs["logs"] = caplog.text.encode()
    out, err = capfd.readouterr()
    blobs["output"] = (out + err + res.output).encode()
    assert b"visible" in blobs["journal.db"] + blobs.get("journal.db-wal", b"")  # the grep does see rows
    for what, secret in (("AWS secret key", SECRET_KEY), ("env token", token), ("pickle key", pickle_key)):
        needle = secret.encode() if isinstance(secret, str) else secret
        leaks = [name for name, data in blobs.items() if needle in data]
        assert not leaks, f"{what} found in {leaks}"
    assert ACCESS_KEY.encode() not in b"".join(blobs.values())
    settings = json.loads(manifest(s3, run.name)["run"]["settings"])
    assert settings["env_vars"] == {"API_TOKEN": None, "PLAIN": "visible"}
    assert settings["secret_env"] == ["API_TOKEN"]


def test_object_keys_cannot_escape_the_run_prefix(s3: S3Env) -> None:
    run = flyte.run(flows.escape_names, text="x")
    prefix = s3.run_prefix(run.name) + "/offloaded/"
    outcomes = run.outputs()[0]
    assert len(outcomes) == 4, outcomes
    paths = [p for p in outcomes if not p.startswith("refused:")]
    assert all(p == "refused:file_name" for p in outcomes if p not in paths), outcomes
    assert len(paths) < 4, "a name with '..' must be refused when the File is made"
    assert all(p.startswith(prefix) for p in paths), paths
    assert all(".." not in p[len(prefix) :].split("/") for p in paths)
    keys = s3.keys()
    assert all(k.startswith(f"data/runs/{run.name}/") for k in keys), keys
    for bad in ("../other-run", "a/b", "..", ".hidden", "x" * 200):
        with pytest.raises(flyte.errors.InitializationError, match="run name"):
            flyte.with_runcontext(name=bad).run(flows.fanout, n=1)
    assert all(k.startswith(f"data/runs/{run.name}/") for k in s3.keys())


def test_import_refuses_records_that_would_inject_rows(s3: S3Env, monkeypatch: pytest.MonkeyPatch) -> None:
    run = flyte.run(flows.fanout, n=1)
    key = f"data/runs/{run.name}/_record/run.json"
    m = json.loads(s3.get(key))
    m["run"]["name"] = "../../evil"
    s3.put(key, json.dumps(m).encode())
    home = _other_machine(s3, monkeypatch, "machine-x")
    res = CliRunner().invoke(cli, ["runs", "import", s3.run_prefix(run.name)])
    assert res.exit_code != 0 and "run name" in res.output  # one line, no traceback
    m["run"]["name"] = run.name
    m["snapshot"] = "../../other/thing.jsonl"
    s3.put(key, json.dumps(m).encode())
    res = CliRunner().invoke(cli, ["runs", "import", s3.run_prefix(run.name)])
    assert res.exit_code != 0 and "row file name" in res.output
    con = sqlite3.connect(home / "journal.db")
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    con.close()


def test_plain_runs_keep_no_record_and_stay_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "h"))
    monkeypatch.setattr(flyte._config, "_settings", None)
    run = flyte.run(flows.fanout, n=1)
    assert run.status == "SUCCEEDED"
    data = tmp_path / "h" / "data" / "runs" / run.name
    assert data.is_dir() and not (data / "_record").exists()
    res = CliRunner().invoke(cli, ["runs", "export", run.name])  # on demand
    assert res.exit_code == 0, res.output
    assert (data / "_record" / "run.json").exists()
    monkeypatch.setenv("FLYTE_RECORD_EXPORT", "1")  # forced: a local record too
    run = flyte.run(flows.fanout, n=1)
    assert (tmp_path / "h" / "data" / "runs" / run.name / "_record" / "run.json").exists()
    assert os.environ.get("FLYTE_STORAGE_OPTIONS") is None
