"""What every benchmark shares: the result row, statistics, process readings, the printed table."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["met", "NOT MET", "info"]


@dataclass
class Row:
    """One line of the table. `ratio` is ours / baseline; `ok` says whether the target holds."""

    name: str
    ours: float
    baseline: float
    unit: str
    ratio: float
    target: str
    ok: bool | None  # None: informational row, no target
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        if self.ok is None:
            return "info"
        return "met" if self.ok else "NOT MET"

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": self.verdict}


def ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline > 0 else math.inf


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    """Wall time of one awaited call, in milliseconds."""
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1000


async def alternate(
    ours: Callable[[], Awaitable[Any]], baseline: Callable[[], Awaitable[Any]], *, warmup: int, runs: int
) -> tuple[list[float], list[float]]:
    """Time both sides interleaved (ours, baseline, ours, ...) so machine noise hits both alike.
    The first `warmup` pairs are run and thrown away."""
    for _ in range(warmup):
        await ours()
        await baseline()
    ours_ms: list[float] = []
    base_ms: list[float] = []
    for _ in range(runs):
        ours_ms.append(await timed(ours))
        base_ms.append(await timed(baseline))
    return ours_ms, base_ms


# ------------------------------------------------------------------------------------------- process readings

_TICKS = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int | str = "self") -> float:
    """Resident set size (VmRSS) of a process in MiB, from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time a process has used so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


# ------------------------------------------------------------------------------------------------- the table


def _number(value: float, unit: str) -> str:
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if unit in ("B", "calls/s", "tokens"):
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}" if value < 100 else f"{value:,.1f} {unit}"


def table(rows: list[Row]) -> list[str]:
    header = ("benchmark", "ours", "baseline", "ratio", "target", "verdict")
    cells = [
        (row.name, _number(row.ours, row.unit), _number(row.baseline, row.unit), f"{row.ratio:.2f}x", row.target, row.verdict)
        for row in rows
    ]
    widths = [max(len(line[column]) for line in [header, *cells]) for column in range(len(header))]
    rule = "-+-".join("-" * width for width in widths)
    lines = [" | ".join(text.ljust(width) for text, width in zip(header, widths, strict=True)), rule]
    lines += [" | ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)) for line in cells]
    return lines


def markdown_table(rows: list[Row]) -> list[str]:
    lines = ["| benchmark | ours | baseline | ratio | target | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row.name} | {_number(row.ours, row.unit)} | {_number(row.baseline, row.unit)} | "
            f"{row.ratio:.2f}x | {row.target} | {row.verdict} |"
        )
    return lines
