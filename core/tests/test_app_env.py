"""AppEnvironment and its value types: validated at definition, naming the field and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import flyte
import flyte.app
import pytest
from click.testing import CliRunner
from flyte.app import AppEnvironment, AppNotRunningError, Domain, Link, Port, Scaling, Timeouts
from flyte.errors import InvalidParameterError

SVC = Path(__file__).parent / "apps_svc"


def _err(fn: Any, *args: Any, **kwargs: Any) -> InvalidParameterError:
    with pytest.raises(InvalidParameterError) as info:
        fn(*args, **kwargs)
    return info.value


def test_defaults_and_anchor_names() -> None:
    app = AppEnvironment(name="my-api")
    assert app.get_port() == Port(8080)
    assert app.scaling.get_replicas() == (0, 1)
    assert app.requires_auth is True and app.domain == Domain() and app.cluster_pool == "default"
    assert app.image == "auto" and app.links == [] and app.timeouts.request is None
    assert flyte.app.apps()["my-api"] is app
    for name in ("AppEnvironment", "Scaling", "Port", "Domain", "Link", "Timeouts", "ctx", "get_endpoint"):
        assert hasattr(flyte.app, name)
    assert flyte.serve is flyte.app.serve and flyte.with_servecontext is flyte.app.with_servecontext


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("My_App", "my-app"),
        ("1app", "app-1app"),
        ("", None),
        ("a" * 64, None),
        ("api.v1", "api-v1"),
        (3, None),
    ],
)
def test_bad_names_fail_with_the_fix(name: Any, suggestion: str | None) -> None:
    e = _err(AppEnvironment, name=name)
    assert e.owner == "AppEnvironment" and e.param == "name"
    assert "lowercase letters, digits or '-'" in str(e)
    if suggestion:
        assert repr(suggestion) in str(e)


@pytest.mark.parametrize("port", [0, 70000, -1, True, "8080", 8012, 9090])
def test_bad_ports(port: Any) -> None:
    e = _err(AppEnvironment, name="a", port=port)
    assert e.param == "port" and e.owner == "AppEnvironment(name='a')"
    assert ("reserved" in str(e)) == (port in (8012, 9090))


def test_port_object_and_its_validation() -> None:
    app = AppEnvironment(name="a", port=Port(port=8000, name="h2c"))
    assert app.get_port().to_dict() == {"port": 8000, "name": "h2c"}
    assert _err(Port, 9091).param == "port"
    assert _err(Port, 8000, name="Bad Name").param == "name"


@pytest.mark.parametrize(
    ("replicas", "fragment"),
    [
        ((3, 1), "swap them, e.g. (1, 3)"),
        ((-1, 2), "0 <= min <= max"),
        ((0, 0), "max >= 1"),
        ((1, 2, 3), "(min, max)"),
        (0, "at least 1"),
        ("2", "(min, max)"),
        ((1.5, 2), "(min, max)"),
    ],
)
def test_bad_replicas_fail_at_definition(replicas: Any, fragment: str) -> None:
    e = _err(Scaling, replicas=replicas)
    assert e.owner == "Scaling" and e.param == "replicas" and fragment in str(e)


def test_scaling_forms() -> None:
    assert Scaling(replicas=3).get_replicas() == (3, 3)
    s = Scaling(replicas=[1, 4], metric=Scaling.RequestRate(50), scaledown_after=timedelta(minutes=2))
    assert s.get_replicas() == (1, 4) and s.scaledown_seconds() == 120
    assert s.to_dict() == {
        "min_replicas": 1,
        "max_replicas": 4,
        "metric": {"request_rate": 50},
        "scaledown_after_seconds": 120.0,
    }
    assert _err(Scaling, metric="cpu").param == "metric"
    assert _err(Scaling, scaledown_after=-5).param == "scaledown_after"
    assert _err(Scaling.Concurrency, 0).param == "val"
    assert _err(Scaling.RequestRate, 0).owner == "Scaling.RequestRate"


def test_other_fields_are_validated() -> None:
    owner = "AppEnvironment(name='a')"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scaling": (1, 2)}, "scaling"),
        ({"resources": {"cpu": 1}}, "resources"),
        ({"env_vars": {"A": 1}}, "env_vars"),
        ({"secrets": 42}, "secrets"),
        ({"args": 3}, "args"),
        ({"command": "python 'unbalanced"}, "command"),
        ({"command": ""}, "command"),
        ({"requires_auth": "yes"}, "requires_auth"),
        ({"domain": "x.example.com"}, "domain"),
        ({"links": ["/docs"]}, "links"),
        ({"timeouts": 30}, "timeouts"),
        ({"cluster_pool": ""}, "cluster_pool"),
        ({"image": "has space"}, "image"),
        ({"depends_on": ["other"]}, "depends_on"),
    ]
    for kwargs, param in cases:
        e = _err(AppEnvironment, name="a", **kwargs)
        assert (e.owner, e.param) == (owner, param), kwargs
    assert _err(Domain, subdomain="Not_OK").param == "subdomain"
    assert _err(Domain, custom_domain="https://x.com").param == "custom_domain"
    assert _err(Timeouts, request=7200).param == "request"
    assert _err(Link, path="", title="t").param == "path"
    assert Timeouts(request=30).to_dict() == {"request_seconds": 30.0}


def test_command_and_args_forms() -> None:
    app = AppEnvironment(name="a", command="python -m http.server $PORT", args=["--bind", "127.0.0.1"])
    assert app.container_cmd() == ["python", "-m", "http.server", "$PORT"]
    assert app.container_args() == ["--bind", "127.0.0.1"]
    with pytest.raises(InvalidParameterError, match="either a command or an @server"):
        app.server(lambda: None)
    plain = AppEnvironment(name="b")
    with pytest.raises(InvalidParameterError, match="Decorate a function"):
        plain.server(42)  # type: ignore[type-var]


def test_hooks_and_clone_with() -> None:
    app = AppEnvironment(name="base", env_vars={"A": "1"}, scaling=Scaling(replicas=(1, 2)))

    @app.on_startup
    def up() -> None: ...

    @app.server
    def srv() -> None: ...

    @app.on_shutdown
    async def down() -> None: ...

    assert (app._on_startup, app._server, app._on_shutdown) == (up, srv, down)
    clone = app.clone_with("other", port=9000)
    assert clone.name == "other" and clone.get_port().port == 9000 and clone.env_vars == {"A": "1"}
    assert clone._server is srv and clone._on_shutdown is down
    assert _err(app.clone_with, "x", colour="red").param == "colour"


def test_endpoint_lookup(flyte_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte.app._registry import write_entry

    app = AppEnvironment(name="lookup")
    with pytest.raises(AppNotRunningError, match="flyte serve"):
        _ = app.endpoint
    write_entry("lookup", {"url": "http://127.0.0.1:1234", "pid": os.getpid()})
    assert app.endpoint == "http://127.0.0.1:1234" == flyte.app.get_endpoint("lookup")
    assert set(flyte.app.list_apps()) == {"lookup"}
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    write_entry("lookup", {"url": "http://127.0.0.1:1234", "pid": int(dead.stdout)})
    with pytest.raises(AppNotRunningError):  # a stale entry (its server is gone) is ignored and removed
        _ = app.endpoint
    assert not (flyte_home / "apps" / "lookup.json").exists()
    monkeypatch.setenv("INTERNAL_APP_ENDPOINT_PATTERN", "http://{app_fqdn}.apps.svc")
    assert app.endpoint == "http://lookup.apps.svc"


def test_ctx_reads_the_replica_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert flyte.app.ctx().mode == "remote" and flyte.app.ctx().name == ""
    for k, v in {
        "_RUN_MODE": "local",
        "FLYTE_APP_NAME": "a",
        "FLYTE_APP_PORT": "4321",
        "FLYTE_APP_REPLICA": "2",
        "FLYTE_APP_ENDPOINT": "http://127.0.0.1:8080",
    }.items():
        monkeypatch.setenv(k, v)
    c = flyte.app.ctx()
    assert (c.mode, c.name, c.port, c.replica, c.endpoint) == ("local", "a", 4321, 2, "http://127.0.0.1:8080")


def test_serve_context_rejects_remote_and_bad_values() -> None:
    with pytest.raises(NotImplementedError, match="flyte serialize"):
        flyte.with_servecontext(mode="remote")
    assert _err(flyte.with_servecontext, port=-1).param == "port"
    with pytest.raises(InvalidParameterError, match="AppEnvironment"):
        flyte.with_servecontext().serve("not-an-app")  # type: ignore[arg-type]
    empty = AppEnvironment(name="nothing-to-run")
    with pytest.raises(flyte.app.ServeError, match="nothing to run"):
        flyte.serve(empty)


def test_import_stays_light() -> None:
    code = (
        "import sys, flyte\n"
        "assert 'flyte.app' not in sys.modules\n"
        "import flyte.app\n"
        "a = flyte.app.AppEnvironment(name='light', scaling=flyte.app.Scaling(replicas=(1, 2)))\n"
        "@a.server\n"
        "def s(): pass\n"
        "heavy = {'starlette', 'uvicorn', 'httpx', 'asyncio', 'pydantic'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_cli_serve_picks_the_app() -> None:
    from flyte.cli.main import cli

    res = CliRunner().invoke(cli, ["serve", str(SVC / "spec_app.py")])
    assert res.exit_code != 0 and "several apps, name one: ['model-api', 'static-files']" in res.output
    res = CliRunner().invoke(cli, ["serve", str(SVC / "spec_app.py"), "nope"])
    assert res.exit_code != 0 and "no app named 'nope'" in res.output
    res = CliRunner().invoke(cli, ["serve", str(SVC.parent / "sample_specs.py")])
    assert res.exit_code != 0 and "defines no flyte.app.AppEnvironment" in res.output
    res = CliRunner().invoke(cli, ["serve", str(SVC / "spec_app.py"), "api", "--port", "70000"])
    assert res.exit_code != 0 and "--port" in res.output
