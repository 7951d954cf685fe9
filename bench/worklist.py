"""The worklist against the per-account tool in a loop: ranking a ~200-account portfolio with `accounts_worklist`
(one call; every account's reads concurrent, COLLECTIONS_MCP_ACCOUNTS_WORKLIST_CONCURRENCY at a time) against what an
agent did before it: `scollect_list_portfolio_accounts`, then `accounts_check_contact` for every account, one after
the other (the review_worklist prompt walked it through exactly that).

As in the fan-out benchmark, the simulators run in a process of their own (with enough demo accounts that the
largest portfolio has about 200, and the bench's latency per request) and our server is `collections-mcp serve`;
both sides are the SDK `Client` over streamable HTTP. The row also says how many vendor round trips the worklist
cost (its time over the latency): the floor is the portfolio read, ceil(accounts / concurrency) rounds of account
reads, and the page's offers.
"""

from __future__ import annotations

from typing import Any

from mcp import Client

from bench.common import Row, median, ratio, timed
from bench.procs import our_server, sandbox

PORTFOLIO = "C2CLA 12.1.22"
ACCOUNTS = 1090  # demo accounts in all: the portfolio above gets about 200 of them (239 with the default seed)
TARGET = 0.10


async def run(*, quick: bool, latency_ms: float) -> list[Row]:
    runs = 3 if quick else 7
    async with (
        sandbox(latency_ms, ACCOUNTS) as vendors,
        our_server(vendors, LOG_LEVEL="WARNING") as server,
        Client(server.url) as client,
    ):
        listed = await client.call_tool("scollect_list_portfolio_accounts", {"portfolio": PORTFOLIO, "limit": 200})
        size = (listed.structured_content or {})["total"]

        async def worklist() -> None:
            result = await client.call_tool("accounts_worklist", {"portfolio": PORTFOLIO})
            data: dict[str, Any] = result.structured_content or {}
            if result.is_error or data.get("counts", {}).get("not_checked"):
                raise RuntimeError(f"accounts_worklist failed: {result.content}")

        async def loop() -> None:
            offset: int | None = 0
            while offset is not None:  # every page, as the agent had to
                page = await client.call_tool(
                    "scollect_list_portfolio_accounts", {"portfolio": PORTFOLIO, "limit": 200, "offset": offset}
                )
                listed_page = page.structured_content or {}
                for account in listed_page["items"]:
                    verdict = await client.call_tool(
                        "accounts_check_contact", {"file_number": account["file_number"], "channel": "call"}
                    )
                    if verdict.is_error:
                        raise RuntimeError(f"accounts_check_contact failed: {verdict.content}")
                offset = listed_page.get("next_offset")

        await worklist()  # warm-up: logins, pools
        await loop()
        ours = [await timed(worklist) for _ in range(runs)]
        baseline = [await timed(loop) for _ in range(max(2, runs // 2))]
    worklist_ms, loop_ms = median(ours), median(baseline)
    details = {"runs": runs, "portfolio_accounts": size, "vendor_latency_ms": latency_ms,
               "worklist_in_vendor_round_trips": round(worklist_ms / latency_ms, 1) if latency_ms else None,
               "loop_tool_calls": size + 2}  # fmt: skip
    return [Row(name=f"worklist ({size} accounts) vs per-account check in a loop", ours=worklist_ms, baseline=loop_ms,
                unit="ms", ratio=ratio(worklist_ms, loop_ms), target=f"<= {TARGET:.2f}x",
                ok=ratio(worklist_ms, loop_ms) <= TARGET, details=details)]  # fmt: skip
