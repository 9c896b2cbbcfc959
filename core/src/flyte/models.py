"""``flyte.models``: the value types the reference SDK exposes under this name."""

from flyte._context import ActionID, RawDataPath, TaskContext
from flyte._run import ActionOutputs, ActionPhase

__all__ = ["ActionID", "ActionOutputs", "ActionPhase", "RawDataPath", "TaskContext"]
