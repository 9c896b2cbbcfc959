"""Demo: a small model server as a Flyte app, and a workflow whose tasks call it by name.

    pip install 'flyte-core[app]'                     # uvicorn + starlette
    flyte serve core/examples/app_hello.py            # 2 replicas behind http://127.0.0.1:8080
    curl 'http://127.0.0.1:8080/predict?text=great+tool'
    flyte run core/examples/app_hello.py score_all --texts '["good day", "bad news"]'
    flyte serialize core/examples/app_hello.py        # Deployment + Service + HPA-style spec

Or everything from Python: ``python core/examples/app_hello.py`` serves the app, runs the workflow
against it and stops it.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
import urllib.request
from typing import Any

import flyte
import flyte.app

app = flyte.app.AppEnvironment(
    name="sentiment",
    image=flyte.Image.from_debian_base().with_pip_packages("starlette", "uvicorn"),
    resources=flyte.Resources(cpu=1, memory="512Mi"),
    port=8080,
    scaling=flyte.app.Scaling(replicas=(2, 4), metric=flyte.app.Scaling.Concurrency(8), scaledown_after=30),
    env_vars={"MODEL_NAME": "tiny-lexicon"},
    requires_auth=False,
)

MODEL: dict[str, float] = {}


@app.on_startup
async def load_model() -> None:
    """Runs once per replica before it serves: load weights here."""
    MODEL.update({"good": 1.0, "great": 1.5, "love": 1.2, "bad": -1.0, "awful": -1.5, "hate": -1.2})


@app.server
def server() -> Any:
    """Return an ASGI app; each replica serves it with uvicorn on its own port."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    async def predict(request: Request) -> Response:
        words = request.query_params.get("text", "").lower().split()
        score = sum(MODEL.get(w, 0.0) for w in words)
        return JSONResponse(
            {"score": score, "model": os.environ["MODEL_NAME"], "replica": flyte.app.ctx().replica}
        )

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok" if MODEL else "loading", status_code=200 if MODEL else 503)

    return Starlette(routes=[Route("/predict", predict), Route("/health", health)])


env = flyte.TaskEnvironment(name="sentiment-client")


@env.task
def score(text: str) -> float:
    """A task calling the app by name: its URL comes from the running `flyte serve`."""
    url = f"{app.endpoint}/predict?{urllib.parse.urlencode({'text': text})}"
    with urllib.request.urlopen(url, timeout=30) as r:
        return float(json.loads(r.read())["score"])


@env.task
async def score_all(texts: list[str]) -> dict[str, float]:
    scores = await asyncio.gather(*(score.aio(text=t) for t in texts))
    return dict(zip(texts, scores))


if __name__ == "__main__":
    with flyte.with_servecontext(port=0).serve(app) as served:
        print(f"serving {served.name} at {served.endpoint}")
        run = flyte.run(score_all, texts=["great tool", "awful weather", "good and bad"])
        print(run.name, run.outputs()[0])
