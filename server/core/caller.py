"""Who is calling: the bearer token's client and effects over HTTP, else the name the MCP client declared.

Its own small module because policy (authorization, audit), the pipeline and the HTTP transport all ask,
and none of them should import another for it.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token

from collections_mcp.server.core.access import AUTOMATION_SCOPE, EFFECT_SCOPE


def granted_effects() -> set[str] | None:
    """Effects the current HTTP request's token allows; None when there is no token (stdio, in-memory)."""
    token = get_access_token()
    if token is None:
        return None
    return {scope.removeprefix(EFFECT_SCOPE) for scope in token.scopes if scope.startswith(EFFECT_SCOPE)}


def is_automation() -> bool:
    """The current HTTP request's token is marked for automation (an agent with nobody behind it)."""
    token = get_access_token()
    return token is not None and AUTOMATION_SCOPE in token.scopes


def current_client_name() -> str | None:
    """The authenticated client of the current HTTP request, if any."""
    token = get_access_token()
    return token.client_id if token is not None else None


def caller_of(request_context: Any) -> tuple[str | None, str | None]:
    """(client name, session id) of a request, for logs and the audit log, from the SDK's request context.

    The client is the bearer token's client when authenticated, else the name the client declared in its
    handshake (or request envelope), marked as declared since nothing checked it. The session is the MCP
    session (streamable HTTP, legacy era), else one id per connection (stdio, in-memory); a 2026-era HTTP
    request is its own connection, so consecutive calls of such a client get different ids."""
    session = getattr(request_context, "session", None)
    client = current_client_name()
    if client is None:
        params = getattr(session, "client_params", None)
        declared = params.client_info.name if params is not None and params.client_info is not None else None
        client = f"{declared[:80]} (declared)" if declared else None
    headers = getattr(getattr(request_context, "request", None), "headers", None) or {}
    session_id: str | None = headers.get("mcp-session-id") or None
    if session_id is None and session is not None:
        connection = getattr(session, "_connection", session)
        if connection not in _CONNECTION_IDS:
            _CONNECTION_IDS[connection] = f"conn-{uuid.uuid4().hex[:16]}"
        session_id = _CONNECTION_IDS[connection]
    return client, session_id


# One id per live connection, dropped with it (the SDK's Connection carries no id outside HTTP sessions).
_CONNECTION_IDS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
