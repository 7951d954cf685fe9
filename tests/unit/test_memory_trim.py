"""The idle memory trim (server/transport/memory.py): it gives memory back only once a load has drained."""

from __future__ import annotations

from collections_mcp.server.core.drain import Drain
from collections_mcp.server.transport.memory import IdleTrimmer, malloc_trim


def calls(drain: Drain, count: int) -> None:
    for _ in range(count):
        drain.enter(continuation=False)
        drain.leave()


def test_memory_is_handed_back_after_a_quiet_interval_following_enough_calls() -> None:
    drain, trimmed = Drain(), []
    trimmer = IdleTrimmer(drain, lambda: trimmed.append("trim"), min_calls=10)
    calls(drain, 10)
    assert trimmer.tick() is False, "calls ran during this interval: not quiet yet"
    assert trimmer.tick() is True and trimmed == ["trim"]
    assert trimmer.tick() is False and trimmed == ["trim"], "nothing ran since: nothing new to give back"


def test_no_trim_while_a_call_runs_or_a_conversation_waits_on_a_person() -> None:
    drain, trimmed = Drain(), []
    trimmer = IdleTrimmer(drain, lambda: trimmed.append("trim"), min_calls=10)
    calls(drain, 10)
    drain.enter(continuation=False)  # a long call (a plan waiting on a person) still open
    trimmer.tick()
    assert trimmer.tick() is False
    drain.leave()
    drain.conversation_started()  # 2026-07-28: between rounds no request is open, yet the call is not done
    trimmer.tick()
    assert trimmer.tick() is False and trimmed == []
    drain.conversation_ended()
    assert trimmer.tick() is True and trimmed == ["trim"]


def test_a_trickle_of_calls_does_not_pay_for_full_collections() -> None:
    drain, trimmed = Drain(), []
    trimmer = IdleTrimmer(drain, lambda: trimmed.append("trim"), min_calls=10)
    for _ in range(5):
        calls(drain, 1)
        trimmer.tick()
        trimmer.tick()
    assert trimmed == [], "5 calls in all: below the threshold"
    calls(drain, 5)
    trimmer.tick()
    assert trimmer.tick() is True and trimmed == ["trim"]


def test_glibc_malloc_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None, "this machine's C library is glibc"
    assert trim() in (0, 1)  # 1: memory was released, 0: there was none to release
