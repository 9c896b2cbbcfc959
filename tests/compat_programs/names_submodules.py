# covers: every name in flyte.io, flyte.app and flyte.extras __all__ (presence)
# expect-source: anchor
# expect-exit: 0
# expect: {"missing": [], "module": "flyte.io"}
# expect: {"missing": [], "module": "flyte.app"}
# expect: {"missing": [], "module": "flyte.extras"}
"""Which public names of flyte.io, flyte.app and flyte.extras this SDK provides."""

import importlib
import json

MODULES = {
    "flyte.io": ["PARQUET", "DataFrame", "Dir", "EmptyDir", "File", "HashFunction"],
    "flyte.app": [
        "AppEndpoint",
        "AppEnvironment",
        "ArtifactValue",
        "ConnectorEnvironment",
        "DeployedAppEnvironment",
        "Domain",
        "Link",
        "Parameter",
        "Port",
        "RunOutput",
        "Scaling",
        "Subdomain",
        "Timeouts",
        "ctx",
        "get_parameter",
    ],
    "flyte.extras": [
        "BatchStats",
        "ContainerTask",
        "CostEstimator",
        "DynamicBatcher",
        "Prompt",
        "Sleep",
        "SleepTask",
        "TokenBatcher",
        "TokenEstimator",
        "model_streamer",
        "serialize",
        "serialize_env",
        "shell",
        "webhooks",
    ],
}

if __name__ == "__main__":
    for mod_name, names in MODULES.items():
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as e:
            print("RESULT " + json.dumps({"module": mod_name, "import_error": type(e).__name__}))
            continue
        missing = [n for n in names if not hasattr(mod, n)]
        print("RESULT " + json.dumps({"module": mod_name, "missing": missing}))
