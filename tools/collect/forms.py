"""Collect! User Interface Forms (GET /api/v1/collect/ui/forms/{formid}), as the plan bridge asks them.

https://collect.org/cv13/Help/howtousetherestapiendpointuserinterfaceforms.html documents the form
attributes (name, alias, id, width, height, rights) and says each available field and the button values
follow; a form prompt must be answered with a button's *value* from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collections_mcp.tools.common.errors import VendorError

VENDOR = "Collect!"


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    type: str
    readonly: bool = False
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label)

    def schema(self, default: Any) -> dict[str, Any]:
        """This field as a flat elicitation property (string, integer, enum), with the prompt's default."""
        prop: dict[str, Any] = {"title": self.label}
        if self.choices:
            prop |= {"type": "string", "enum": [value for value, _ in self.choices],
                     "description": ", ".join(f"{value} = {label}" for value, label in self.choices)}  # fmt: skip
        elif self.type == "integer":
            prop["type"] = "integer"
        else:
            prop["type"] = "string"
            if self.type == "date":
                prop["format"] = "date"
        if default not in (None, ""):
            if prop["type"] == "integer":
                try:
                    prop["default"] = int(str(default))
                except ValueError:
                    prop["type"] = "string"
                    prop["default"] = str(default)
            else:
                prop["default"] = str(default)
        return prop


@dataclass(frozen=True)
class FormButton:
    label: str
    value: int | str


@dataclass(frozen=True)
class CollectForm:
    title: str
    fields: list[FormField]
    buttons: list[FormButton]


def parse_form(raw: Any) -> CollectForm:
    body = raw.get("data", raw) if isinstance(raw, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("fields"), list):
        raise VendorError(VENDOR, "the form definition has no field list")
    fields = [
        FormField(
            name=str(item["name"]),
            label=str(item.get("label") or item["name"]),
            type=str(item.get("type") or "string"),
            readonly=bool(item.get("readonly")),
            required=bool(item.get("required")),
            choices=[(str(choice.get("value")), str(choice.get("label"))) for choice in item.get("choices") or []
                     if isinstance(choice, dict)],
        )
        for item in body["fields"]
        if isinstance(item, dict) and item.get("name")
    ]  # fmt: skip
    buttons = [
        FormButton(label=str(item.get("label")), value=item["value"])
        for item in body.get("buttons") or []
        if isinstance(item, dict) and isinstance(item.get("value"), int | str)
    ]
    if not buttons:
        raise VendorError(VENDOR, "the form definition has no buttons, so the prompt cannot be answered")
    return CollectForm(title=str(body.get("alias") or body.get("name") or "form"), fields=fields, buttons=buttons)
