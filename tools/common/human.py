"""Asking a person mid-call, as vendor code sees it: a plain `ask(question) -> answer` coroutine.

Vendor code (e.g. a Collect! contact plan) is written as one coroutine that calls `ask` whenever the
vendor wants an answer. How the question reaches a human (a pushed MCP elicitation, or a round of
`InputRequiredResult` on newer protocol versions) is the server's business (`server/core/conversations.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    """One question for a person: a message and either a flat JSON schema (strings, numbers, booleans,
    enums) answered in the client, or a URL the person opens (out-of-band input such as card details,
    which must never pass through the client or the LLM)."""

    message: str
    schema: dict[str, Any] = field(default_factory=dict)
    url: str | None = None
    elicitation_id: str | None = None


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
    """The connected client cannot ask a person (no elicitation support, or no URL mode for a URL question)."""


@dataclass(frozen=True)
class Person:
    """The person behind this tool call, as far as the client lets us reach them."""

    ask: Ask
    can_ask: bool
    can_open_urls: bool


async def _nobody(question: Question) -> Answer:
    raise HumanUnavailable("this MCP client does not support elicitation, so nobody can be asked")


NOBODY = Person(ask=_nobody, can_ask=False, can_open_urls=False)
