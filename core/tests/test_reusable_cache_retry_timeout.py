"""ReusePolicy, Cache, RetryStrategy/Backoff and Timeout: valid forms and definition-time errors."""

from __future__ import annotations

import json
import random
import warnings
from datetime import timedelta
from typing import Any

import pytest
from flyte._cache import Cache, CachePolicy, FunctionBodyPolicy, VersionParameters, normalize_cache
from flyte._retry import Backoff, RetryStrategy, normalize_retries
from flyte._reusable import ReusePolicy
from flyte._timeout import Timeout, normalize_timeout
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


# ---- ReusePolicy --------------------------------------------------------------------------------


def test_reuse_seed_example() -> None:
    p = ReusePolicy(replicas=(1, 5), concurrency=2, idle_ttl=300)
    assert (p.min_replicas, p.max_replicas) == (1, 5)
    assert p.idle_ttl_seconds == 300
    assert p.scaledown_ttl_seconds == 30  # the anchor's default
    json.dumps(p.to_dict())
    assert p.to_dict()["max_replicas"] == 5


def test_reuse_defaults_and_timedelta() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = ReusePolicy()
    assert (p.min_replicas, p.max_replicas, p.concurrency) == (2, 2, 1)
    q = ReusePolicy(replicas=3, idle_ttl=timedelta(minutes=5), scaledown_ttl=timedelta(seconds=30))
    assert q.idle_ttl_seconds == 300
    assert q.scaledown_ttl_seconds == 30
    assert q.get_scaledown_ttl() == timedelta(seconds=30)
    assert ReusePolicy(replicas=(0, 4)).min_replicas == 0


@pytest.mark.parametrize("replicas", [1, (1, 1), (0, 1)])
def test_reuse_single_replica_warns(replicas: int | tuple[int, int]) -> None:
    with pytest.warns(UserWarning, match="starv") as record:
        ReusePolicy(replicas=replicas)
    text = str(record[0].message)
    assert "replicas=2" in text and "(2, N)" in text


def test_reuse_replicas_min_above_max() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        ReusePolicy(replicas=(3, 1))
    _expect(exc, "replicas", (3, 1), "replicas=(1, 3)")


def test_reuse_concurrency_zero() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        ReusePolicy(concurrency=0)
    _expect(exc, "concurrency", 0, "at least 1")


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"replicas": 0}, "replicas"),
        ({"replicas": (1, 2, 3)}, "replicas"),
        ({"replicas": (1.0, 2)}, "replicas"),
        ({"replicas": "2"}, "replicas"),
        ({"idle_ttl": -1}, "idle_ttl"),
        ({"scaledown_ttl": timedelta(seconds=-5)}, "scaledown_ttl"),
        ({"idle_ttl": "5m"}, "idle_ttl"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"scope": "cluster"}, "scope"),
    ],
)
def test_reuse_other_bad_values(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        ReusePolicy(**kwargs)
    assert exc.value.param == param


# ---- Cache --------------------------------------------------------------------------------------


def test_cache_forms() -> None:
    assert Cache().behavior == "auto" and Cache().is_enabled()
    assert not Cache(behavior="disable").is_enabled()
    c = Cache(behavior="override", version_override="v1", ignored_inputs="ts", salt="s", serialize=True)
    assert c.ignored_inputs == ("ts",)
    assert c.get_version() == "v1"
    d = c.to_dict()
    json.dumps(d)
    assert d["behavior"] == "override" and d["version_override"] == "v1" and d["ignored_inputs"] == ["ts"]
    assert Cache(behavior="off").behavior == "disable"  # type: ignore[arg-type]
    assert Cache(max_age=timedelta(hours=1)).max_age_seconds == 3600


@pytest.mark.parametrize(
    ("value", "behavior"),
    [
        ("auto", "auto"),
        ("disable", "disable"),
        ("off", "disable"),
        (True, "auto"),
        (False, "disable"),
        (None, "disable"),
    ],
)
def test_normalize_cache(value: Any, behavior: str) -> None:
    assert normalize_cache(value, "TaskEnvironment 'etl'").behavior == behavior


def test_normalize_cache_passes_cache_through() -> None:
    c = Cache(behavior="override", version_override="v2")
    assert normalize_cache(c, "x") is c


def test_cache_override_without_version() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Cache(behavior="override")
    _expect(exc, "behavior", "override", "version_override='v1'")
    with pytest.raises(InvalidParameterError) as exc2:
        normalize_cache("override", "TaskEnvironment 'etl'")
    _expect(exc2, "cache", "override", "version_override='v1'")
    assert str(exc2.value).startswith("TaskEnvironment 'etl':")


def test_cache_version_override_pins_auto_as_the_anchor_does() -> None:
    # The anchor accepts a version with behavior='auto' and uses it as the version.
    assert Cache(behavior="auto", version_override="v1").get_version() == "v1"
    assert Cache(behavior="disable", version_override="v1").get_version() == ""


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"behavior": "sometimes"}, "behavior"),
        ({"ignored_inputs": ("not an identifier",)}, "ignored_inputs"),
        ({"ignored_inputs": 3}, "ignored_inputs"),
        ({"salt": 1}, "salt"),
        ({"serialize": "yes"}, "serialize"),
        ({"policies": [object()]}, "policies"),
        ({"max_age": -1}, "max_age"),
        ({"behavior": "override", "version_override": ""}, "version_override"),
    ],
)
def test_cache_other_bad_values(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Cache(**kwargs)
    assert exc.value.param == param


def test_normalize_cache_bad_type() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        normalize_cache(3, "task 'sq'")
    _expect(exc, "cache", 3, "'auto'")


def _f(x: int) -> int:
    return x + 1


def _g(x: int) -> int:
    return x + 2


def test_cache_versions_follow_source_and_policies() -> None:
    auto = Cache()
    v1 = auto.get_version(VersionParameters(func=_f))
    assert v1 == auto.get_version(VersionParameters(func=_f))
    assert v1 != auto.get_version(VersionParameters(func=_g))
    assert v1 != Cache(salt="x").get_version(VersionParameters(func=_f))
    assert isinstance(FunctionBodyPolicy(), CachePolicy)
    assert Cache(behavior="disable").get_version() == ""

    class Pinned:
        def get_version(self, salt: str, params: VersionParameters) -> str:
            return "pinned"

    c = Cache(policies=Pinned())
    assert isinstance(c.policies, tuple)
    assert c.get_version(VersionParameters(func=_f)) == c.get_version(VersionParameters(func=_g))


# ---- Retries ------------------------------------------------------------------------------------


def test_retry_forms() -> None:
    assert normalize_retries(None, "t").count == 0
    assert normalize_retries(3, "t") == RetryStrategy(count=3)
    s = RetryStrategy(count=10, backoff=Backoff(base=1, factor=2, cap=5))
    assert normalize_retries(s, "t") is s
    assert s.attempts == 11
    d = s.to_dict()
    json.dumps(d)
    assert d == {"count": 10, "backoff": {"base_seconds": 1.0, "factor": 2.0, "cap_seconds": 5.0}}
    assert RetryStrategy(count=2).delay(0) == 0.0


def test_retries_eleven() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        normalize_retries(11, "task 'square'")
    _expect(exc, "retries", 11, "less than or equal to 10")
    assert str(exc.value).startswith("task 'square':")
    with pytest.raises(InvalidParameterError) as exc2:
        RetryStrategy(count=11)
    _expect(exc2, "count", 11, "0 to 10")


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_retries_other_bad_values(bad: Any) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        normalize_retries(bad, "t")
    _expect(exc, "retries", bad, "0 to 10")


def test_backoff_delay() -> None:
    b = Backoff(base=1.0, factor=2.0, cap=10.0)
    assert [b.delay(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.delay(10_000) == 10.0  # no overflow
    assert b.compute_delay(2) == timedelta(seconds=4)
    const = Backoff(base=timedelta(seconds=3), factor=1.0, cap=None)
    assert const.delay(7) == 3.0
    rng = random.Random(0)
    jittered = [b.delay(3, jitter=0.5, rng=rng) for _ in range(20)]
    assert all(4.0 <= v <= 8.0 for v in jittered)
    assert len(set(jittered)) > 1
    assert Backoff(base=timedelta(seconds=10), factor=2.0, cap=timedelta(minutes=5)).delay(10) == 300.0


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"base": -1}, "base"),
        ({"factor": 0.5}, "factor"),
        ({"factor": float("nan")}, "factor"),
        ({"cap": -2}, "cap"),
        ({"factor": 2.0, "cap": None}, "cap"),
    ],
)
def test_backoff_bad_values(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        Backoff(**kwargs)
    assert exc.value.param == param


def test_backoff_bad_attempt() -> None:
    with pytest.raises(InvalidParameterError):
        Backoff().delay(-1)
    with pytest.raises(InvalidParameterError):
        Backoff().delay(1, jitter=2.0)


# ---- Timeout ------------------------------------------------------------------------------------


def test_timeout_forms() -> None:
    t = normalize_timeout(600, "t")
    assert t is not None and t.max_runtime == timedelta(seconds=600) and t.max_runtime_seconds == 600
    assert normalize_timeout(timedelta(minutes=1), "t") == Timeout(max_runtime=60)
    assert normalize_timeout(1.5, "t") == Timeout(max_runtime=timedelta(seconds=1.5))
    assert normalize_timeout(None, "t") is None
    assert normalize_timeout(0, "t") is None  # 0 = no limit, as in the anchor
    full = Timeout(max_runtime=60, max_queued_time=timedelta(minutes=15), deadline=7200)
    assert normalize_timeout(full, "t") is full
    assert (full.max_runtime_seconds, full.max_queued_seconds, full.deadline_seconds) == (60, 900, 7200)
    assert isinstance(full.deadline, timedelta)
    d = full.to_dict()
    json.dumps(d)
    assert d == {"max_runtime_seconds": 60.0, "max_queued_seconds": 900.0, "deadline_seconds": 7200.0}
    assert Timeout(max_runtime=None).max_runtime_seconds is None


def test_negative_timeout() -> None:
    with pytest.raises(InvalidParameterError) as exc:
        normalize_timeout(-5, "task 'square'")
    _expect(exc, "timeout", -5, "positive number of seconds")
    with pytest.raises(InvalidParameterError) as exc2:
        Timeout(deadline=timedelta(seconds=-1))
    _expect(exc2, "deadline", timedelta(seconds=-1), "timedelta(minutes=10)")


@pytest.mark.parametrize("bad", ["600", True, float("inf"), float("nan"), [600]])
def test_timeout_other_bad_values(bad: Any) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        normalize_timeout(bad, "t")
    assert exc.value.param == "timeout"


def test_values_are_frozen() -> None:
    for value in (ReusePolicy(), Cache(), RetryStrategy(1), Backoff(), Timeout(max_runtime=1)):
        with pytest.raises(AttributeError):
            value.__setattr__("x_field", 1)
        hash(value)
