"""Bases every vendor's tool models share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class Args(BaseModel):
    """Base for tool arguments: unknown arguments are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Out(BaseModel):
    """Base for tool outputs: the output schema lists exactly what the tool can return."""

    model_config = ConfigDict(extra="forbid")

    def changed_vendor_state(self) -> bool:
        """Whether the call that produced this result changed something at the vendor. A result that says
        nothing changed (a contact plan cancelled at a prompt and rolled back) is never replayed to an identical
        retry: the retry runs again. Results of changing tools are assumed to have changed something."""
        return True


Limit = Annotated[int, Field(ge=1, le=200)]
Offset = Annotated[int, Field(ge=0, description="The previous page's next_offset.")]


class NoArgs(Args):
    """A tool that takes no arguments."""


class Address(Out):
    street: str | None = None
    street2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


def none_if_empty(model: Out) -> Any:
    """A nested output with nothing in it is left out rather than shown as {}."""
    return model if model.model_dump(exclude_none=True) else None
