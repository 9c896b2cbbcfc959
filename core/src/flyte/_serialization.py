"""What a task's hooks may need to know about where they are being serialised for."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SerializationContext:
    """Passed to ``custom_config``/``container_args``/``sql``/``config`` so hooks can render paths."""

    project: str = "default"
    domain: str = "development"
    version: str = ""
    root_dir: str = "."
    image_uri: str | None = None
    input_path: str = "{{.input}}"
    output_path: str = "{{.outputPrefix}}"
    extra: dict[str, str] = field(default_factory=dict)
