"""Typed inputs and compact outputs of the Procurios contact-moment tools. Wire names stay in client.py."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from collections_mcp.tools.common.models import Args, Out

PAGE_SIZE = 25  # Procurios answers 25 contact moments per page


def _midnight(value: Any) -> Any:
    """A plain date means the start of that day."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time())
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        return datetime.combine(date.fromisoformat(value.strip()), time())
    return value


TypeName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Type id, e.g. 'ContactMomentPhone'.",
        examples=["ContactMomentPhone"],
    ),
]
RelationId = Annotated[int, Field(ge=1)]

# ----------------------------------------------------------------------------------------- arguments


class ListContactMomentsArgs(Args):
    page: Annotated[int, Field(ge=1, le=100000, description="Page number (25 per page).")] = 1
    since: Annotated[
        datetime | None,
        BeforeValidator(_midnight),
        Field(
            description="Created or updated since (Procurios' clock)."
        ),
    ] = None
    relation_ids: Annotated[
        list[RelationId] | None,
        Field(min_length=1, max_length=200, description="Only those of these relation ids."),
    ] = None


class SchemaArgs(Args):
    type: TypeName


class ContactMomentDraft(Args):
    """Everything a new contact moment can carry; the type's JSON schema has the last word.

    Types are strict, as the schema's are: "1516" is not an integer and 2 is not a string (no coercion).
    """

    type: TypeName
    subject: StrictStr
    sender_id: Annotated[StrictInt, Field(description="Relation id of the initiator.")]
    recipients: Annotated[
        list[StrictInt],
        Field(description="Relation ids contacted (at least one, no repeats)."),
    ]
    date_time: Annotated[
        datetime | None,
        BeforeValidator(_midnight),
        Field(description="When it happened, with offset, e.g. '2018-11-13T20:20:39+02:00'."),
    ] = None
    action_code: StrictInt | None = None
    reference: Annotated[
        StrictStr | None, Field(description="Your reference (at most 255 characters).")
    ] = None
    tag_ids: Annotated[
        list[StrictInt] | None, Field(description="Tag ids (procurios_list_contact_moment_tags).")
    ] = None
    fields: Annotated[
        dict[str, Any] | None,
        Field(
            description='Type-specific fields, e.g. {"contents": "..."} for ContactMomentPhone.'
        ),
    ] = None


def _advertise_the_draft(schema: dict[str, Any]) -> None:
    """Clients see ContactMomentDraft's JSON schema (types, required fields, no extra arguments)."""
    schema.clear()
    schema.update(ContactMomentDraft.model_json_schema())


class CreateContactMomentArgs(BaseModel):
    """The create tool's arguments exactly as the client sent them.

    They are not validated on the way in: the client checks them against ContactMomentDraft and against the
    type's JSON schema together, so one error lists every problem (a wrong sender_id and a missing
    type-specific field alike), and nothing is sent while there is one.
    """

    model_config = ConfigDict(extra="allow", json_schema_extra=_advertise_the_draft)

    @property
    def given(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

# ------------------------------------------------------------------------------------------- outputs


class Tag(Out):
    id: int
    name: str


class TagList(Out):
    tags: list[Tag]


class ContactMoment(Out):
    id: int
    subject: str | None = None
    type: str | None = None
    date_time: str | None = Field(default=None, description="When the contact happened (ISO 8601).")
    sender_id: int | None = None
    sender: str | None = Field(default=None, description="Name of the sender relation.")
    recipients: list[int] = Field(default_factory=list)
    action: int | None = None
    tags: list[Tag] = Field(default_factory=list)


class ContactMomentPage(Out):
    contact_moments: list[ContactMoment]
    page: int
    count: int = Field(description="Contact moments on this page.")
    may_have_more: bool = Field(
        description=(
            "True when this page is full (25). Procurios gives no total, so a full last page also says true: "
            "the next page may then come back empty. False means this was the last page."
        )
    )
    next_page: int | None = Field(
        default=None, description="Ask for this page next when may_have_more is true (it may be empty)."
    )


class ContactMomentType(Out):
    id: str = Field(description="Use as `type` in the schema and create tools.")
    title: str | None = None
    addable: bool | None = Field(default=None, description="Whether new contact moments of this type can be created.")


class ContactMomentTypeList(Out):
    types: list[ContactMomentType]


class SchemaField(Out):
    name: str = Field(description="Field name in the schema.")
    argument: str = Field(
        description="Where to give it to procurios_create_contact_moment: an argument or fields.<name>."
    )
    type: str | None = None
    required: bool = False
    description: str | None = None
    constraints: dict[str, Any] = Field(default_factory=dict, description="maxLength, minItems, uniqueItems, enum, ...")


class ContactMomentSchema(Out):
    type: str
    fields: list[SchemaField]
    json_schema: dict[str, Any] = Field(description="The draft-07 JSON schema exactly as Procurios gives it.")


class CreatedContactMoment(Out):
    contact_moment_id: int
    type: str
