"""Prompt bridge: Collect!'s 12-prompt plan MANY run through `collect_run_contact_plan`, every prompt
answered at once by the client's elicitation callback, against a client that answers the same websocket
prompts itself (the `websockets` library plus the runplan POST with httpx). Both sides include the
simulator's own time, so (ours - baseline) / 12 is what the bridge adds per prompt."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.types import ElicitResult
from websockets.asyncio.client import connect

from bench.common import Row, median, ratio, timed
from bench.procs import Sandbox, Server

PLAN, ROWID, PROMPTS = "MANY", 104, 12
ADDED_LIMIT_MS = 5.0
ERAS = {"2026-07-28": "auto", "2025-11-25": "legacy"}


async def _answer_ok(context: Any, params: Any) -> ElicitResult:
    return ElicitResult(action="accept", content={"choice": "OK"})


class DirectClient:
    """Runs a plan the way an integration without MCP would: websocket + runplan POST, answering button 0."""

    def __init__(self, http: httpx.AsyncClient, token: str, websocket_url: str) -> None:
        self.http, self.token, self.websocket_url = http, token, websocket_url

    async def run(self, rowid: int) -> int:
        headers = {"Authorization": f"Bearer {self.token}"}
        answered = 0
        async with connect(self.websocket_url, additional_headers=headers) as ws:
            key = json.loads(await ws.recv())["message"]
            async with anyio.create_task_group() as group:

                async def post() -> None:
                    body = {"plan": PLAN, "debtor": rowid, "websocket-id": key}
                    response = await self.http.post("/api/v1/collect/app/runplan", json=body, headers=headers)
                    if response.status_code != 200 or response.json().get("status") not in (200, "200", None):
                        raise RuntimeError(f"runplan: HTTP {response.status_code} {response.text[:200]}")
                    group.cancel_scope.cancel()  # the plan is finished

                group.start_soon(post)
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "prompt":
                        answered += 1
                        await ws.send(json.dumps({"jobid": message["jobid"], "button": 0}))
        if answered != PROMPTS:
            raise RuntimeError(f"the direct client answered {answered} prompts, expected {PROMPTS}")
        return answered


async def run(sandbox: Sandbox, server: Server, *, quick: bool) -> list[Row]:
    runs, warmup = (5, 1) if quick else (12, 2)
    info = sandbox.info["collect"]
    rows = []
    async with httpx.AsyncClient(base_url=info["base_url"], timeout=60) as http:
        login = await http.post("/api/v1/auth/login", json={"op_id": info["operator_id"], "op_password": info["operator_password"]})
        direct = DirectClient(http, login.json()["result"]["access_token"], info["websocket_url"])
        for era, mode in ERAS.items():
            async with Client(server.url, mode=mode, elicitation_callback=_answer_ok, input_required_max_rounds=50) as client:  # type: ignore[arg-type]

                async def ours(client: Client = client) -> None:
                    arguments = {"plan": PLAN, "record_type": "debtor", "rowid": ROWID, "idempotency_key": uuid.uuid4().hex}
                    result = await client.call_tool("collect_run_contact_plan", arguments)
                    data = result.structured_content or {}
                    if result.is_error or data.get("status") != "completed" or len(data.get("prompts", [])) != PROMPTS:
                        raise RuntimeError(f"collect_run_contact_plan failed: {result.content}")

                ours_ms: list[float] = []
                base_ms: list[float] = []
                for index in range(warmup + runs):
                    took_ours, took_base = await timed(ours), await timed(lambda: direct.run(ROWID))
                    if index >= warmup:
                        ours_ms.append(took_ours)
                        base_ms.append(took_base)
            per_ours, per_base = median(ours_ms) / PROMPTS, median(base_ms) / PROMPTS
            added = per_ours - per_base
            rows.append(Row(
                name=f"prompt bridge per prompt ({era})", ours=per_ours, baseline=per_base, unit="ms",
                ratio=ratio(per_ours, per_base), target=f"<= +{ADDED_LIMIT_MS:.0f} ms/prompt", ok=added <= ADDED_LIMIT_MS,
                details={"era": era, "runs": runs, "prompts": PROMPTS, "added_ms_per_prompt": added,
                         "plan_ms_ours": median(ours_ms), "plan_ms_direct": median(base_ms)},
            ))  # fmt: skip
    return rows
