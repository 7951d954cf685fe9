"""This process as one replica among several: its presence in the shared owner table, the rounds it hands to the
replicas holding their conversations (and takes from them), and the HTTP requests it passes on to the replica that
holds their session or payment link.

Design (docs/deploy.md, "What is routed and why"): a conversation stays in the memory of the replica that started
it, and that replica records itself as the owner in the shared database, with its internal address. Whichever
replica a later round reaches finds the owner there and hands it the round over HTTP, signed with a key derived from
the shared secret (signing.py); the owner runs the round exactly as if the client had come to it (policy stages
included, once) and answers with the next question or the rendered outcome. The alternative, PostgreSQL
LISTEN/NOTIFY, would put every answer (and every rendered result) through the database and still need a reply
channel; one HTTP request to the owner is one hop, carries its own timeout, and fails at once (connection
refused) when the owner's process is gone, which is what a dead owner must produce: a clear error within seconds.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
import anyio.abc
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from collections_mcp.server.core.access import is_loopback
from collections_mcp.server.core.conversations import ROUND_WAIT_SECONDS, Conversations
from collections_mcp.server.core.drain import Drain
from collections_mcp.server.core.round_relay import OwnerLost, RelayedRound, RoundReply
from collections_mcp.server.replicas.signing import SIGNATURE_HEADER, Signer
from collections_mcp.server.state.ownership import OwnerTable, Replica, ReplicaPresence
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.replicas")

INTERNAL_PREFIX = "/_collections-mcp/"
ROUNDS_PATH = INTERNAL_PREFIX + "rounds"
FORWARDED_HEADER = "x-collections-mcp-forwarded-by"
CONNECT_SECONDS = 3.0
MAX_ROUND_BYTES = 1_048_576
# Headers that belong to one hop, never passed on (RFC 9110 7.6.1), plus the body length (recomputed).
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer", b"trailers",
    b"transfer-encoding", b"upgrade", b"content-length",
})  # fmt: skip


class _Unsent(Exception):
    """Nothing reached the other replica (no connection could be made)."""


class _Broken(Exception):
    """The exchange failed after the request may have reached the other replica."""


class Replication:
    """One replica: `running()` for as long as the server serves (its registration with a renewed lease, the HTTP
    client to the others); the conversation registry's `RoundRelay`; the internal rounds endpoint; HTTP proxying."""

    def __init__(
        self,
        *,
        replica_id: str,
        internal_url: str,
        secrets: list[bytes],
        owners: OwnerTable,
        lease_seconds: float,
        drain: Drain,
        max_body_bytes: int = MAX_ROUND_BYTES,
    ) -> None:
        self.replica_id = replica_id
        self.internal_url = internal_url.rstrip("/")
        self.signer = Signer(secrets)
        self.owners = owners
        self.lease_seconds = lease_seconds
        self.drain = drain
        self.max_body_bytes = max_body_bytes
        self.presence = ReplicaPresence(owners, replica_id, self.internal_url, lease_seconds)
        # Set by the server's lifespan: the registry relayed rounds are run in.
        self.conversations: Conversations | None = None
        self._http: httpx.AsyncClient | None = None
        self._background: anyio.abc.TaskGroup | None = None

    @property
    def poll_seconds(self) -> float:
        """How often an owner's liveness is looked at while waiting on it (its lease is renewed this often)."""
        return self.lease_seconds / 3

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Replication]:
        # Rounds wait up to ROUND_WAIT_SECONDS at the owner; a proxied stream (a legacy session's SSE) may stay
        # open while a person answers: neither has a fixed read timeout, both are bounded by the owner's lease
        # instead (a watcher ends them when the owner's process is gone). Connecting is bounded on its own.
        timeout = httpx.Timeout(connect=CONNECT_SECONDS, read=None, write=30.0, pool=CONNECT_SECONDS)
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        async with (
            httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False) as http,
            self.presence.alive(),
            anyio.create_task_group() as background,
        ):
            self._http, self._background = http, background
            log.info("replica %s registered (other replicas reach it at %s)", self.replica_id, self.internal_url)
            try:
                yield self
            finally:
                self._http = self._background = None
                background.cancel_scope.cancel()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("the replica is not running")
        return self._http

    # -- RoundRelay: conversations held here, rounds handed elsewhere ------------------------------------------

    async def claim(self, conversation_id: str) -> None:
        await self.presence.claim(conversation_id)

    def release(self, conversation_id: str) -> None:
        if self._background is not None:
            self._background.start_soon(self._release, conversation_id)

    async def _release(self, conversation_id: str) -> None:
        try:
            await self.presence.release(conversation_id)
        except StateUnavailable as exc:  # the row goes when this replica unregisters, or its lease lapses
            log.warning("could not release conversation %s: %s", conversation_id, exc)

    async def forward(self, relayed: RelayedRound) -> RoundReply:
        owner = await self.owners.owner(relayed.conversation)
        if owner is None or (owner.alive and owner.replica_id == self.replica_id):
            return RoundReply(outcome="gone")  # no replica holds it (it ended), or it ended here meanwhile
        if not owner.alive:
            raise OwnerLost(stopped=True, delivered=False, detail=f"replica {owner.replica_id} stopped")
        body = relayed.model_dump_json().encode()
        headers = {SIGNATURE_HEADER: self.signer.sign("POST", ROUNDS_PATH, body), "content-type": "application/json",
                   FORWARDED_HEADER: self.replica_id}  # fmt: skip
        timeout = httpx.Timeout(CONNECT_SECONDS, read=ROUND_WAIT_SECONDS + 30.0)  # the owner's round wait, and some

        async def post() -> RoundReply:
            try:
                response = await self._client().post(f"{owner.address}{ROUNDS_PATH}", content=body, headers=headers,
                                                      timeout=timeout)  # fmt: skip
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise _Unsent(str(exc) or type(exc).__name__) from None
            except httpx.HTTPError as exc:
                raise _Broken(str(exc) or type(exc).__name__) from None
            if response.status_code == 403:
                log.error("replica %s refused our signature: are COLLECTIONS_MCP_SECRET_KEYS the same on every "
                          "replica?", owner.replica_id)  # fmt: skip
                raise _Unsent("signature refused")
            if response.status_code != 200:
                raise _Broken(f"HTTP {response.status_code}")
            return RoundReply.model_validate_json(response.content)

        async def owner_stopped() -> bool:
            current = await self.owners.owner(relayed.conversation)
            return current is not None and not current.alive

        try:
            return await self._while_alive(post, owner_stopped)
        except _Unsent as exc:
            raise await self._lost(relayed.conversation, delivered=False, detail=str(exc)) from None
        except _Broken as exc:
            raise await self._lost(relayed.conversation, delivered=None, detail=str(exc)) from None

    async def _while_alive(
        self, work: Callable[[], Awaitable[RoundReply]], stopped: Callable[[], Awaitable[bool]]
    ) -> RoundReply:
        """`work()`, unless the owner's process is found gone first (then `_Broken`: it may have had the round)."""
        outcome: list[RoundReply | BaseException] = []
        async with anyio.create_task_group() as group:

            async def run() -> None:
                try:
                    outcome.append(await work())
                except Exception as exc:
                    outcome.append(exc)
                group.cancel_scope.cancel()

            async def watch() -> None:
                while True:
                    await anyio.sleep(self.poll_seconds)
                    try:
                        if await stopped():
                            outcome.append(_Broken("the owner's lease lapsed while it held the round"))
                            group.cancel_scope.cancel()
                            return
                    except StateUnavailable:
                        continue  # cannot tell now; the request's own failure still ends this

            group.start_soon(run)
            group.start_soon(watch)
        found = outcome[0]
        if isinstance(found, BaseException):
            raise found
        return found

    async def _lost(self, conversation_id: str, *, delivered: bool | None, detail: str) -> OwnerLost:
        """After a failed hand-over: wait (about a lease at most) until the owner is known stopped, or give up
        saying it cannot be reached. Connection refused usually means stopped; the lease says so for certain."""
        with anyio.move_on_after(self.lease_seconds * 1.5 + 1.0):
            while True:
                try:
                    current = await self.owners.owner(conversation_id)
                except StateUnavailable:
                    current = None
                else:
                    if current is None or not current.alive:
                        log.warning("conversation %s: its replica stopped (%s)", conversation_id, detail)
                        return OwnerLost(stopped=True, delivered=delivered, detail=detail)
                await anyio.sleep(self.poll_seconds)
        log.warning("conversation %s: its replica could not be reached (%s)", conversation_id, detail)
        return OwnerLost(stopped=False, delivered=delivered, detail=detail)

    async def rounds_endpoint(self, request: Request) -> Response:
        """POST /_collections-mcp/rounds: a round another replica hands over (signed); answered with the reply."""
        body = b""
        async for chunk in request.stream():  # bounded before anything is checked: this port is reachable directly
            body += chunk
            if len(body) > MAX_ROUND_BYTES:
                return JSONResponse({"error": "round too large"}, status_code=413)
        if not self.signer.verify(request.method, request.url.path, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("refused a round with a missing, stale or wrong signature (from %s)",
                        request.client.host if request.client else "?")  # fmt: skip
            return JSONResponse({"error": "not signed by a replica of this deployment"}, status_code=403)
        try:
            relayed = RelayedRound.model_validate_json(body)
        except ValueError:
            return JSONResponse({"error": "not a round"}, status_code=400)
        conversations = self.conversations
        if conversations is None:
            return JSONResponse(RoundReply(outcome="gone").model_dump(mode="json"))
        self.drain.enter(continuation=True)  # shutdown waits for a round in progress
        try:
            reply = await conversations.relayed_round(relayed)
        finally:
            self.drain.leave()
        return Response(reply.model_dump_json(), media_type="application/json")

    # -- HTTP requests for another replica (legacy sessions, payment links; new calls while draining) ----------

    async def replica(self, replica_id: str) -> Replica | None:
        return await self.owners.replica(replica_id)

    async def live_peer(self) -> Replica | None:
        """Another replica whose lease holds, picked at random (new calls while this one drains)."""
        try:
            peers = [found for found in await self.owners.replicas() if found.alive and found.replica_id != self.replica_id]
        except StateUnavailable:
            return None
        return random.choice(peers) if peers else None

    async def proxy(self, target: Replica, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass this HTTP request to `target` and stream its answer back (SSE included), for as long as the client
        stays and the target's process lives."""
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            await _plain(send, 413, "request body too large")
            return
        query = scope.get("query_string", b"")
        url = target.address + scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if query:
            url += "?" + query.decode("latin-1")
        headers = [(name, value) for name, value in scope["headers"]
                   if name.lower() not in HOP_BY_HOP and name.lower() != FORWARDED_HEADER.encode()]  # fmt: skip
        headers.append((FORWARDED_HEADER.encode(), self.replica_id.encode()))
        client = self._client()
        request = client.build_request(scope["method"], url, headers=headers, content=body)
        counted = scope["method"] != "GET"  # a call in flight (not an idle event stream): shutdown waits for it
        if counted:
            self.drain.enter(continuation=True)
        try:
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                log.warning("could not pass a request on to replica %s: %s", target.replica_id, exc)
                await _plain(send, 502, f"the replica holding this request ({target.replica_id}) could not be reached")
                return
            try:
                await self._stream(response, target, receive, send)
            finally:
                await response.aclose()
        finally:
            if counted:
                self.drain.leave()

    async def _stream(self, response: httpx.Response, target: Replica, receive: Receive, send: Send) -> None:
        gone = False
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(name, value) for name, value in response.headers.raw
                                if name.lower() not in HOP_BY_HOP or name.lower() == b"content-length"]})  # fmt: skip
        async with anyio.create_task_group() as group:

            async def client_leaves() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                group.cancel_scope.cancel()

            async def target_dies() -> None:
                while True:
                    await anyio.sleep(self.poll_seconds)
                    try:
                        current = await self.owners.replica(target.replica_id)
                    except StateUnavailable:
                        continue
                    if current is None or not current.alive or current.incarnation != target.incarnation:
                        log.warning("replica %s stopped while a request it held was streaming", target.replica_id)
                        group.cancel_scope.cancel()
                        return

            group.start_soon(client_leaves)
            group.start_soon(target_dies)
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as exc:  # the target went away mid-answer: end what the client has
                log.warning("replica %s broke off a request it held: %s", target.replica_id, exc)
            group.cancel_scope.cancel()
        if not gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body (MCP messages and the payment form are small), or None past `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _plain(send: Send, status: int, text: str, content_type: bytes = b"text/plain; charset=utf-8") -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def carries_card_data_safely(address: str) -> bool:
    """Card and bank details never cross a network in clear text: a payment page is passed on to another replica
    only over https, or on this machine."""
    parts = urlsplit(address)
    return parts.scheme == "https" or is_loopback(parts.hostname or "")


def plain_response(status: int, text: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _plain(send, status, text)

    return app


def json_response(status: int, body: bytes) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await _plain(send, status, body.decode(), b"application/json")

    return app

