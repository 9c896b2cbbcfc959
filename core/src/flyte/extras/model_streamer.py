"""The anchor SDK's ``flyte.extras.model_streamer``: present by name, not provided.

The anchor streams safetensors weights from its object store straight into GPU memory with
parallel ranged reads, and builds ``transformers``/vLLM models around them. That needs ``torch``,
an accelerator and the anchor's remote blob store; this SDK's storage is a local directory, where
plain ``safetensors.torch.load_file`` (or ``from_pretrained``) already reads at disk speed. Each
name therefore exists and raises :class:`flyte.extras.NotProvidedError` explaining this, instead of
an ``AttributeError``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LoadResult", "ModelStreamer", "empty_weights", "load_hf_model", "missing_parameters"]  # noqa: F822 (lazy)

_WHY = (
    "streams weights from the anchor's object store onto a GPU (needs torch and the remote blob store). "
    "This SDK keeps data on local disk: load weights with safetensors.torch.load_file or "
    "transformers' from_pretrained from a flyte.io.File/Dir's local path instead."
)


def __getattr__(name: str) -> Any:
    if name in __all__:
        from flyte.extras import NotProvidedError

        raise NotProvidedError(f"flyte.extras.model_streamer.{name} is not provided: it {_WHY}")
    raise AttributeError(f"module 'flyte.extras.model_streamer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
