"""Bases every vendor's tool models share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Args(BaseModel):
    """Base for tool arguments: unknown arguments are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Out(BaseModel):
    """Base for tool outputs: the output schema lists exactly what the tool can return."""

    model_config = ConfigDict(extra="forbid")


Limit = Annotated[int, Field(ge=1, le=200, description="Page size (1-200).")]
Offset = Annotated[int, Field(ge=0, description="Items to skip; use next_offset from the previous page.")]
