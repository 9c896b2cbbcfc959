"""Issue 20: a worker's claims and outcomes as one append-only log, read back by a recovering driver."""

from __future__ import annotations

import os
from pathlib import Path

from flyte._runtime.placement import adopt
from flyte._runtime.store import path_to_uri, store_for


def _log(tmp_path: Path) -> tuple[adopt.ClaimLog, str]:
    prefix = path_to_uri(str(tmp_path / "run"))
    os.makedirs(tmp_path / "run")
    return adopt.ClaimLog(store_for(prefix), prefix), prefix


def test_claims_and_outcomes_are_read_back_per_action(tmp_path: Path) -> None:
    log, prefix = _log(tmp_path)
    log.claim("a1", 0, fresh=True)
    log.claim("a2", 0, fresh=True)
    log.outcome("a1", True, b"result-1", None)
    lease, outcome = adopt._claim(log.store, prefix, "a1")
    assert lease is not None and lease["pid"] == os.getpid() and lease["attempt"] == 0
    assert adopt.lease_alive(lease)
    assert outcome() == (True, b"result-1", None)
    lease2, outcome2 = adopt._claim(log.store, prefix, "a2")
    assert lease2 is not None and outcome2() is None  # claimed, still running
    log.outcome("a2", False, b"err", 123)
    assert outcome2() == (False, b"err", 123)  # read incrementally while the driver waits
    assert adopt._claim(log.store, prefix, "never")[0] is None
    # one file for the whole worker, no folder per action
    assert sorted(os.listdir(tmp_path / "run")) == [adopt.CLAIMS]


def test_a_new_attempt_supersedes_the_old_outcome_and_a_drop_removes_the_claim(tmp_path: Path) -> None:
    log, prefix = _log(tmp_path)
    log.claim("a", 0, fresh=True)
    log.outcome("a", False, b"first failed", None)
    log.claim("a", 1)
    lease, outcome = adopt._claim(log.store, prefix, "a")
    assert lease is not None and lease["attempt"] == 1 and outcome() is None
    log.claim("c", 0, fresh=True)
    log.drop("c")  # cancelled: nothing to adopt, it runs again
    assert adopt._claim(log.store, prefix, "c")[0] is None


def test_a_record_cut_short_by_the_workers_death_is_ignored(tmp_path: Path) -> None:
    log, prefix = _log(tmp_path)
    log.claim("a", 0, fresh=True)
    assert log.fd is not None
    os.write(log.fd, (1000).to_bytes(4, "big") + b"O" + b"partial")  # died in the middle of a write
    lease, outcome = adopt._claim(log.store, prefix, "a")
    assert lease is not None and outcome() is None


def test_a_run_folder_made_again_is_read_afresh(tmp_path: Path) -> None:
    import shutil

    log, prefix = _log(tmp_path)
    log.claim("old", 0, fresh=True)
    log.outcome("old", True, b"old result " * 20, None)
    assert adopt._claim(log.store, prefix, "old")[0] is not None  # the index has read this log
    shutil.rmtree(tmp_path / "run")
    os.makedirs(tmp_path / "run")
    log2 = adopt.ClaimLog(log.store, prefix)  # same pid, same file name, new file
    log2.claim("new", 0, fresh=True)
    log2.outcome("new", True, b"n", None)
    assert adopt._claim(log.store, prefix, "old")[0] is None
    lease, outcome = adopt._claim(log.store, prefix, "new")
    assert lease is not None and outcome() == (True, b"n", None)
