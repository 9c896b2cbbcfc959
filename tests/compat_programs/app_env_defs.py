# covers: app.AppEnvironment, app.Scaling, app.Port, app.Parameter, app.Domain, app.Timeouts, app.Link, Image
# expect-source: anchor
# expect-exit: 0
# expect: {"is_environment": true, "name": "dashboard"}
# expect: {"replicas": [0, 2], "requires_auth": false}
# expect: {"params": ["greeting"], "port": 8080}
"""An app environment declared the way a user describes a web service (not served here)."""

import json

import flyte
import flyte.app

app = flyte.app.AppEnvironment(
    name="dashboard",
    image=flyte.Image.from_debian_base().with_pip_packages("fastapi", "uvicorn"),
    args=["uvicorn", "main:app", "--port", "8080"],
    port=8080,
    resources=flyte.Resources(cpu=1, memory="512Mi"),
    scaling=flyte.app.Scaling(replicas=(0, 2), scaledown_after=300),
    requires_auth=False,
    parameters=[flyte.app.Parameter(name="greeting", value="hi")],
)

if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"name": app.name, "is_environment": isinstance(app, flyte.Environment)}))
    print(
        "RESULT " + json.dumps({"replicas": list(app.scaling.replicas), "requires_auth": app.requires_auth})
    )
    port = app.port if isinstance(app.port, int) else app.port.port
    print("RESULT " + json.dumps({"port": port, "params": [p.name for p in app.parameters]}))
