"""Contact-moment types of the simulator, each with its own draft-07 schema built on the seed's.

The seed's schema (shown for ContactMomentPhone) is the common part; `contents` is the phone-specific
field the seed's POST example uses. The visit and email fields are this simulator's own.
"""

from __future__ import annotations

import copy
from typing import Any, Final

Schema = dict[str, Any]

_BASE_PROPERTIES: Final[Schema] = {
    "contactMomentId": {
        "title": "Contact moment ID",
        "description": "The unique ID for the contact moment",
        "type": "integer",
    },
    "subject": {"title": "Subject", "description": "What the contact moment was about", "type": "string"},
    "dateTime": {"title": "Date and time", "description": "yyyy-mm-dd hh:mm:ss", "type": "string"},
    "senderId": {
        "title": "Sender ID",
        "description": "The Procurios ID of the relation that initiated contact",
        "type": "integer",
    },
    "recipients": {
        "title": "Recipient",
        "description": "The Procurios IDs of the relations that were contacted",
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"type": "integer"},
    },
    "action_code": {"title": "Entered via action", "type": "integer"},
    "reference": {
        "title": "A reference for this contact moment in the calling system.",
        "type": "string",
        "maxLength": 255,
    },
    "tagIds": {
        "title": "Tag Ids",
        "description": "The ids of the labels attached to the contact moment for extra information",
        "type": "array",
        "minItems": 0,
        "uniqueItems": True,
        "items": {"type": "integer"},
    },
}
_BASE_REQUIRED: Final = ("subject", "senderId", "recipients")


def _schema(extra: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Contact moment",
        "type": "object",
        "properties": copy.deepcopy(_BASE_PROPERTIES) | extra,
        "required": [*_BASE_REQUIRED, *required],
    }


# type id -> (title, addable, schema)
TYPES: Final[dict[str, tuple[str, bool, Schema]]] = {
    "ContactMomentPhone": (
        "Telephone call",
        True,
        _schema({"contents": {"title": "Contents", "description": "What was said during the call", "type": "string"}}),
    ),
    "ContactMomentVisit": (
        "Visit",
        True,
        _schema(
            {
                "location": {
                    "title": "Location",
                    "description": "Where the visit took place",
                    "type": "string",
                    "maxLength": 255,
                },
                "durationMinutes": {
                    "title": "Duration",
                    "description": "Length of the visit in minutes",
                    "type": "integer",
                    "minimum": 1,
                },
                "report": {"title": "Report", "description": "Report of the visit", "type": "string"},
            },
            ("location",),
        ),
    ),
    "ContactMomentEmail": (
        "E-mail",
        True,
        _schema(
            {
                "emailAddress": {
                    "title": "E-mail address",
                    "description": "The address the e-mail was sent to or received from",
                    "type": "string",
                    "format": "email",
                    "maxLength": 320,
                },
                "direction": {"title": "Direction", "type": "string", "enum": ["incoming", "outgoing"]},
                "body": {"title": "Body", "description": "Text of the e-mail", "type": "string"},
            },
            ("emailAddress", "direction"),
        ),
    ),
}
