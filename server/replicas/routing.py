"""What a balancer routes on, and what a replica does with a request that belongs to another one.

Legacy-era (2025-11-25) sessions and payment links live in one replica's memory, so they carry its id where a
balancer can read it, without this server depending on SDK internals: an ASGI layer around the whole app

- prefixes the MCP session id the SDK mints with `<replica id>.` on the way out (`Mcp-Session-Id: a.5f3c...`), and
  takes the prefix off again on the way in, so the SDK only ever sees its own ids;
- leaves payment links as minted (`/pay/<replica id>.<token>`: server/payments/ puts the id in the token).

deploy/nginx.conf routes both by that prefix. Behind a balancer that does not (plain round-robin), a replica that
gets a request for another replica's session or link passes it on to that replica's internal address and streams
the answer back (SSE included), so routing is an optimisation, not a requirement. A request for a replica that is
gone gets the answer the client knows how to handle: 404 "Session not found" (an MCP client starts a new session)
or, for a payment link, a page saying it is no longer valid and nothing was charged.

While this replica drains for shutdown (SIGTERM), new MCP requests that carry nothing of its own are passed on to
a live peer, so a rolling upgrade behind a balancer that still sends them here refuses nothing; its own sessions,
payment links and conversations (their rounds come back to it through the peers) are served until they finish.
"""

from __future__ import annotations

import html
import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collections_mcp.server.replicas.replication import (
    FORWARDED_HEADER,
    INTERNAL_PREFIX,
    Replication,
    carries_card_data_safely,
    json_response,
)
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.replicas")

MCP_PATH = "/mcp"
PAY_PREFIX = "/pay/"
SESSION_HEADER = b"mcp-session-id"
_REPLICA_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SESSION_NOT_FOUND = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}'


def routed(value: str) -> tuple[str, str] | None:
    """`a.5f3c...` -> ("a", "5f3c..."): the replica a session id or payment token names, and the rest."""
    replica, dot, rest = value.partition(".")
    if not dot or not rest or not 0 < len(replica) <= 64 or not set(replica) <= _REPLICA_CHARS:
        return None
    return replica, rest


class ReplicaRouting:
    """ASGI middleware, outermost: session ids carry this replica's id; other replicas' requests are passed on."""

    def __init__(self, app: ASGIApp, replication: Replication) -> None:
        self.app = app
        self.replication = replication

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(INTERNAL_PREFIX):
            await self.app(scope, receive, send)
            return
        me = self.replication.replica_id
        headers = Headers(scope=scope)
        forwarded = FORWARDED_HEADER in headers
        session_id = headers.get(SESSION_HEADER.decode())
        session = routed(session_id) if session_id else None
        link = routed(path[len(PAY_PREFIX):]) if path.startswith(PAY_PREFIX) else None
        target = session[0] if session is not None else link[0] if link is not None else None
        if target is not None and target != me:
            if forwarded:  # another replica thinks it is ours: never pass a request on twice
                log.warning("a request for replica %s was passed to this one (%s); refused", target, me)
                await json_response(404, _SESSION_NOT_FOUND)(scope, receive, send)
                return
            await self._elsewhere(target, link is not None, scope, receive, send)
            return
        if target is None and path == MCP_PATH and not forwarded and self.replication.drain.draining:
            peer = await self.replication.live_peer()
            if peer is not None:
                await self.replication.proxy(peer, scope, receive, send)
                return
        if session is not None:  # ours: the SDK sees the id it minted
            scope = dict(scope)
            scope["headers"] = [(name, session[1].encode() if name == SESSION_HEADER else value)
                                for name, value in scope["headers"]]  # fmt: skip
        await self.app(scope, receive, self._tagging(send))

    def _tagging(self, send: Send) -> Send:
        prefix = f"{self.replication.replica_id}.".encode()

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [(name, prefix + value if name.lower() == SESSION_HEADER else value)
                                      for name, value in message.get("headers", [])]  # fmt: skip
            await send(message)

        return tagged

    async def _elsewhere(self, target: str, payment_link: bool, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            replica = await self.replication.replica(target)
        except StateUnavailable:
            await _page(send, 503, "Try again in a moment", "The server cannot look up where this belongs right now.")
            return
        if replica is None or not replica.alive:
            if payment_link:
                await _page(send, 410, "Link no longer valid", "The server that issued this payment link has stopped, "
                            "so the link no longer works. Nothing was charged; return to the conversation to start "
                            "again.")  # fmt: skip
            else:  # the MCP client starts a new session (the conversation on it is gone with its replica)
                await json_response(404, _SESSION_NOT_FOUND)(scope, receive, send)
            return
        if payment_link and not carries_card_data_safely(replica.address):
            # Card data must not travel in clear text between replicas: the balancer routes payment links instead.
            log.warning("payment link of replica %s reached %s, and %s is not https: not passed on (route /pay/ by "
                        "replica, see deploy/nginx.conf)", target, self.replication.replica_id, replica.address)  # fmt: skip
            await _page(send, 421, "Open the link again", "This payment link reached the wrong server. Nothing was "
                        "entered or charged; open the link from the conversation again.")  # fmt: skip
            return
        await self.replication.proxy(replica, scope, receive, send)


async def _page(send: Send, status: int, title: str, text: str) -> None:
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    ).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
