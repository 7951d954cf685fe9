"""Baselines talk to the simulators directly, the way a hand-written integration would: a plain
`httpx.AsyncClient` with keep-alive, logged in once, the same requests our vendor clients send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bench.procs import Sandbox

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass
class Scollect:
    http: httpx.AsyncClient
    token: str

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        response = await self.http.request(method, path, json=body, headers={"Authorization": f"Bearer {self.token}"})
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}")
        return response


# The seven reads accounts_snapshot fans out (tools/accounts/tools.py).
def snapshot_requests(file_number: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/getaccount/{file_number}", None),
        ("POST", "/getAlaccountdata", {"FileNumber": file_number}),
        ("GET", f"/getphones/{file_number}", None),
        ("GET", f"/getnotes/{file_number}", None),
        ("GET", f"/getattempts/{file_number}", None),
        ("GET", f"/getpayments/{file_number}", None),
        ("POST", "/getAlpaymentdata", {"FileNumber": file_number}),
    ]


@asynccontextmanager
async def scollect(sandbox: Sandbox) -> AsyncIterator[Scollect]:
    info = sandbox.info["scollect"]
    async with httpx.AsyncClient(base_url=info["base_url"], headers=JSON_HEADERS, timeout=30) as http:
        login = await http.post("/login", json={"apikey": info["api_key"], "pin": info["pin"]})
        token = login.json()["result"]["access_token"]
        yield Scollect(http=http, token=token)
