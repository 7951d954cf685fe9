"""Reading an urlencoded HTML form from a request, bounded: the pages a person's browser posts to (the payment page,
the supervisors' inbox) take no more than they need."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request


async def read_form_fields(request: Request, *, max_bytes: int, max_fields: int) -> dict[str, list[str]] | None:
    """Every value of every field; None when the body is larger than `max_bytes`, has more than `max_fields` fields,
    or is not UTF-8 form data."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return None
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return None
