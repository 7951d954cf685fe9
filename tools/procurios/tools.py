"""Procurios tools: a few lines each, mapping typed arguments to a client call."""

from __future__ import annotations

from typing import Any

from collections_mcp.tools.common.models import NoArgs
from collections_mcp.tools.common.spec import Effect, ToolContext, Toolset, ToolSpec
from collections_mcp.tools.procurios import models as m
from collections_mcp.tools.procurios.client import ProcuriosClient, summarise_schema
from collections_mcp.tools.procurios.settings import ProcuriosSettings

Ctx = ToolContext[ProcuriosClient]


async def list_contact_moments(ctx: Ctx, args: m.ListContactMomentsArgs) -> m.ContactMomentPage:
    """Contact moments (calls, visits, emails), 25 per page, optionally since a date or of given relations; more while
    may_have_more."""
    moments = await ctx.client.list_contact_moments(args.page, args.since, args.relation_ids)
    full = len(moments) >= m.PAGE_SIZE
    return m.ContactMomentPage(
        contact_moments=moments,
        page=args.page,
        count=len(moments),
        may_have_more=full,
        next_page=args.page + 1 if full else None,
    )


async def list_contact_moment_types(ctx: Ctx, args: NoArgs) -> m.ContactMomentTypeList:
    """The contact moment types (e.g. ContactMomentPhone) and whether new ones can be added."""
    return m.ContactMomentTypeList(types=await ctx.client.contact_moment_types())


async def get_contact_moment_schema(ctx: Ctx, args: m.SchemaArgs) -> m.ContactMomentSchema:
    """The fields a contact moment type takes (required or not, limits, argument or `fields` entry), for
    procurios_create_contact_moment."""
    schema = await ctx.client.schema(args.type, ctx.now())
    return summarise_schema(args.type, schema)


async def list_contact_moment_tags(ctx: Ctx, args: NoArgs) -> m.TagList:
    """The tags that can be attached to contact moments, with their ids for tag_ids."""
    return m.TagList(tags=await ctx.client.tags())


async def create_contact_moment(ctx: Ctx, args: m.CreateContactMomentArgs) -> m.CreatedContactMoment:
    """Register a contact moment (call, visit, email...) from a sender to recipient relations, with type-specific
    `fields` (see procurios_get_contact_moment_schema). Returns its id."""
    moment_id = await ctx.client.create_contact_moment(args.given, ctx.now())
    return m.CreatedContactMoment(contact_moment_id=moment_id, type=str(args.given["type"]).strip())


R, W = Effect.READ, Effect.WRITE
_BASE = "/l/contact_moment_api/contact_moment"
_specs: list[ToolSpec[ProcuriosClient, Any, Any]] = [
    ToolSpec("procurios_list_contact_moments", "List contact moments", R, f"GET {_BASE}", m.ListContactMomentsArgs, m.ContactMomentPage, list_contact_moments),
    ToolSpec("procurios_list_contact_moment_types", "List contact moment types", R, f"GET {_BASE}/types", NoArgs, m.ContactMomentTypeList, list_contact_moment_types),
    ToolSpec("procurios_get_contact_moment_schema", "Get contact moment schema", R, f"GET {_BASE}/type/{{type}}/schema", m.SchemaArgs, m.ContactMomentSchema, get_contact_moment_schema),
    ToolSpec("procurios_list_contact_moment_tags", "List contact moment tags", R, f"GET {_BASE}/tags", NoArgs, m.TagList, list_contact_moment_tags),
    ToolSpec("procurios_create_contact_moment", "Create contact moment", W, f"POST {_BASE}/type/{{type}}", m.CreateContactMomentArgs, m.CreatedContactMoment, create_contact_moment),
]  # fmt: skip

async def probe(client: ProcuriosClient) -> str:
    types = await client.contact_moment_types()
    return f"token accepted; {len(types)} contact moment types"


TOOLSET = Toolset(
    name="procurios",
    title="Procurios",
    instructions=(
        "Procurios relations are identified by integer ids. Before creating a contact moment of a type you "
        "have not used, call procurios_list_contact_moment_types and procurios_get_contact_moment_schema; "
        "type-specific fields (e.g. contents for ContactMomentPhone) go in `fields`. Lists come 25 per page: "
        "follow next_page while may_have_more is true."
    ),
    settings_cls=ProcuriosSettings,
    open_client=ProcuriosClient.open,
    specs=tuple(_specs),
    probe=probe,
)
