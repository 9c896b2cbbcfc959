"""Task specs built from the hooks, compared with golden files; `flyte serialize` writes them."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flyte.cli.main import cli

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
SAMPLE = HERE / "sample_specs.py"
VOLATILE = ("identity", "version")  # derived from source text; checked separately


def _stable(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in VOLATILE}


def _specs() -> dict[str, dict[str, Any]]:
    from flyte._run import import_module_from_file

    mod = import_module_from_file(str(SAMPLE))
    return {t.name: t.spec().model_dump(mode="json") for t in (mod.train_model, mod.predict)}


@pytest.mark.parametrize("name", ["golden.train_model", "golden-reuse.predict"])
def test_spec_matches_golden(name: str) -> None:
    spec = _stable(_specs()[name])
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    assert spec == json.loads(path.read_text())


def test_spec_never_holds_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    text = json.dumps(_specs())
    assert "api-token" in text and "s3cr3t-value" not in text


def test_identity_and_version_are_stable_and_source_derived() -> None:
    a, b = _specs(), _specs()
    assert a["golden.train_model"]["identity"] == b["golden.train_model"]["identity"]
    assert a["golden.train_model"]["identity"] != a["golden-reuse.predict"]["identity"]
    assert len(a["golden.train_model"]["version"]) == 32


def test_serialize_cli_writes_one_file_per_task(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serialize", str(SAMPLE), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["golden-reuse.predict.json", "golden.train_model.json"]
    spec = json.loads((tmp_path / "golden.train_model.json").read_text())
    assert spec["interface"]["inputs"]["epochs"] == {"type": "integer"}
    assert spec["retries"]["count"] == 3
