"""HTTP plumbing every vendor simulator shares: request log, fault injection, latency, requests in flight.

The simulators are served on loopback by the server's embedded listener (`serve_app`, re-exported here).
`silent_listener` stands in for a vendor whose port accepts connections and never says a byte (a TLS handshake
to it never completes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final
from urllib.parse import parse_qsl

import anyio
from anyio.abc import SocketAttribute, SocketStream
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collections_mcp.server.transport.embedded import serve_app

__all__ = ["SilentListener", "serve_app", "silent_listener"]

NON_JSON_BODY: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
ERROR_BODY: Final = '{"message": "Internal Server Error"}'


@dataclass
class RecordedRequest:
    """One request as the simulator received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    text: str
    status: int | None = None  # the status sent back; None when the connection was dropped
    fault: str | None = None  # the FaultKind that answered instead of the simulator, if any


class RequestLog(list[RecordedRequest]):
    """Every request a simulator received, oldest first."""

    def matching(self, path: str | None = None, method: str | None = None) -> list[RecordedRequest]:
        """Requests whose path the regular expression `path` is found in, and whose method is `method`."""
        pattern = re.compile(path) if path is not None else None
        return [
            r
            for r in self
            if (pattern is None or pattern.search(r.path)) and (method is None or r.method == method.upper())
        ]


class FaultKind(StrEnum):
    HTTP_ERROR = "http_error"  # a status and body of our choosing
    NON_JSON = "non_json"  # an HTML page where JSON was expected
    DROP = "drop"  # the connection closes before a complete response
    SILENT = "silent"  # the request is read, and never answered (until the client hangs up)
    TRICKLE = "trickle"  # headers at once, then the body one byte per `interval` seconds
    TRUNCATED = "truncated"  # headers promise the whole body; half of it arrives, then the connection closes


@dataclass
class Fault:
    """A planned misbehaviour for the next `remaining` requests whose path matches."""

    pattern: re.Pattern[str]
    kind: FaultKind
    status: int
    body: str
    content_type: str
    method: str | None
    remaining: int
    after_handler: bool  # run the real handler first (the write happens), then misbehave
    interval: float = 1.0  # TRICKLE: seconds between bytes
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and self.pattern.search(path) is not None
        )


class FaultInjector:
    """Tests plan faults here; the simulator's middleware consumes them in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        path: str,
        *,
        kind: FaultKind = FaultKind.HTTP_ERROR,
        status: int = 500,
        body: str = ERROR_BODY,
        content_type: str = "application/json",
        times: int = 1,
        method: str | None = None,
        after_handler: bool = False,
        interval: float = 1.0,
    ) -> Fault:
        """Plan a fault for the next `times` requests whose path the regular expression `path` is found in."""
        fault = Fault(
            pattern=re.compile(path),
            kind=kind,
            status=status,
            body=body,
            content_type=content_type,
            method=method.upper() if method else None,
            remaining=times,
            after_handler=after_handler,
            interval=interval,
        )
        self._faults.append(fault)
        return fault

    def http_error(
        self,
        path: str,
        status: int = 500,
        body: str = ERROR_BODY,
        *,
        times: int = 1,
        method: str | None = None,
        after_handler: bool = False,
        content_type: str = "application/json",
    ) -> Fault:
        """Answer with this status and body instead of the simulator."""
        return self.add(
            path,
            status=status,
            body=body,
            content_type=content_type,
            times=times,
            method=method,
            after_handler=after_handler,
        )

    def non_json(
        self,
        path: str,
        body: str = NON_JSON_BODY,
        *,
        status: int = 200,
        times: int = 1,
        method: str | None = None,
        after_handler: bool = False,
    ) -> Fault:
        """Answer with an HTML page (a proxy's error page by default) where JSON was expected."""
        return self.add(
            path,
            kind=FaultKind.NON_JSON,
            status=status,
            body=body,
            content_type="text/html",
            times=times,
            method=method,
            after_handler=after_handler,
        )

    def drop(self, path: str, *, times: int = 1, method: str | None = None, after_handler: bool = False) -> Fault:
        """Send headers, then close the connection: the client gets an incomplete response."""
        return self.add(path, kind=FaultKind.DROP, times=times, method=method, after_handler=after_handler)

    def silent(self, path: str, *, times: int = 1, method: str | None = None, after_handler: bool = False) -> Fault:
        """Read the request and never answer: the vendor that accepts connections and then says nothing."""
        return self.add(path, kind=FaultKind.SILENT, times=times, method=method, after_handler=after_handler)

    def trickle(
        self, path: str, body: str = ERROR_BODY, *, interval: float = 1.0, times: int = 1, method: str | None = None,
        after_handler: bool = False,
    ) -> Fault:  # fmt: skip
        """Answer 200 with `body`, one byte every `interval` seconds (each read gets a byte: no read timeout fires)."""
        return self.add(path, kind=FaultKind.TRICKLE, status=200, body=body, times=times, method=method,
                        after_handler=after_handler, interval=interval)  # fmt: skip

    def truncated(
        self, path: str, body: str = '{"result": [{"filenumber": "R1000", "firstname": "IVA', *, times: int = 1,
        method: str | None = None, after_handler: bool = False,
    ) -> Fault:  # fmt: skip
        """Promise the whole body in Content-Length, send half of it, close the connection."""
        return self.add(path, kind=FaultKind.TRUNCATED, status=200, body=body, times=times, method=method,
                        after_handler=after_handler)  # fmt: skip

    def clear(self) -> None:
        self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        return [f for f in self._faults if f.remaining > 0]

    def take(self, method: str, path: str) -> Fault | None:
        """The first planned fault for this request, with one use consumed."""
        for fault in self._faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                fault.hits += 1
                return fault
        return None


@dataclass
class Latency:
    """Fixed delay before every response (for benchmarks); change `seconds` at any time."""

    seconds: float = 0.0


class InFlight:
    """How many requests the simulator is handling right now, and a wait for none (no polling): after a fault
    that holds a connection (silent, trickle), it says the client hung up and nothing is left waiting."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    def _change(self, by: int) -> None:
        self.count += by
        self._changed.set()
        self._changed = anyio.Event()

    def enter(self) -> None:
        self._change(+1)

    def leave(self) -> None:
        self._change(-1)

    async def wait_until(self, condition: Callable[[int], bool]) -> None:
        """Return once `condition(count)` holds; checked again at every change."""
        while not condition(self.count):
            await self._changed.wait()

    async def wait_idle(self) -> None:
        await self.wait_until(lambda count: count == 0)


class DroppedConnection(Exception):
    """Raised after a response has started so the server closes the socket mid-response."""


@dataclass
class _Instruments:
    log: RequestLog
    faults: FaultInjector
    latency: Latency = field(default_factory=Latency)
    in_flight: InFlight = field(default_factory=InFlight)


class _SimulatorMiddleware:
    """Outermost user middleware: record the request, wait the latency, then answer or misbehave."""

    def __init__(self, app: ASGIApp, instruments: _Instruments) -> None:
        self.app = app
        self.instruments = instruments

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.instruments.in_flight.enter()
        try:
            await self._handle(scope, receive, send)
        finally:
            self.instruments.in_flight.leave()

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, replay = await _buffer_body(receive)
        record = _record(scope, body)
        self.instruments.log.append(record)
        if self.instruments.latency.seconds > 0:
            await anyio.sleep(self.instruments.latency.seconds)

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        fault = self.instruments.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, replay, send_recording)
            return
        record.fault = fault.kind
        if fault.after_handler:
            await self.app(scope, replay, _discard)
        if fault.kind is FaultKind.DROP:
            # Headers go out, then the socket closes: the client sees an incomplete response.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
            raise DroppedConnection(scope["path"])
        if fault.kind is FaultKind.SILENT:
            await _until_disconnect(receive)  # the client gives up (or the simulator stops): nothing was sent
            return
        payload = fault.body.encode()
        if fault.kind in (FaultKind.TRICKLE, FaultKind.TRUNCATED):
            await send_recording({
                "type": "http.response.start", "status": fault.status,
                "headers": [(b"content-type", fault.content_type.encode()), (b"content-length", str(len(payload)).encode())],
            })  # fmt: skip
            if fault.kind is FaultKind.TRUNCATED:
                await send({"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True})
                raise DroppedConnection(scope["path"])
            await _trickle(payload, fault.interval, receive, send)
            return
        await send_recording(
            {
                "type": "http.response.start",
                "status": fault.status,
                "headers": [
                    (b"content-type", fault.content_type.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def _discard(message: Message) -> None:
    return None


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        continue


async def _trickle(payload: bytes, interval: float, receive: Receive, send: Send) -> None:
    """One byte per `interval` until the body is out or the client hangs up."""
    async with anyio.create_task_group() as tasks:

        async def hang_up_watch() -> None:
            await _until_disconnect(receive)
            tasks.cancel_scope.cancel()

        tasks.start_soon(hang_up_watch)
        for index in range(len(payload)):
            await anyio.sleep(interval)
            last = index == len(payload) - 1
            await send({"type": "http.response.body", "body": payload[index : index + 1], "more_body": not last})
        tasks.cancel_scope.cancel()


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a `receive` that hands it to the app again."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _record(scope: Scope, body: bytes) -> RecordedRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    text = body.decode("utf-8", errors="replace")
    parsed: Any = None
    if text:
        with contextlib.suppress(ValueError):
            parsed = json.loads(text)
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    return RecordedRequest(
        method=scope["method"], path=scope["path"], query=query, headers=headers, json=parsed, text=text
    )


def instrument(app: Starlette, *, latency_seconds: float = 0.0) -> None:
    """Give a simulator app its request log, fault injector and latency on `app.state`."""
    instruments = _Instruments(log=RequestLog(), faults=FaultInjector(), latency=Latency(latency_seconds))
    app.state.request_log = instruments.log
    app.state.faults = instruments.faults
    app.state.latency = instruments.latency
    app.state.in_flight = instruments.in_flight
    app.add_middleware(_SimulatorMiddleware, instruments=instruments)
    uvicorn_error = logging.getLogger("uvicorn.error")
    if _DROP_FILTER not in uvicorn_error.filters:
        uvicorn_error.addFilter(_DROP_FILTER)


class _HideDroppedConnections(logging.Filter):
    """uvicorn logs an application error for every planned drop; those are not errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


_DROP_FILTER: Final = _HideDroppedConnections()


class SilentListener:
    """A port that accepts TCP connections and never sends anything; counts the connections still open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted = 0
        self.open = 0
        self._closed = anyio.Event()
        self._closed.set()

    async def handle(self, stream: SocketStream) -> None:
        self.accepted += 1
        if self.open == 0:
            self._closed = anyio.Event()
        self.open += 1
        try:
            async with stream:
                with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    while True:
                        await stream.receive()  # a ClientHello, maybe; it is never answered
        finally:
            self.open -= 1
            if self.open == 0:
                self._closed.set()

    async def wait_all_closed(self) -> None:
        """Return once every accepted connection has been closed by its client (event-driven)."""
        await self._closed.wait()


@contextlib.asynccontextmanager
async def silent_listener(scheme: str = "https", host: str = "127.0.0.1") -> AsyncIterator[SilentListener]:
    """A vendor that accepts connections and never answers: with https, the TLS handshake never completes."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=0)
    port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio typed attributes, not Django
    silent = SilentListener(f"{scheme}://{host}:{port}")
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, silent.handle)
        try:
            yield silent
        finally:
            tasks.cancel_scope.cancel()
