# covers: with_servecontext(mode="local").serve, app.AppEnvironment.server, AppEnvironment.get_port, app endpoint, activate/deactivate, a task calling the app
# expect-source: anchor
# expect-exit: 0
# expect: {"direct": 5}
# expect: {"from_task": 9}
"""An app served locally from a decorated server function, called from a script and from a task."""

import json
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import flyte
from flyte.app import AppEnvironment

app_env = AppEnvironment(name="adder-app", port=18473, requires_auth=False)
task_env = flyte.TaskEnvironment(name="app_caller")


class AddHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/add/"):
            a, b = (int(p) for p in self.path.split("/")[2:4])
            body = json.dumps({"sum": a + b}).encode()
        else:
            body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@app_env.server
def serve() -> None:
    HTTPServer(("127.0.0.1", app_env.get_port().port), AddHandler).serve_forever()


def call(endpoint: str, a: int, b: int) -> int:
    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/add/{a}/{b}", timeout=5) as resp:
        return json.loads(resp.read())["sum"]


@task_env.task
async def add_via_app(a: int, b: int) -> int:
    return call(app_env.endpoint, a, b)


if __name__ == "__main__":
    flyte.init()
    app = flyte.with_servecontext(mode="local").serve(app_env)
    app.activate()
    try:
        print("RESULT " + json.dumps({"direct": call(app.endpoint, 2, 3)}))
        print("RESULT " + json.dumps({"from_task": flyte.run(add_via_app, a=4, b=5).outputs()[0]}))
    finally:
        app.deactivate()
