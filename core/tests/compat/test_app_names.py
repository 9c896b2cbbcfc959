"""``flyte.app`` has the anchor SDK's names (parameters, endpoints, connectors, subdomains...)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import flyte
import flyte.app
import flyte.errors
import pytest
from flyte._serialization import SerializationContext

SVC = Path(__file__).parent.parent / "apps_svc"

# ``sorted(flyte.app.__all__)`` of the anchor SDK, flyte==2.12.1.
ANCHOR_APP_ALL = [
    "AppEndpoint", "AppEnvironment", "ArtifactValue", "ConnectorEnvironment", "DeployedAppEnvironment",
    "Domain", "Link", "Parameter", "Port", "RunOutput", "Scaling", "Subdomain", "Timeouts", "ctx",
    "get_parameter",
]  # fmt: skip


@pytest.mark.parametrize("name", ANCHOR_APP_ALL)
def test_anchor_app_name_exists(name: str) -> None:
    assert name in flyte.app.__all__
    assert getattr(flyte.app, name) is not None


def test_parameter_validation_and_kinds() -> None:
    import flyte.io

    assert flyte.app.Parameter("a", "x").type == "string"
    assert flyte.app.Parameter("f", flyte.io.File(path="/tmp/f")).type == "file"
    assert flyte.app.Parameter("d", flyte.io.Dir(path="/tmp/d")).type == "directory"
    assert flyte.app.Parameter("e", flyte.app.AppEndpoint(app_name="other")).type == "app_endpoint"
    with pytest.raises(flyte.errors.InvalidParameterError, match="env_var"):
        flyte.app.Parameter("a", "x", env_var="NOT-A-NAME")
    with pytest.raises(flyte.errors.InvalidParameterError, match="type"):
        flyte.app.Parameter("a", "x", type="blob")  # type: ignore[arg-type]
    with pytest.raises(flyte.errors.InvalidParameterError, match="parameters"):
        flyte.app.AppEnvironment(
            name="dup-params", parameters=[flyte.app.Parameter("a"), flyte.app.Parameter("a")]
        )
    with pytest.raises(flyte.errors.InvalidParameterError, match="run_name"):
        flyte.app.RunOutput(type="string")
    with pytest.raises(flyte.errors.ParameterMaterializationError, match="control plane"):
        flyte.app.Parameter("r", flyte.app.RunOutput(type="file", run_name="r1")).resolve()
    with pytest.raises(flyte.errors.ParameterMaterializationError):
        flyte.app.Parameter("v", flyte.app.ArtifactValue(name="model")).resolve()


def test_parameters_in_app_spec() -> None:
    app = flyte.app.AppEnvironment(
        name="with-params", parameters=[flyte.app.Parameter("model", "m1", env_var="MODEL")]
    )
    assert app.spec()["parameters"] == [
        {"name": "model", "type": "string", "env_var": "MODEL", "download": True, "mount": None}
    ]


def test_get_parameter_outside_an_app_names_the_known_ones() -> None:
    with pytest.raises(flyte.errors.InvalidParameterError, match="none"):
        flyte.app.get_parameter("model")


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_served_app_reads_its_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    monkeypatch.syspath_prepend(str(SVC))
    from param_app import params

    handle = flyte.with_servecontext(port=0).serve(params)
    try:
        url = handle.endpoint
        assert _get(f"{url}/p/model") == (200, {"value": "gpt-tiny", "env": "gpt-tiny"})
        assert _get(f"{url}/p/weights")[1]["value"] == "/tmp/weights.bin"
        status, body = _get(f"{url}/p/nope")
        assert status == 404 and "model" in body["error"] and "weights" in body["error"]
    finally:
        handle.deactivate()
    sys.modules.pop("param_app", None)


def test_subdomain() -> None:
    sctx = SerializationContext(project="p", domain="d")
    assert flyte.app.Subdomain.from_app_name("api", "default").resolve(None, sctx) == "api-p-d"
    hashed = flyte.app.Subdomain.from_app_name("api").resolve(None, sctx)
    assert hashed.startswith("api-") and len(hashed) == len("api-") + 8
    assert flyte.app.Subdomain.from_app_name("api").resolve(None, SerializationContext("q", "d")) != hashed
    custom = flyte.app.Subdomain.from_function(lambda app, s: f"{app.name}-{s.domain}")
    app = flyte.app.AppEnvironment(name="sub", domain=flyte.app.Domain(subdomain=custom))
    assert app.spec()["domain"]["subdomain"] == f"sub-{flyte.current_domain()}"
    with pytest.raises(flyte.errors.InvalidParameterError, match="app_name"):
        flyte.app.Subdomain()
    with pytest.raises(flyte.errors.InvalidParameterError, match="project_domain_suffix"):
        flyte.app.Subdomain(app_name="a", project_domain_suffix="x")  # type: ignore[arg-type]


def test_connector_environment() -> None:
    conn = flyte.app.ConnectorEnvironment(name="my-connector", include=("pkg/my_connector.py",))
    assert isinstance(conn, flyte.app.AppEnvironment) and isinstance(conn, flyte.Environment)
    assert conn.type == "connector" and conn.get_port().name == "h2c"
    spec = conn.spec()
    assert spec["args"][:3] == ["c0", "--port", "8080"] and spec["args"][-2:] == [
        "--modules",
        "pkg.my_connector",
    ]
    own = flyte.app.ConnectorEnvironment(name="own-args", args=["serve"])
    assert own.spec()["args"] == ["serve"]


def test_deployed_app_environment_from_deploy() -> None:
    app = flyte.app.AppEnvironment(name="dapp", command=["python", "-m", "http.server"])
    [deployment] = flyte.deploy(app)
    deployed = deployment.envs["dapp"]
    assert isinstance(deployed, flyte.app.DeployedAppEnvironment)
    assert deployed.env is app and deployed.get_name() == "dapp"
    assert deployed.deployed_app == app.spec()
