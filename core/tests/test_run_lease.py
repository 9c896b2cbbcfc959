"""Issue 25: a run's driver holds a heartbeat lease in the journal, so a driver on another host
refuses the run while the lease is fresh and takes it over once it expired (both backends).

Two hosts are simulated with two FLYTE_HOMEs and ``$FLYTE_HOST_ID`` (the name a driver records for
its machine): the second driver cannot see the first one's process, only the lease.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import flyte
import flyte.errors
import pytest
from conftest import spawn
from flyte._runtime.journal import Journal, open_journal

TTL = 1.5


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        url = str(tmp_path / "shared" / "journal.db")
    else:
        url = request.getfixturevalue("postgres_journal")
    monkeypatch.setenv("FLYTE_JOURNAL", url)
    monkeypatch.setenv("FLYTE_RUN_LEASE_SECONDS", str(TTL))
    return url


def _lines(workdir: Path) -> list[str]:
    p = workdir / "marker.txt"
    return p.read_text().splitlines() if p.exists() else []


def test_another_host_waits_for_the_lease_then_takes_over(
    journal_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTE_RAW_DATA_PATH", (tmp_path / "store").as_uri())
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = spawn(
        "import flyte, chain_app;"
        f" flyte.with_runcontext(name='leased').run(chain_app.main, n=10**6, workdir={str(workdir)!r})",
        home=tmp_path / "home-a",
        FLYTE_HOST_ID="host-a",
    )
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "home-b"))
    monkeypatch.setenv("FLYTE_HOST_ID", "host-b")
    j = open_journal(journal_url)
    try:
        end = time.time() + 60
        while sum(ln.startswith("ack") for ln in _lines(workdir)) < 10:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < end, "the chain did not start"
            time.sleep(0.01)
        first = j.run_lease_get("leased")
        assert first is not None and first.host == "host-a" and first.ttl == TTL
        time.sleep(2 * TTL)  # longer than a TTL: only renewals keep it fresh
        later = j.run_lease_get("leased")
        assert later is not None and later.owner == first.owner
        assert later.renewed_at > first.renewed_at and later.expires_at > time.time()
        with pytest.raises(
            flyte.errors.InitializationError, match=r"process \d+ on host host-a\) holds its lease"
        ):
            flyte.rerun("leased", recover=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    killed_at = time.time()
    acked = [int(ln.split()[1]) for ln in _lines(workdir) if ln.startswith("ack")]
    (workdir / "limit").write_text(str(len(acked) + 3))
    lease = j.run_lease_get("leased")
    assert lease is not None
    if lease.expires_at > time.time() + 0.2:  # host-b cannot see host-a's process: it waits
        with pytest.raises(flyte.errors.InitializationError, match="holds its lease"):
            flyte.rerun("leased", recover=True)
    while time.time() < lease.expires_at + 0.05:
        time.sleep(0.05)
    run = flyte.rerun("leased", recover=True)
    assert time.time() - killed_at < TTL + 10
    assert run.status == "SUCCEEDED", run.error
    assert run.outputs()[0] == len(acked) + 3
    runs = Counter(ln for ln in _lines(workdir) if ln.startswith("child"))
    assert not [i for i in acked if runs[f"child {i}"] != 1]  # acknowledged steps did not run again
    assert j.run_lease_get("leased") is None  # released at the run's end
    assert j.get_run("leased").host == "host-a"  # type: ignore[union-attr]


def test_lease_take_renew_release(journal_url: str) -> None:
    """Two journal connections (two drivers): the holder keeps it by renewing; an expired lease is
    taken; a lease released at a run's end is free at once; a renewal after a takeover says so."""
    a, b = Journal(journal_url), Journal(journal_url)
    alive = lambda h: False  # noqa: E731 - another host: its process cannot be seen
    try:
        assert a.run_lease_take("r", "A", "host-a", 1, 2.0, alive) is None
        held = b.run_lease_take("r", "B", "host-b", 2, 2.0, alive)
        assert held is not None and held.owner == "A" and held.host == "host-a"
        for _ in range(4):
            time.sleep(0.5)
            assert a.run_lease_renew("r", "A", 2.0)
            assert b.run_lease_take("r", "B", "host-b", 2, 2.0, alive) is not None
        time.sleep(2.1)  # A stopped renewing
        assert b.run_lease_take("r", "B", "host-b", 2, 2.0, alive) is None
        assert not a.run_lease_renew("r", "A", 2.0)  # A learns it lost the run
        assert b.run_lease_take("r", "A", "host-a", 1, 2.0, lambda h: h.owner == "B") is None  # gone holder
        a.run_lease_release("r", "A")
        assert a.run_lease_get("r") is None
    finally:
        a.close()
        b.close()


def test_a_bad_lease_time_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte._runtime.run_lease import run_lease_ttl

    monkeypatch.setenv("FLYTE_RUN_LEASE_SECONDS", "soon")
    with pytest.raises(flyte.errors.InvalidParameterError, match="FLYTE_RUN_LEASE_SECONDS"):
        run_lease_ttl()
    monkeypatch.setenv("FLYTE_RUN_LEASE_SECONDS", "0.1")
    with pytest.raises(flyte.errors.InvalidParameterError, match=r">= 0\.5"):
        run_lease_ttl()
