"""The reply a source builds: what the assistant says, before any rendering.

Sources fill a :class:`Reply`; renderers turn it into a JSON completion or a
sequence of chunks. Neither side knows the other's format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON document, as the API sends it


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    prompt_details: dict[str, int] = field(default_factory=dict)
    completion_details: dict[str, int] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Reply:
    id: str
    created: int
    model: str
    content: str | None
    finish_reason: str
    usage: Usage
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    audio: dict[str, Any] | None = None
    source: str = "generated"  # "generated", a fixture id, a recording...
