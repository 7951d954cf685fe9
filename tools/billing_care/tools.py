"""Billing Care tools: a few lines each, mapping typed arguments to a client call."""

from __future__ import annotations

import contextlib
from typing import Any

from collections_mcp.tools.billing_care import models as m
from collections_mcp.tools.billing_care.client import BillingCareClient
from collections_mcp.tools.billing_care.settings import BillingCareSettings
from collections_mcp.tools.common.errors import VendorNotFound
from collections_mcp.tools.common.spec import Effect, ToolContext, Toolset, ToolSpec

Ctx = ToolContext[BillingCareClient]


async def get_account_collections(ctx: Ctx, args: m.AccountArgs) -> m.AccountCollections:
    """An account's collections state: bill units in collections with overdue amounts, aging and scheduled actions (the
    action_id billing_care_update_collections_action takes)."""
    return await ctx.client.account_collections(args.account_id)


async def get_collections_action_history(ctx: Ctx, args: m.ActionArgs) -> m.ActionHistory:
    """The changes of one collections action, newest first (due date, status, agent); use it to check that an update
    landed."""
    return await ctx.client.action_history(args.action_id)


async def update_collections_action(ctx: Ctx, args: m.UpdateCollectionsActionArgs) -> m.ResourceReference:
    """Reschedule one collections action, set its status or action flag, cancel its follow-ups, and/or note why.
    Returns its reference id."""
    return await ctx.client.update_collections_action(args.action_id, args.change())


R, W = Effect.READ, Effect.WRITE
_specs: list[ToolSpec[BillingCareClient, Any, Any]] = [
    ToolSpec("billing_care_get_account_collections", "Get an account's collections", R, "GET /bcws/webresources/v1.0/collections/account/{id}", m.AccountArgs, m.AccountCollections, get_account_collections),
    ToolSpec("billing_care_get_collections_action_history", "Get collections action history", R, "GET /bcws/webresources/v1.0/collections/history/action/{id}", m.ActionArgs, m.ActionHistory, get_collections_action_history),
    ToolSpec("billing_care_update_collections_action", "Update collections action", W, "PUT /bcws/webresources/v1.0/collections/task/{id}", m.UpdateCollectionsActionArgs, m.ResourceReference, update_collections_action),
]  # fmt: skip

async def probe(client: BillingCareClient) -> str:
    # Billing Care has no "who am I" endpoint: a read of an account that cannot exist answers 404 only
    # after authentication succeeded (401/403 would be an auth error).
    with contextlib.suppress(VendorNotFound):
        await client.account_collections("0.0.0.1+-account+0")
    return "reachable; credentials accepted"


TOOLSET = Toolset(
    name="billing_care",
    title="Oracle Billing Care",
    instructions=(
        "Billing Care ids look like '0.0.0.1+-account+130964' (keep the '+' signs). Find an account's "
        "collections actions with billing_care_get_account_collections, change one with "
        "billing_care_update_collections_action (record the reason as a note), and confirm with "
        "billing_care_get_collections_action_history."
    ),
    settings_cls=BillingCareSettings,
    open_client=BillingCareClient.open,
    specs=tuple(_specs),
    probe=probe,
)
