"""Asking a person mid-call, as vendor code sees it: a plain `ask(question) -> answer` coroutine.

Vendor code (e.g. a Collect! contact plan) is written as one coroutine that calls `ask` whenever the
vendor wants an answer. How the question reaches a human (a pushed MCP elicitation, or a round of
`InputRequiredResult` on newer protocol versions) is the server's business (`server/human.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    """One question for a person: a message and a flat JSON schema (strings, numbers, booleans, enums)."""

    message: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.action == "accept"


Ask = Callable[[Question], Awaitable[Answer]]
Progress = Callable[[float, float | None, str | None], Awaitable[None]]


class HumanUnavailable(Exception):
    """The connected client cannot ask a person (no elicitation support)."""


class HumanChannel(Protocol):
    """What a handler uses to run a conversation with a person."""

    def available(self) -> bool:
        """True when the client can relay questions to a person."""
        ...

    async def converse(self, run: Callable[[Ask, Progress], Awaitable[T]], *, label: str) -> T:
        """Run `run(ask, progress)` with questions relayed to a person; returns what `run` returns."""
        ...
