# covers: flyte.notify.Webhook, flyte.notify.Slack, flyte.notify.Email, with_runcontext(notifications=), notifications on run phases
# expect-source: anchor
# expect-exit: 0
# expect: {"empty_recipients": "rejected"}
# expect: {"out": 2, "received": [{"body": {"msg": "done"}, "path": "/ok"}]}
# expect: {"received": [{"body": {"text": "failed"}, "path": "/slack"}]}
"""A local run tells a webhook receiver (on 127.0.0.1) that it ended; only matching phases are sent."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import flyte
import flyte.notify as notify
from flyte.models import ActionPhase

env = flyte.TaskEnvironment(name="notify_corpus")
received: list[dict] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        received.append({"path": self.path, "body": json.loads(self.rfile.read(size) or b"null")})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@env.task
def add(x: int) -> int:
    return x + 1


@env.task
def fail(x: int) -> int:
    raise ValueError("no")


if __name__ == "__main__":
    flyte.init()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        try:
            notify.Email(on_phase=ActionPhase.FAILED, recipients=[])
        except ValueError:
            print("RESULT " + json.dumps({"empty_recipients": "rejected"}))
        hooks = (
            notify.Webhook(on_phase=ActionPhase.SUCCEEDED, url=base + "/ok", body={"msg": "done"}),
            notify.Slack(on_phase=ActionPhase.FAILED, webhook_url=base + "/slack", message="failed"),
        )
        out = flyte.with_runcontext(notifications=hooks).run(add, x=1).outputs()[0]
        print("RESULT " + json.dumps({"out": out, "received": received}))
        received.clear()
        try:
            flyte.with_runcontext(notifications=hooks).run(fail, x=1)
        except Exception:
            pass
        print("RESULT " + json.dumps({"received": received}))
    finally:
        server.shutdown()
