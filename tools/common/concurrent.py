"""Independent vendor reads run concurrently, where one failure must not cancel the others."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from anyio.abc import TaskGroup

from collections_mcp.tools.common.errors import VendorError

T = TypeVar("T")

log = logging.getLogger("collections_mcp.accounts")


class Outcome(Generic[T]):
    """What one concurrent read produced: a value or the exception it raised (never both)."""

    def __init__(self) -> None:
        self.done = False
        self.value: T | None = None
        self.error: Exception | None = None

    def get(self) -> T:
        """The value, or re-raise the read's exception."""
        if self.error is not None:
            raise self.error
        assert self.done, "read not finished: call get() after the task group exits"
        return self.value  # type: ignore[return-value]  # T itself may include None

    def describe_error(self) -> str:
        """Why it failed, safe to show: vendor errors say it themselves; anything else is only named."""
        return describe_failure(self.error)


def describe_failure(error: BaseException | None) -> str:
    """Why a read failed, safe to show: vendor errors say it themselves; anything else is only named."""
    if isinstance(error, VendorError):
        return str(error)
    return f"internal error ({type(error).__name__})"


def start(group: TaskGroup, read: Callable[[], Awaitable[T]]) -> Outcome[T]:
    """Run `read` in `group`; one failure does not cancel the other reads (unlike a bare task group)."""
    outcome: Outcome[T] = Outcome()

    async def run() -> None:
        try:
            outcome.value = await read()
        except Exception as exc:  # kept for the caller to report or re-raise; cancellation still propagates
            if not isinstance(exc, VendorError):
                log.exception("accounts: a sub-read failed unexpectedly")
            outcome.error = exc
        outcome.done = True

    group.start_soon(run)
    return outcome
