"""App specs (Deployment/Service/HPA-style) compared with golden files; `flyte serialize` writes them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flyte.cli.main import cli

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
SPEC_APP = HERE / "apps_svc" / "spec_app.py"


def _specs() -> dict[str, dict[str, Any]]:
    from flyte._run import import_module_from_file

    mod = import_module_from_file(str(SPEC_APP))
    return {a.name: a.spec() for a in (mod.api, mod.static)}


@pytest.mark.parametrize("name", ["model-api", "static-files"])
def test_app_spec_matches_golden(name: str) -> None:
    spec = _specs()[name]
    path = GOLDEN / f"app.{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    assert spec == json.loads(path.read_text())


def test_spec_shape() -> None:
    api = _specs()["model-api"]["k8s"]
    container = api["deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/flyteorg/flyte:py3.12-v2.0.0"
    assert container["command"] == ["python", "-m", "flyte.app._replica", "spec_app.py", "model-api"]
    assert container["ports"] == [{"name": "http1", "containerPort": 8000, "protocol": "TCP"}]
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    assert {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "db-pass"}},
    } in container["env"]
    assert api["deployment"]["spec"]["replicas"] == 1
    assert api["service"]["spec"]["ports"][0] == {
        "name": "http",
        "port": 80,
        "targetPort": 8000,
        "protocol": "TCP",
    }
    hpa = api["autoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4)
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "http_requests_in_flight"
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    static = _specs()["static-files"]
    assert static["k8s"]["autoscaler"] is None  # a fixed replica count needs no autoscaler
    assert static["k8s"]["deployment"]["spec"]["replicas"] == 2
    assert static["command"] == ["nginx", "-g", "daemon off;"] and static["entrypoint"] == "command"


def test_spec_never_holds_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "s3cr3t-value")
    text = json.dumps(_specs())
    assert "hf-token" in text and "s3cr3t-value" not in text


def test_scale_to_zero_and_default_metric() -> None:
    from flyte.app import AppEnvironment, Scaling

    app = AppEnvironment(name="zero", image="python:3.12-slim", scaling=Scaling(replicas=(0, 3)))
    k8s = app.spec()["k8s"]
    assert k8s["deployment"]["spec"]["replicas"] == 0
    assert k8s["deployment"]["metadata"]["annotations"]["flyte.org/scale-to-zero"] == "true"
    assert k8s["autoscaler"]["spec"]["minReplicas"] == 1
    assert k8s["autoscaler"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_serialize_cli_emits_tasks_and_apps(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["serialize", str(SPEC_APP)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"spec-tasks.ping", "model-api", "static-files"}
    assert out["model-api"]["kind"] == "App" and "interface" in out["spec-tasks.ping"]

    res = CliRunner().invoke(cli, ["serialize", str(SPEC_APP), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "wrote 1 task spec(s) and 2 app spec(s)" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model-api.app.json",
        "model-api.k8s.json",
        "spec-tasks.ping.json",
        "static-files.app.json",
        "static-files.k8s.json",
    ]
    k8s = json.loads((tmp_path / "model-api.k8s.json").read_text())
    assert k8s["kind"] == "List"
    assert [i["kind"] for i in k8s["items"]] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    static = json.loads((tmp_path / "static-files.k8s.json").read_text())
    assert [i["kind"] for i in static["items"]] == ["Deployment", "Service"]
