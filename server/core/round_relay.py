"""Rounds of a 2026-07-28 conversation held by another replica: what one replica hands another, and the relay the
conversation registry reaches other replicas through (implemented in server/replicas/).

A conversation (a Collect! plan waiting on a person, a payment waiting for its secure page) lives in the memory of
the replica that started it, its owner. Behind a plain round-robin balancer the client's next round may reach
another replica. That replica finds the conversation's id in the sealed `request_state` (every replica unseals it
with the shared keys), hands the round (the person's answer and the question number) to the owner, and returns
what the owner answers (the next question, or the finished call's rendered result or error) as its own result.
Every policy stage (audit, idempotency, confirmation...) runs once, on the owner; the replica the client reached
only relays.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

# Who asked the pending question: a policy stage before the tool ran (confirmation, payment page, compliance
# override: nothing was sent to the vendor yet), the tool itself in the middle of its vendor work (a Collect!
# plan's prompt), or nobody ("working": the vendor work was running when the round ended).
Phase = Literal["policy", "tool", "working"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelayedAnswer(_Wire):
    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] = Field(default_factory=dict)


class RelayedQuestion(_Wire):
    message: str
    form: dict[str, Any] = Field(default_factory=dict)  # the JSON schema of a form question
    url: str | None = None  # a URL question (the secure payment page)


class ProgressNote(_Wire):
    progress: float
    total: float | None = None
    message: str | None = None


class RelayedRound(_Wire):
    """One round, handed to the replica holding the conversation."""

    conversation: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0)
    answer: RelayedAnswer | None = None  # the client's answer to question `seq`, if it gave one
    opens_urls: bool = False  # the client can open a URL for the person (URL-mode elicitation)


class RoundReply(_Wire):
    """What the owner answers: the next question, "working" (ask again), the call's rendered result or error, or
    "gone" (no such conversation here: it ended or expired)."""

    outcome: Literal["question", "working", "result", "error", "gone"]
    seq: int = 0
    phase: Phase = "policy"
    question: RelayedQuestion | None = None
    result: dict[str, Any] | None = None  # the CallToolResult, as the MCP wire carries it
    error: str | None = None  # the tool error's text, scrubbed
    progress: list[ProgressNote] = Field(default_factory=list)  # reported during the round, replayed to the client


class OwnerLost(Exception):
    """The replica holding the conversation did not answer this round.

    `stopped`: its process is gone (its lease lapsed, or another process took its replica id); otherwise it still
    renews its lease but could not be reached. `delivered`: False when the answer certainly never reached it (no
    connection could be made, or it was known dead before anything was sent), None when it may have."""

    def __init__(self, *, stopped: bool, delivered: bool | None, detail: str = "") -> None:
        super().__init__(detail or ("owner stopped" if stopped else "owner unreachable"))
        self.stopped = stopped
        self.delivered = delivered


class RoundRelay(Protocol):
    """How a conversation registry works with other replicas (set when several replicas share a database)."""

    async def claim(self, conversation_id: str) -> None:
        """Record this replica as the conversation's owner (before its first question leaves); raises
        `StateUnavailable` when the shared database cannot record it."""
        ...

    def release(self, conversation_id: str) -> None:
        """The conversation ended here: forget its owner (in the background; best effort)."""
        ...

    async def forward(self, relayed: RelayedRound) -> RoundReply:
        """Hand a round to the conversation's owner. A conversation no replica holds answers "gone"; an owner that
        stopped or cannot be reached raises `OwnerLost`."""
        ...
