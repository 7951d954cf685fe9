"""How a vendor package declares its tools: data, not decorated functions.

A `ToolSpec` says what a tool is (name, effect, typed input and output, handler); a `Toolset` groups a
vendor's specs with its settings, the factory for its client and the hooks the server's generic policy
needs from a vendor (a readiness probe, the facts a contact is judged by, settings derived from other
vendors'). `server/` turns these into MCP tools and wraps every one in the same policy pipeline, so nothing
here knows about MCP or policy, and nothing in `server/` knows a vendor.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from collections_mcp.tools.common.contact_rules import ContactFacts
from collections_mcp.tools.common.human import Person
from collections_mcp.tools.common.settings import VendorSettings
from collections_mcp.tools.common.state import MemoryState, SharedState

ClientT = TypeVar("ClientT")
InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


class Effect(StrEnum):
    """What calling the tool does in the world. Policy (read-only mode, confirmation, audit) keys off this."""

    READ = "read"
    WRITE = "write"
    CONTACT = "contact"
    MONEY = "money"
    DESTRUCTIVE = "destructive"


class Profile(StrEnum):
    """A ready set of tools for a kind of agent (COLLECTIONS_MCP_PROFILE). Every tool the model can see costs
    context on every turn, so an agent gets the tools its job needs:

    - `voice`: a live call (snapshot, identity and contact checks, attempt, note, callback, phone status, a
      stored-method payment, a contact plan): the tools whose spec lists it in `profiles`;
    - `desk`: a collector in a chat client or IDE: every tool that reads plus every `write` tool (notes,
      attempts, phones, callbacks, permissions, scheduled contacts, plans, actions); nothing that contacts a
      debtor, moves money or overwrites a record;
    - `all`: every tool (the default).
    """

    VOICE = "voice"
    DESK = "desk"
    ALL = "all"


class ProgressReporter(Protocol):
    async def __call__(self, progress: float, total: float | None = None, message: str | None = None) -> None: ...


@dataclass(frozen=True)
class ContactRequest:
    """Who a `contact` tool is about to reach, and how (for the compliance guard)."""

    channel: Literal["call", "text", "email"]
    file_numbers: tuple[str, ...]
    phone_number: str | None = None


@dataclass(frozen=True)
class ToolContext(Generic[ClientT]):
    """What a handler may use: its vendor's client, progress reporting, the server's clock, the person
    behind the call (`person.ask`), every open vendor client (cross-vendor tools), payment details
    captured out of band for this call (money tools that declare `capture`), and the state the server keeps
    for tools (rules that must hold across restarts and processes)."""

    client: ClientT
    report_progress: ProgressReporter
    now: Callable[[], datetime]
    person: Person
    clients: Mapping[str, Any] = field(default_factory=dict)
    captured: Any = None
    shared: SharedState = field(default_factory=MemoryState)
    # Who is calling, as the audit log names them (the token's client, else the name the client declared).
    caller: str | None = None


@dataclass(frozen=True)
class ToolSpec(Generic[ClientT, InT, OutT]):
    """One tool. The handler's docstring is the description the LLM reads."""

    name: str
    title: str
    effect: Effect
    endpoint: str
    input_model: type[InT]
    output_model: type[OutT]
    handler: Callable[[ToolContext[ClientT], InT], Awaitable[OutT]]
    # The handler itself asks the person questions (e.g. a Collect! plan's prompts).
    asks_person: bool = False
    # Plain-language summary a person confirms before a money/destructive call (required for those effects); a
    # contact tool's summary is what a supervisor reads when the contact waits for approval.
    summarize: Callable[[ToolContext[ClientT], InT], Awaitable[str]] | None = None
    # What a contact tool reaches, for the compliance guard (required for the contact effect).
    contact: Callable[[InT], ContactRequest] | None = None
    # Payment details this tool needs, captured on the server's secure page (never tool arguments).
    capture: Literal["card_or_bank"] | None = None
    # The interactive view (views/<view>.html) a host that renders views shows this tool's result in; hosts
    # without views get the same result as text and structured content, and nothing else changes.
    view: str | None = None
    # A helper only that view calls (e.g. to load more of the record): hosts hide it from the model, and
    # clients that render no views neither see nor may call it. Requires `view`.
    view_only: bool = False
    # Profiles that name this tool beyond the rule of `Profile` (today: voice).
    profiles: frozenset[Profile] = frozenset()
    # For a tool that asks the person itself (`asks_person`): what is known when the server process running it
    # stops while the tool waits for an answer in the middle of its vendor work (several replicas: the next round
    # reaches another one, which says this). Without it the error says that what the vendor kept is not known.
    stopped_while_asking: str | None = None

    @property
    def description(self) -> str:
        """The handler's docstring, each paragraph on one line (source line breaks are not the LLM's business)."""
        text = inspect.getdoc(self.handler) or self.title
        return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))

    def in_profile(self, profile: Profile) -> bool:
        if profile is Profile.ALL:
            return True
        if profile is Profile.DESK and self.effect in (Effect.READ, Effect.WRITE):
            return True
        return profile in self.profiles


AnySpec = ToolSpec[Any, Any, Any]

# Reads, through a toolset's open client, the facts the compliance guard judges one contact by:
# (client, file number, what the tool is about to do, now) -> facts.
ContactFactsProvider = Callable[[Any, str, ContactRequest, datetime], Awaitable[ContactFacts]]


@dataclass(frozen=True)
class Toolset:
    """A vendor's tools plus how to configure and connect to it."""

    name: str
    title: str
    instructions: str
    settings_cls: type[VendorSettings]
    open_client: Callable[[Any], AbstractAsyncContextManager[Any]]
    specs: tuple[AnySpec, ...] = field(default_factory=tuple)
    # One cheap authenticated read proving the vendor is reachable and our credentials work (readiness,
    # `doctor`); returns a short description without secrets.
    probe: Callable[[Any], Awaitable[str]] | None = None
    # For a toolset with its own `contact` tools: the facts the compliance guard checks before each contact.
    contact_facts: ContactFactsProvider | None = None
    # Offered from the start when toolsets are enabled on demand (COLLECTIONS_MCP_DYNAMIC_TOOLSETS); the others
    # wait until the agent enables them. A core toolset is small and useful to any agent.
    core: bool = False
    # For a cross-vendor toolset configured by other vendors' settings: its settings from theirs (resolved,
    # real or sandbox) and its own variables (from `env_file` too, unless None), or None when a vendor it needs
    # is not enabled. Such a toolset is never enabled on its own.
    derive_settings: Callable[[Mapping[str, VendorSettings], str | None], VendorSettings | None] | None = None
