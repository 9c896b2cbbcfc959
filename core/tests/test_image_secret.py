"""Image descriptions and Secrets: valid forms, immutability, deterministic URIs, definition-time errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flyte._image import AptPackages, CopyConfig, Env, Image, PipPackages, Requirements, UVProject
from flyte._secret import Secret, normalize_secrets
from flyte.errors import InvalidParameterError


def _expect(exc: pytest.ExceptionInfo[InvalidParameterError], param: str, value: Any, hint: str) -> None:
    """The message names the parameter and the given value, and suggests the accepted form."""
    err = exc.value
    assert isinstance(err, ValueError)
    assert err.param == param
    assert err.value == value
    text = str(err)
    assert f"{param}={value!r}" in text
    assert hint in text


# ---- Secret -------------------------------------------------------------------------------------


def test_secret_forms() -> None:
    assert Secret("my-api-key").env_var_name == "MY_API_KEY"
    assert Secret("openai.key").env_var_name == "OPENAI_KEY"
    assert Secret("key", group="team-a").env_var_name == "TEAM_A_KEY"
    assert Secret("1pass").env_var_name == "_1PASS"
    assert Secret("my-openai-api-key", as_env_var="OPENAI_API_KEY").env_var_name == "OPENAI_API_KEY"


def test_secret_to_dict_has_names_only() -> None:
    d = Secret("db-pass", group="prod", as_env_var="DB_PASSWORD").to_dict()
    assert d == {"key": "db-pass", "group": "prod", "env_var": "DB_PASSWORD"}
    assert "value" not in json.dumps(d)


def test_normalize_secrets() -> None:
    assert normalize_secrets(None, "env") == ()
    assert normalize_secrets("api-key", "env") == (Secret("api-key"),)
    s = Secret("x", as_env_var="X_VAR")
    assert normalize_secrets(s, "env") == (s,)
    assert normalize_secrets(["a", s, "a"], "env") == (Secret("a"), s)  # duplicates collapse


def test_bad_secret_env_var_name() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Secret("my-key", as_env_var="my-key")
    _expect(exc, "as_env_var", "my-key", "'MY_KEY'")
    assert "uppercase letters, digits and underscores" in str(exc.value)
    with pytest.raises(InvalidParameterError) as exc2:
        Secret("k", as_env_var="1ABC")
    _expect(exc2, "as_env_var", "1ABC", "not start with a digit")


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"key": ""}, "key"),
        ({"key": " padded "}, "key"),
        ({"key": 3}, "key"),
        ({"key": "k", "group": ""}, "group"),
        ({"key": "k", "mount": "/run/secrets"}, "mount"),
    ],
)
def test_secret_other_bad_values(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Secret(**kwargs)
    assert exc.value.param == param


def test_normalize_secrets_errors() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        normalize_secrets(42, "TaskEnvironment 'etl'")  # type: ignore[arg-type]
    _expect(exc, "secrets", 42, "flyte.Secret")
    with pytest.raises(InvalidParameterError) as exc2:
        normalize_secrets(["my-key", Secret("other", as_env_var="MY_KEY")], "env")
    assert "MY_KEY" in str(exc2.value) and "as_env_var" in str(exc2.value)


# ---- Image --------------------------------------------------------------------------------------


def test_direct_construction_is_refused() -> None:
    with pytest.raises(TypeError, match="from_debian_base"):
        Image(base_image="python:3.12")


def test_default_image() -> None:
    img = Image.from_debian_base(python_version=(3, 12), flyte_version="2.0.0")
    assert img.uri == "ghcr.io/flyteorg/flyte:py3.12-v2.0.0"
    assert img.layers == ()
    assert img.python_version == (3, 12)
    assert img.platform == ("linux/amd64", "linux/arm64")
    assert Image.auto(python_version="3.12", flyte_version="2.0.0") == img
    assert Image.from_debian_base().uri.startswith("ghcr.io/flyteorg/flyte:py")


def test_debian_base_without_flyte_has_layers() -> None:
    img = Image.from_debian_base(python_version=(3, 11), install_flyte=False)
    assert img.base_image == "python:3.11-slim-bookworm"
    assert any(isinstance(layer, AptPackages) for layer in img.layers)
    assert img.uri.startswith("flyte:")


def test_from_base_uri_and_layers() -> None:
    base = Image.from_base("python:3.12-slim")
    assert base.uri == "python:3.12-slim"
    assert base.tag == "3.12-slim"
    img = base.with_pip_packages("pandas", "numpy>=1.26").with_apt_packages("curl", "git")
    assert base.layers == ()  # the original is unchanged
    assert img.layers == (
        PipPackages(packages=("pandas", "numpy>=1.26")),
        AptPackages(packages=("curl", "git")),
    )
    assert img.uri.startswith("flyte:") and len(img.tag) == 32
    assert img.uri == base.with_pip_packages("pandas", "numpy>=1.26").with_apt_packages("curl", "git").uri
    assert img.uri != base.with_pip_packages("pandas").with_apt_packages("curl", "git").uri
    assert hash(img) == hash(base.with_pip_packages("pandas", "numpy>=1.26").with_apt_packages("curl", "git"))


def test_layer_order_matters() -> None:
    base = Image.from_base("python:3.12-slim")
    a = base.with_env_vars({"A": "1"}).with_workdir("/app")
    b = base.with_workdir("/app").with_env_vars({"A": "1"})
    assert a.uri != b.uri


def test_registry_and_name() -> None:
    img = Image.from_debian_base(python_version=(3, 12), registry="ghcr.io/my-org", name="etl")
    assert img.uri.startswith("ghcr.io/my-org/etl:")
    cloned = Image.from_base("python:3.12").clone(registry="docker.io/me", name="svc")
    assert cloned.uri.startswith("docker.io/me/svc:")


def test_all_builders(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("pandas\n")
    proj = tmp_path / "pyproject.toml"
    proj.write_text("[project]\nname='x'\n")
    (tmp_path / "uv.lock").write_text("")
    src = tmp_path / "pkg"
    src.mkdir()
    f1 = tmp_path / "a.py"
    f1.write_text("")
    img = (
        Image.from_debian_base(python_version=(3, 12), flyte_version="2.0.0")
        .with_pip_packages("torch", index_url="https://download.pytorch.org/whl/cpu", pre=True)
        .with_requirements(req)
        .with_uv_project(proj)
        .with_poetry_project(proj)
        .with_apt_packages("git", secret_mounts="apt-token")
        .with_commands(["echo hi", "mkdir -p /data"])
        .with_env_vars({"LOG_LEVEL": "debug"})
        .with_source_folder(src)
        .with_source_file([f1])
        .with_workdir("/app")
        .with_dockerignore(tmp_path / ".dockerignore")
        .with_code_bundle()
    )
    kinds = [layer.kind for layer in img.layers]
    assert kinds == [
        "pip_packages",
        "requirements",
        "uv_project",
        "poetry_project",
        "apt_packages",
        "commands",
        "env",
        "copy",
        "copy",
        "workdir",
        "dockerignore",
        "code_bundle",
    ]
    pip = img.layers[0]
    assert isinstance(pip, PipPackages)
    assert pip.pip_install_args() == ["--index-url", "https://download.pytorch.org/whl/cpu", "--pre"]
    assert img.layers[1] == Requirements(file=req)
    uv = img.layers[2]
    assert isinstance(uv, UVProject) and uv.uvlock == tmp_path / "uv.lock"
    assert img.layers[6] == Env(env_vars=(("LOG_LEVEL", "debug"),))
    assert img.layers[7] == CopyConfig(path_type=1, src=src, dst="./pkg")
    d = img.to_dict()
    json.dumps(d)
    assert d["uri"] == img.uri and len(d["layers"]) == len(img.layers)
    assert d["layers"][4]["secret_mounts"] == [{"key": "apt-token", "group": None, "env_var": "APT_TOKEN"}]
    with pytest.raises(InvalidParameterError, match=r"poetry\.lock"):
        img.validate()  # referenced file missing: checked at build time, not definition time


def test_from_dockerfile(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.12\n")
    img = Image.from_dockerfile(dockerfile, registry="ghcr.io/me", name="custom")
    uri = img.uri
    assert uri.startswith("ghcr.io/me/custom:")
    dockerfile.write_text("FROM python:3.13\n")
    assert img.uri != uri  # the tag follows the Dockerfile's contents
    with pytest.raises(InvalidParameterError) as exc:
        img.with_pip_packages("pandas")
    assert exc.value.param == "dockerfile" and "add the step to the Dockerfile" in str(exc.value)


def test_from_uv_script(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("# /// script\n# dependencies = ['httpx']\n# ///\n")
    img = Image.from_uv_script(script, name="script-img", python_version=(3, 12))
    assert img.layers[-1].kind == "uv_script"
    assert img.uri.startswith("script-img:")


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: Image.from_base(""), "image_uri"),
        (lambda: Image.from_base("https://python:3.12"), "image_uri"),
        (lambda: Image.from_debian_base(python_version=(2, 7)), "python_version"),
        (lambda: Image.from_debian_base(platform=("windows/amd64",)), "platform"),  # type: ignore[arg-type]
        (lambda: Image.from_debian_base(name="Bad Name"), "name"),
        (lambda: Image.from_debian_base(registry="https://ghcr.io"), "registry"),
        (lambda: Image.from_base("python:3.12").with_pip_packages(), "packages"),
        (lambda: Image.from_base("python:3.12").with_apt_packages("curl git"), "packages"),
        (lambda: Image.from_base("python:3.12").with_requirements("reqs.in"), "file"),
        (lambda: Image.from_base("python:3.12").with_env_vars({"BAD-NAME": "1"}), "env_vars"),
        (lambda: Image.from_base("python:3.12").with_commands([]), "commands"),
        (lambda: Image.from_base("python:3.12").with_source_file(["a/x.py", "b/x.py"]), "src"),
        (lambda: Image.from_base("python:3.12").with_pip_packages("x", secret_mounts=3), "secret_mounts"),  # type: ignore[arg-type]
    ],
)
def test_image_bad_values(build: Any, param: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        build()
    assert exc.value.param == param


def test_image_is_frozen() -> None:
    img = Image.from_base("python:3.12")
    with pytest.raises(AttributeError):
        img.name = "x"  # type: ignore[misc]
