"""flyte.extras batching helpers, shell types and webhook receiver, used as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flyte
import pytest
from flyte.errors import InvalidParameterError
from flyte.extras import BatchStats, CostEstimator, DynamicBatcher, Prompt, TokenBatcher, TokenEstimator


@dataclass
class Word:
    text: str

    def estimate_cost(self) -> int:
        return len(self.text)


def _recording(batches: list[list[object]], delay: float = 0.0):  # type: ignore[no-untyped-def]
    async def process(batch: list[object]) -> list[object]:
        batches.append(list(batch))
        if delay:
            await asyncio.sleep(delay)
        return [f"<{getattr(r, 'text', r)}>" for r in batch]

    return process


def test_concurrent_producers_each_get_their_own_result() -> None:
    batches: list[list[object]] = []

    async def main() -> tuple[list[str], BatchStats]:
        async with DynamicBatcher(_recording(batches, 0.001), max_batch_size=8, batch_timeout_s=0.01) as b:

            async def producer(pid: int) -> list[str]:
                out = []
                for i in range(10):
                    fut = await b.submit(f"p{pid}-{i}")
                    out.append(await fut)
                return out

            results = await asyncio.gather(*(producer(p) for p in range(6)))
        return [r for rs in results for r in rs], b.stats

    flat, stats = asyncio.run(main())
    assert flat == [f"<p{p}-{i}>" for p in range(6) for i in range(10)]
    assert stats.total_submitted == stats.total_completed == 60
    assert stats.total_batches == len(batches) < 60  # concurrent producers were actually batched together
    assert max(len(b) for b in batches) > 1 and all(len(b) <= 8 for b in batches)
    assert stats.avg_batch_size == pytest.approx(60 / len(batches))
    assert stats.total_batch_cost == 60  # default_cost 1 each
    assert 0.0 < stats.utilization <= 1.0


def test_cost_budget_closes_batches_in_submission_order() -> None:
    batches: list[list[object]] = []

    async def main() -> list[str]:
        async with DynamicBatcher(_recording(batches), target_batch_cost=5, batch_timeout_s=1.0) as b:
            futs = await b.submit_batch([Word("aaa"), Word("bb"), Word("c"), Word("dddd"), Word("e")])
            return list(await asyncio.gather(*futs))

    assert asyncio.run(main()) == ["<aaa>", "<bb>", "<c>", "<dddd>", "<e>"]
    # a batch closes once its cost reaches the budget: 3+2 | 1+4 | 1 (flushed at stop)
    assert [[w.text for w in b] for b in batches] == [["aaa", "bb"], ["c", "dddd"], ["e"]]  # type: ignore[attr-defined]


def test_explicit_cost_and_estimator_function_win_over_the_record() -> None:
    batches: list[list[object]] = []

    async def main() -> BatchStats:
        async with DynamicBatcher(
            _recording(batches), cost_estimator=lambda r: 10, target_batch_cost=20, batch_timeout_s=1.0
        ) as b:
            futs = [
                await b.submit(Word("x")),
                await b.submit(Word("y")),
                await b.submit(Word("z"), estimated_cost=1),
            ]
            await asyncio.gather(*futs)
            return b.stats

    stats = asyncio.run(main())
    assert [len(b) for b in batches] == [2, 1] and stats.total_batch_cost == 21


def test_timeout_flushes_a_partial_batch_without_stop() -> None:
    async def main() -> tuple[str, int]:
        async with DynamicBatcher(_recording([]), target_batch_cost=1000, batch_timeout_s=0.05) as b:
            fut = await b.submit("lonely")
            result = await asyncio.wait_for(fut, 2.0)  # resolves well before stop() is reached
            return result, b.stats.total_batches

    assert asyncio.run(main()) == ("<lonely>", 1)


def test_errors_reach_only_the_submitters_of_the_failing_batch() -> None:
    async def process(batch: list[int]) -> list[int]:
        if 13 in batch:
            raise ValueError("unlucky batch")
        return [x * 2 for x in batch]

    async def main() -> list[object]:
        async with DynamicBatcher(process, max_batch_size=2, batch_timeout_s=1.0) as b:
            futs = await b.submit_batch([1, 2, 13, 4, 5, 6])
            return list(await asyncio.gather(*futs, return_exceptions=True))

    out = asyncio.run(main())
    assert out[:2] == [2, 4] and out[4:] == [10, 12]
    assert all(isinstance(e, ValueError) and "unlucky" in str(e) for e in out[2:4])


def test_wrong_result_count_is_an_error_for_that_batch() -> None:
    async def short(batch: list[int]) -> list[int]:
        return batch[:-1]

    async def main() -> None:
        async with DynamicBatcher(short, max_batch_size=3) as b:
            fut = await b.submit(1)
            await fut

    with pytest.raises(ValueError, match="one result per record"):
        asyncio.run(main())


def test_stop_processes_pending_work_and_then_refuses_submissions() -> None:
    async def main() -> tuple[list[str], bool]:
        b = DynamicBatcher(_recording([], 0.01), max_batch_size=2, batch_timeout_s=10.0)
        with pytest.raises(RuntimeError, match="not running"):
            await b.submit("early")
        await b.start()
        with pytest.raises(RuntimeError, match="already running"):
            await b.start()
        futs = await b.submit_batch(["a", "b", "c", "d", "e"])
        await b.stop()  # long timeout: only stop() can flush the last odd record
        assert all(f.done() for f in futs)
        with pytest.raises(RuntimeError, match="not running"):
            await b.submit("late")
        await b.stop()  # a second stop is a no-op
        return [f.result() for f in futs], b.is_running

    assert asyncio.run(main()) == (["<a>", "<b>", "<c>", "<d>", "<e>"], False)


def test_full_queue_applies_backpressure() -> None:
    async def main() -> tuple[bool, list[int]]:
        release = asyncio.Event()

        async def slow(batch: list[int]) -> list[int]:
            await release.wait()
            return batch

        async with DynamicBatcher(slow, max_batch_size=1, max_queue_size=2, prefetch_batches=1) as b:
            # room for 5: one in process_fn, one prefetched, one held by the collector, two queued
            futs = [await b.submit(i) for i in range(5)]
            blocked = asyncio.ensure_future(b.submit(99))
            await asyncio.sleep(0.05)
            was_blocked = not blocked.done()
            release.set()
            futs.append(await blocked)
            return was_blocked, list(await asyncio.gather(*futs))

    assert asyncio.run(main()) == (True, [0, 1, 2, 3, 4, 99])


def test_min_batch_size_waits_for_more_records() -> None:
    batches: list[list[object]] = []

    async def main() -> None:
        async with DynamicBatcher(_recording(batches), min_batch_size=3, batch_timeout_s=0.01) as b:
            first = await b.submit("a")
            await asyncio.sleep(0.05)  # several timeouts pass: still held back
            assert not first.done()
            await asyncio.gather(first, *(await b.submit_batch(["b", "c"])))

    asyncio.run(main())
    assert batches == [["a", "b", "c"]]


def test_token_batcher_and_prompt() -> None:
    batches: list[list[object]] = []

    async def main() -> list[object]:
        async with TokenBatcher(
            inference_fn=_recording(batches), target_batch_tokens=6, batch_timeout_s=1.0
        ) as b:
            futs = [
                await b.submit(Prompt("12345678")),  # 8 // 4 + 1 = 3 tokens
                await b.submit(Prompt("abcdefgh")),  # 3 -> budget of 6 reached
                await b.submit("raw", estimated_tokens=6),
            ]
            return list(await asyncio.gather(*futs))

    assert asyncio.run(main()) == ["<12345678>", "<abcdefgh>", "<raw>"]
    assert [len(b) for b in batches] == [2, 1]
    assert isinstance(Prompt("x"), TokenEstimator) and not isinstance(Prompt("x"), CostEstimator)
    assert isinstance(Word("x"), CostEstimator)
    with pytest.raises(TypeError, match="inference_fn"):
        TokenBatcher()


def test_bad_limits_name_the_field() -> None:
    async def fn(batch: list[int]) -> list[int]:
        return batch

    with pytest.raises(InvalidParameterError, match="max_batch_size"):
        DynamicBatcher(fn, max_batch_size=0)
    with pytest.raises(InvalidParameterError, match="min_batch_size"):
        DynamicBatcher(fn, min_batch_size=5, max_batch_size=2)
    with pytest.raises(InvalidParameterError, match="batch_timeout_s"):
        DynamicBatcher(fn, batch_timeout_s=-1)


def test_batcher_inside_a_task() -> None:
    env = flyte.TaskEnvironment(name="extras_batching")

    async def double(batch: list[int]) -> list[int]:
        return [2 * x for x in batch]

    @env.task
    async def fan_in(n: int) -> list[int]:
        async with DynamicBatcher(double, max_batch_size=3, batch_timeout_s=0.01) as b:
            futs = await asyncio.gather(*(b.submit(i) for i in range(n)))
            return list(await asyncio.gather(*futs))

    assert flyte.run(fan_in, 7).outputs()[0] == [0, 2, 4, 6, 8, 10, 12]


# ---- shell, model_streamer ------------------------------------------------------------------------------
def test_shell_declarations_and_create_explains() -> None:
    from flyte.extras import NotProvidedError, shell
    from flyte.io import File

    assert shell.FlagSpec.coerce("wa", None) == shell.FlagSpec(flag="-wa")
    assert shell.FlagSpec.coerce("b", ("--b", "repeat")).list_mode == "repeat"
    assert shell.FlagSpec.coerce("env", ("-e", "equals")).dict_mode == "equals"
    with pytest.raises(TypeError, match="unknown mode 'sideways'"):
        shell.FlagSpec.coerce("x", ("-x", "sideways"))
    assert (
        shell.Stdout().type is File
        and shell.Stderr(int).type is int
        and shell.Glob("*.bed").pattern == "*.bed"
    )
    with pytest.raises(TypeError, match=r"Stdout\.type"):
        shell.Stdout(list)
    with pytest.raises(NotProvidedError, match=r"flyteplugins\.shell\.ShellTask"):
        shell.create("bt", image="debian:12-slim", script="echo hi")


def test_model_streamer_names_explain_themselves() -> None:
    from flyte.extras import NotProvidedError, model_streamer

    for name in model_streamer.__all__:
        with pytest.raises(NotProvidedError, match=f"model_streamer.{name} is not provided"):
            getattr(model_streamer, name)
    with pytest.raises(AttributeError):
        model_streamer.nothing  # noqa: B018


# ---- webhooks ----------------------------------------------------------------------------------------------
def _github_like() -> Any:
    from flyte.extras import webhooks as wh

    def verify(body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        sent = wh.lower_headers(headers).get("x-hub-signature-256", "")
        return wh.constant_time_equals(sent, "sha256=" + wh.hex_hmac_sha256(secret, body))

    def parse(headers: Mapping[str, str], body: bytes) -> wh.WebhookEvent:
        data = wh.json_body(body)
        return wh.WebhookEvent(
            provider="github",
            event_type=wh.lower_headers(headers)["x-github-event"],
            action=data.get("action"),
            resource_id=str(data.get("number", "")) or None,
            scope=data.get("repo"),
            payload=data,
        )

    def handshake(headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        return {"pong": True} if wh.lower_headers(headers).get("x-github-event") == "ping" else None

    return wh.Provider(
        name="github", secret_env="TEST_GH_SECRET", verify=verify, parse=parse, handshake=handshake
    )


@contextlib.contextmanager
def _serving(asgi: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) for the block; stop it after."""
    uvicorn = pytest.importorskip("uvicorn")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _post(url: str, payload: object, headers: dict[str, str]) -> tuple[int, Any]:
    body = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _signed(secret: str, payload: object, event: str) -> dict[str, str]:
    from flyte.extras import webhooks as wh

    sig = "sha256=" + wh.hex_hmac_sha256(secret, json.dumps(payload).encode())
    return {"X-GitHub-Event": event, "X-Hub-Signature-256": sig}


def test_webhook_app_verifies_and_dispatches_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte.extras import webhooks as wh

    class PullRequest(wh.EventType):
        ANY = "pull_request"
        OPENED = "pull_request.opened"

    env = wh.WebhookAppEnvironment(name="hooks-test", providers=[_github_like()], scopes=["org/repo"])
    seen: list[str] = []

    @env.on_event(PullRequest.OPENED)
    async def on_opened(event: wh.WebhookEvent) -> str:
        seen.append(event.qualified_type)
        return f"triaged #{event.resource_id}"

    @env.on_event(PullRequest)
    async def on_any_pr(event: wh.WebhookEvent) -> str:
        raise RuntimeError("boom in handler")

    assert any(getattr(s, "key", None) == "TEST_GH_SECRET" for s in env.secrets)  # mounted for us
    opened = {"action": "opened", "number": 7, "repo": "org/repo"}
    with _serving(env.app) as base:
        monkeypatch.delenv("TEST_GH_SECRET", raising=False)
        status, reply = _post(f"{base}/webhook/github", opened, _signed("s3cret", opened, "pull_request"))
        assert status == 503 and "TEST_GH_SECRET is not set" in reply["detail"]

        monkeypatch.setenv("TEST_GH_SECRET", "s3cret")
        assert _post(f"{base}/webhook/github", {}, {"X-GitHub-Event": "ping"}) == (200, {"pong": True})
        status, reply = _post(f"{base}/webhook/github", opened, _signed("wrong", opened, "pull_request"))
        assert (status, reply["detail"]) == (401, "invalid github signature")
        status, reply = _post(f"{base}/webhook/gitlab", opened, {})
        assert status == 404 and "configured: ['github']" in reply["detail"]

        status, reply = _post(f"{base}/webhook/github", opened, _signed("s3cret", opened, "pull_request"))
        assert status == 200 and reply["event"] == "pull_request.opened" and reply["ok"] is False
        assert reply["results"] == {"on_opened": "triaged #7"}
        assert reply["errors"] == {"on_any_pr": "boom in handler"}

        elsewhere = {"action": "opened", "number": 8, "repo": "other/repo"}
        status, reply = _post(
            f"{base}/webhook/github", elsewhere, _signed("s3cret", elsewhere, "pull_request")
        )
        assert status == 200 and "not in allowlist" in reply["skipped"]

        with urllib.request.urlopen(f"{base}/api/events", timeout=10) as resp:
            events = json.loads(resp.read())
        with urllib.request.urlopen(f"{base}/api/status", timeout=10) as resp:
            status_doc = json.loads(resp.read())
    assert seen == ["pull_request.opened"]
    assert [e["resource_id"] for e in events] == ["8", "7"] and "payload" not in events[0]
    assert status_doc["providers"][0]["secret_mounted"] is True
    assert status_doc["handlers"] == ["pull_request.opened", "pull_request"]


def test_webhook_helpers_and_event() -> None:
    from flyte.extras import NotProvidedError
    from flyte.extras import webhooks as wh

    assert wh.hex_hmac_sha256("k", b"body") == hmac.new(b"k", b"body", hashlib.sha256).hexdigest()
    assert wh.constant_time_equals("\u00e9", "\u00e9") and not wh.constant_time_equals("a", "\u00e9")
    assert wh.json_body(b"[1]") == {"data": [1]} and wh.json_body(b"") == {}
    with pytest.raises(wh.SignatureError, match="invalid webhook body"):
        wh.json_body(b"{nope")
    a = wh.WebhookEvent(
        provider="jira", event_type="issue", action="updated", resource_id="J-1", occurred_at="t1"
    )
    b = wh.WebhookEvent(
        provider="jira", event_type="issue", action="updated", resource_id="J-1", occurred_at="t2"
    )
    assert a.qualified_type == "issue.updated" and len(a.dedupe_key()) == 32
    assert a.dedupe_key() == a.model_copy().dedupe_key() != b.dedupe_key()
    with pytest.raises(InvalidParameterError, match="providers"):
        wh.WebhookAppEnvironment(name="no-providers")
    with pytest.raises(NotProvidedError, match="run labels"):
        wh.run_once(None, key="k")
    with pytest.raises(NotProvidedError, match="run labels"):
        asyncio.run(wh.blocking_run.aio("k"))


HOOKS_APP = """
import flyte.app
from flyte.extras import webhooks as wh


def parse(headers, body):
    data = wh.json_body(body)
    return wh.WebhookEvent(provider="plain", event_type=data["type"], resource_id=data.get("id"))


provider = wh.Provider(
    name="plain",
    secret_env="PLAIN_HOOK_TOKEN",
    verify=lambda body, headers, secret: wh.constant_time_equals(headers.get("x-token", ""), secret),
    parse=parse,
)
hooks = wh.WebhookAppEnvironment(name="plain-hooks", providers=[provider], require_signature=False)


@hooks.on_event("build")
async def on_build(event):
    return {"seen": event.resource_id}
"""


def test_webhook_app_served_by_flyte_serve(
    flyte_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "plain_hooks_app.py").write_text(HOOKS_APP)
    monkeypatch.syspath_prepend(str(tmp_path / "svc"))
    from plain_hooks_app import hooks  # type: ignore[import-not-found]

    handle = flyte.with_servecontext(port=0).serve(hooks)
    try:
        url = handle.endpoint.rstrip("/")
        status, reply = _post(f"{url}/webhook/plain", {"type": "build", "id": "b-1"}, {})
        assert status == 200 and reply["results"] == {"on_build": {"seen": "b-1"}}
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as resp:
            assert json.loads(resp.read()) == {"status": "healthy"}
    finally:
        handle.deactivate()
