"""The anchor's config.yaml read by init_from_config: its task section sets project/domain/org, its
backend sections are accepted unused, our own keys sit under ``flyte``; anything else is an error."""

from __future__ import annotations

from pathlib import Path

import flyte
import flyte.errors
import pytest
from flyte._config import get_settings

env = flyte.TaskEnvironment(name="cfgfile")


@env.task
def hello() -> str:
    return "hi"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_task_section_sets_the_identity_and_runs_stay_local(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path / "config.yaml",
        "admin:\n  endpoint: dns:///example.invalid\n  insecure: true\n"
        "image:\n  builder: local\n"
        "task:\n  project: p-yaml\n  domain: staging\n"
        f"flyte:\n  raw_data_path: {tmp_path / 'data'}\n",
    )
    flyte.init_from_config(str(cfg))
    assert (flyte.current_project(), flyte.current_domain()) == ("p-yaml", "staging")
    assert get_settings().raw_data_path.endswith("data")
    assert flyte.run(hello).outputs()[0] == "hi"


def test_found_through_flytectl_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _write(tmp_path / "anywhere.yaml", "task:\n  project: from-env\n  domain: development\n")
    monkeypatch.setenv("FLYTECTL_CONFIG", str(cfg))
    flyte.init_from_config()
    assert flyte.current_project() == "from-env"


def test_unknown_section_names_the_accepted_ones(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "config.yaml", "tsk:\n  project: typo\n")
    with pytest.raises(flyte.errors.InitializationError, match=r"unknown sections \['tsk'\].*'task'"):
        flyte.init_from_config(str(cfg))


def test_root_dir_is_the_code_root_and_nothing_is_written_there(tmp_path: Path, flyte_home: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "helper_mod_for_root_dir.py").write_text("VALUE = 7\n")
    flyte.init(root_dir=code)
    import helper_mod_for_root_dir  # type: ignore[import-not-found]

    assert helper_mod_for_root_dir.VALUE == 7
    assert flyte.run(hello).outputs()[0] == "hi"
    assert sorted(p.name for p in code.iterdir()) == ["helper_mod_for_root_dir.py"]
    assert (flyte_home / "journal.db").exists()  # the journal stays in the home
    with pytest.raises(flyte.errors.InvalidParameterError, match="root_dir"):
        flyte.init(root_dir=tmp_path / "missing")


def test_named_images_from_init_and_init_from_config() -> None:
    flyte.init(images={"gpu": "ghcr.io/org/train:1"})
    assert flyte.Image.from_ref_name("gpu").resolved_base() == "ghcr.io/org/train:1"
    flyte.init_from_config(images=("cpu=ghcr.io/org/etl:2", "ghcr.io/org/base:3"))
    assert flyte.Image.from_ref_name("cpu").resolved_base() == "ghcr.io/org/etl:2"
    assert flyte.Image.from_ref_name().resolved_base() == "ghcr.io/org/base:3"  # a bare URI is "default"
    with pytest.raises(flyte.errors.InvalidParameterError, match="gpu"):
        flyte.Image.from_ref_name("gpu").resolved_base()  # no longer defined
    with pytest.raises(flyte.errors.InvalidParameterError, match="image"):
        flyte.init(images={"bad": "Not Valid"})
