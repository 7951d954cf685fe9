"""Workflow prompts: Markdown files in `prompts/`, served as MCP prompts.

Every `*.md` file in the directory is one prompt, read at startup; a file that breaks any rule below stops
the server with an error naming the file, the line and the problem (a prompt that silently disappears
would leave collectors working an account without the disclosure steps).

File format::

    ---
    name: work_account
    title: Work an account
    description: One line shown in the client's prompt picker.
    arguments:
      - name: file_number
        description: Scollect file number, e.g. R1000
        required: true
        pattern: ^[A-Za-z0-9._-]+$
      - name: amount
        description: Amount the debtor offered
        default: not agreed yet
    ---
    <!-- style: chat -->
    Markdown for a chat window, with {{file_number}} placeholders.
    <!-- style: voice -->
    Plain text for a voice agent, with the same placeholders.

Front matter is a strict subset of YAML, so any YAML tool reads it the same way:

* top-level `key: value` lines: `name` ([a-z][a-z0-9_]*), `title`, `description` (required) and `arguments`
  (optional, followed by list items);
* each argument is a `- name: ...` line followed by keys indented two more spaces than the dash:
  `description` (required), `required` (`true` | `false`, default false), `default` (optional arguments
  only: the text that stands in for the placeholder when the argument is not given; default empty) and
  `pattern` (a regular expression the whole value must match);
* values are single-line plain scalars, or wrapped in '...' or "..." with no quote or backslash inside;
  a plain value may not contain ': ' or ' #' nor start with a YAML indicator (quote it instead);
* blank lines and lines starting with `#` are ignored; nothing else (no multi-line values, flow
  collections, anchors, tags, duplicate keys or unknown keys) is accepted.

Body: exactly one `<!-- style: chat -->` and one `<!-- style: voice -->` section (HTML comments, so the file
still reads as plain Markdown). Every prompt gets an optional `style` argument (`chat` default, `voice`:
short spoken sentences, no Markdown, numbers read naturally) that picks the section; `style` is reserved and
cannot be declared. `{{argument}}` placeholders are replaced in one pass (a value containing `{{x}}` stays
as it is); a placeholder naming an undeclared argument is a startup error, and so is a declared argument
that no section uses.

A prompt is offered only when every tool it names is registered on this server (read-only mode, for
example, hides the prompts that record payments or notes), so a client never gets a script it cannot run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Message, Prompt, PromptArgument, UserMessage
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, InputRequiredResult
from pydantic import Field

from collections_mcp.server.core.catalog import installed_catalog

logger = logging.getLogger(__name__)

Style = Literal["chat", "voice"]
STYLES: tuple[Style, ...] = ("chat", "voice")
STYLE_ARGUMENT = "style"
STYLE_DESCRIPTION = (
    "chat (default): Markdown for a chat window; voice: short spoken sentences, no Markdown, numbers read naturally"
)



@cache
def tool_mention(toolsets: frozenset[str]) -> re.Pattern[str]:
    """Tool names in prompt texts: `<toolset>_<verb>_<object>`, for the installed toolsets' names."""
    names = "|".join(sorted((re.escape(name) for name in toolsets), key=len, reverse=True))
    return re.compile(rf"\b(?:{names})_[a-z0-9_]*[a-z0-9]")

MAX_VALUE_LENGTH = 200

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_SECTION = re.compile(r"^<!--\s*style:\s*([a-z]+)\s*-->[ \t]*$", re.MULTILINE)
_TOP_KEYS = ("name", "title", "description", "arguments")
_ARGUMENT_KEYS = ("name", "description", "required", "default", "pattern")
# A plain YAML scalar may not start with an indicator character; such values must be quoted.
_INDICATORS = tuple("-?:,[]{}#&*!|>'\"%@`")


class PromptFileError(ValueError):
    """A prompt file breaks the format; the message names the file, the line when known, and the problem."""

    def __init__(self, source: str, problem: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"prompt file {where}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class ArgumentSpec:
    name: str
    description: str
    required: bool = False
    default: str = ""
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class PromptFile:
    """One parsed prompt file."""

    source: str
    name: str
    title: str
    description: str
    arguments: tuple[ArgumentSpec, ...]
    sections: Mapping[Style, str]

    def tool_names(self, toolsets: Collection[str] | None = None) -> set[str]:
        """Every tool name any section mentions (a word starting with a toolset's name and `_`; by default the
        installed toolsets')."""
        mention = tool_mention(frozenset(toolsets if toolsets is not None else installed_catalog().by_name))
        return {match.group(0) for text in self.sections.values() for match in mention.finditer(text)}

    def mcp_arguments(self) -> list[PromptArgument]:
        declared = [PromptArgument(name=a.name, description=a.description, required=a.required) for a in self.arguments]
        return [*declared, PromptArgument(name=STYLE_ARGUMENT, description=STYLE_DESCRIPTION, required=False)]

    def render(self, arguments: Mapping[str, Any] | None) -> str:
        """The section for the requested style with every placeholder filled; PromptArgumentError if unusable."""
        given = dict(arguments or {})
        known = {argument.name for argument in self.arguments} | {STYLE_ARGUMENT}
        unknown = sorted(set(given) - known)
        if unknown:
            raise PromptArgumentError(
                f"prompt {self.name} has no argument {', '.join(unknown)}; it takes {', '.join(sorted(known))}"
            )
        requested = _clean(self.name, STYLE_ARGUMENT, given.get(STYLE_ARGUMENT)) or "chat"
        if requested not in STYLES:
            raise PromptArgumentError(f"prompt {self.name}: style must be one of {', '.join(STYLES)}, not {requested!r}")
        style: Style = "voice" if requested == "voice" else "chat"
        values: dict[str, str] = {}
        missing: list[ArgumentSpec] = []
        for argument in self.arguments:
            value = _clean(self.name, argument.name, given.get(argument.name))
            if not value:
                if argument.required:
                    missing.append(argument)
                values[argument.name] = argument.default
                continue
            if argument.pattern is not None and not argument.pattern.fullmatch(value):
                raise PromptArgumentError(
                    f"prompt {self.name}: {argument.name} {value!r} is not valid ({argument.description}); "
                    f"it must match {argument.pattern.pattern}"
                )
            values[argument.name] = value
        if missing:
            needs = "; ".join(f"{argument.name} ({argument.description})" for argument in missing)
            raise PromptArgumentError(f"prompt {self.name} needs the required argument(s): {needs}")
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], self.sections[style])


class PromptArgumentError(MCPError):
    """A prompt was asked for with arguments it cannot use: JSON-RPC invalid params, with a plain message."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


def _clean(prompt: str, name: str, value: Any) -> str:
    """Prompt arguments are short single-line strings: line breaks would let a value pose as instructions."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PromptArgumentError(f"prompt {prompt}: {name} must be a string")
    text = value.strip()
    if len(text) > MAX_VALUE_LENGTH:
        raise PromptArgumentError(f"prompt {prompt}: {name} is longer than {MAX_VALUE_LENGTH} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise PromptArgumentError(f"prompt {prompt}: {name} must be one line without control characters")
    return text


# -------------------------------------------------------------------------------------------- parsing


def _scalar(source: str, line_number: int, key: str, raw: str) -> str:
    raw = raw.strip()
    if not raw:
        raise PromptFileError(source, f"{key} has no value", line_number)
    if raw[0] in "'\"":
        quote = raw[0]
        if len(raw) < 2 or raw[-1] != quote:
            raise PromptFileError(source, f"{key}: the value opens a {quote} quote but does not end with one", line_number)
        inner = raw[1:-1]
        if quote in inner or "\\" in inner:
            raise PromptFileError(source, f"{key}: quotes and backslashes inside a quoted value are not supported", line_number)
        return inner
    if raw.startswith(_INDICATORS):
        raise PromptFileError(source, f"{key}: a value starting with {raw[0]!r} must be quoted", line_number)
    if ": " in raw or " #" in raw:
        raise PromptFileError(source, f"{key}: a value containing ': ' or ' #' must be quoted", line_number)
    return raw


def _key_value(source: str, line_number: int, text: str) -> tuple[str, str]:
    key, separator, value = text.partition(":")
    if not separator or not _IDENTIFIER.fullmatch(key) or (value and not value.startswith(" ")):
        raise PromptFileError(source, f"expected 'key: value', got {text.strip()!r}", line_number)
    return key, value


def _front_matter(source: str, lines: list[str]) -> tuple[dict[str, str], list[tuple[int, dict[str, str]]], int]:
    """Top-level keys, the argument items (with their first line number), and where the body starts."""
    if not lines or lines[0].rstrip() != "---":
        raise PromptFileError(source, "must start with a '---' line opening the front matter", 1)
    top: dict[str, str] = {}
    items: list[tuple[int, dict[str, str]]] = []
    in_arguments = False
    dash_indent = -1
    for index in range(1, len(lines)):
        line_number = index + 1
        line = lines[index].rstrip()
        if line == "---":
            return top, items, index + 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\t" in line:
            raise PromptFileError(source, "tabs are not allowed in the front matter; indent with spaces", line_number)
        indent = len(line) - len(line.lstrip(" "))
        text = line.strip()
        if indent == 0:
            key, value = _key_value(source, line_number, text)
            if key not in _TOP_KEYS:
                raise PromptFileError(source, f"unknown key {key!r}; allowed: {', '.join(_TOP_KEYS)}", line_number)
            if key in top:
                raise PromptFileError(source, f"{key} is given twice", line_number)
            in_arguments = key == "arguments"
            if in_arguments:
                if value.strip():
                    raise PromptFileError(source, "arguments must be a list: '- name: ...' items on the next lines", line_number)
                top[key] = ""
                continue
            top[key] = _scalar(source, line_number, key, value)
            continue
        if not in_arguments:
            raise PromptFileError(source, "unexpected indented line (only 'arguments' has nested items)", line_number)
        if text.startswith("- "):
            if dash_indent not in (-1, indent):
                raise PromptFileError(source, "every '- name:' item must be indented the same", line_number)
            dash_indent = indent
            items.append((line_number, {}))
            text = text[2:]
            if not text.startswith("name:"):
                raise PromptFileError(source, "each argument item must start with '- name: ...'", line_number)
        elif not items or indent != dash_indent + 2:
            raise PromptFileError(
                source, "argument keys go under a '- name:' item, indented two spaces more than its dash", line_number
            )
        key, value = _key_value(source, line_number, text)
        if key not in _ARGUMENT_KEYS:
            raise PromptFileError(source, f"unknown argument key {key!r}; allowed: {', '.join(_ARGUMENT_KEYS)}", line_number)
        item = items[-1][1]
        if key in item:
            raise PromptFileError(source, f"argument key {key} is given twice", line_number)
        item[key] = _scalar(source, line_number, key, value)
    raise PromptFileError(source, "the front matter is not closed by a '---' line")


def _argument(source: str, line_number: int, item: dict[str, str]) -> ArgumentSpec:
    name = item["name"]
    if not _IDENTIFIER.fullmatch(name):
        raise PromptFileError(source, f"argument name {name!r} must match [a-z][a-z0-9_]*", line_number)
    if name == STYLE_ARGUMENT:
        raise PromptFileError(source, "the 'style' argument is added to every prompt; do not declare it", line_number)
    if not item.get("description"):
        raise PromptFileError(source, f"argument {name} needs a description", line_number)
    required_text = item.get("required", "false")
    if required_text not in ("true", "false"):
        raise PromptFileError(source, f"argument {name}: required must be true or false, not {required_text!r}", line_number)
    required = required_text == "true"
    if required and "default" in item:
        raise PromptFileError(source, f"argument {name} is required, so it cannot have a default", line_number)
    pattern: re.Pattern[str] | None = None
    if "pattern" in item:
        try:
            pattern = re.compile(item["pattern"])
        except re.error as exc:
            raise PromptFileError(source, f"argument {name}: pattern is not a regular expression ({exc})", line_number) from None
    return ArgumentSpec(name, item["description"], required, item.get("default", ""), pattern)


def _sections(source: str, body: str, first_line: int) -> dict[Style, str]:
    markers = list(_SECTION.finditer(body))
    if not markers or body[: markers[0].start()].strip():
        raise PromptFileError(source, "the body must start with a '<!-- style: chat -->' or '<!-- style: voice -->' line", first_line)
    sections: dict[Style, str] = {}
    for position, marker in enumerate(markers):
        line_number = first_line + body.count("\n", 0, marker.start())
        style = next((known for known in STYLES if known == marker.group(1)), None)
        if style is None:
            raise PromptFileError(source, f"unknown style {marker.group(1)!r}; the styles are {', '.join(STYLES)}", line_number)
        if style in sections:
            raise PromptFileError(source, f"the {style} section appears twice", line_number)
        end = markers[position + 1].start() if position + 1 < len(markers) else len(body)
        text = body[marker.end() : end].strip()
        if not text:
            raise PromptFileError(source, f"the {style} section is empty", line_number)
        sections[style] = text + "\n"
    missing = [style for style in STYLES if style not in sections]
    if missing:
        raise PromptFileError(source, f"missing the {' and '.join(missing)} section ('<!-- style: {missing[0]} -->')")
    return sections


def parse_prompt(source: str, text: str) -> PromptFile:
    """One prompt file's text -> PromptFile; PromptFileError naming `source` when it breaks the format."""
    lines = text.splitlines()
    top, items, body_start = _front_matter(source, lines)
    for key in ("name", "title", "description"):
        if not top.get(key):
            raise PromptFileError(source, f"the front matter needs a {key}")
    name = top["name"]
    if not _IDENTIFIER.fullmatch(name):
        raise PromptFileError(source, f"name {name!r} must match [a-z][a-z0-9_]*")
    arguments: list[ArgumentSpec] = []
    for line_number, item in items:
        argument = _argument(source, line_number, item)
        if any(existing.name == argument.name for existing in arguments):
            raise PromptFileError(source, f"argument {argument.name} is declared twice", line_number)
        arguments.append(argument)
    sections = _sections(source, "\n".join(lines[body_start:]), body_start + 1)
    declared = {argument.name for argument in arguments}
    used: set[str] = set()
    for style, section in sections.items():
        for match in _PLACEHOLDER.finditer(section):
            if match.group(1) not in declared:
                raise PromptFileError(source, f"the {style} section uses {{{{{match.group(1)}}}}}, which is not a declared argument")
            used.add(match.group(1))
    unused = sorted(declared - used)
    if unused:
        raise PromptFileError(source, f"argument(s) {', '.join(unused)} declared but used by no section")
    return PromptFile(source, name, top["title"], top["description"], tuple(arguments), sections)


def bundled_prompts() -> Traversable:
    """The `prompts/` package shipped with this installation (a source checkout or an installed wheel)."""
    return files("collections_mcp.prompts")


def load_prompts(directory: Traversable | None = None) -> list[PromptFile]:
    """Every `*.md` in the directory, sorted by file name; PromptFileError on the first bad file."""
    folder = directory if directory is not None else bundled_prompts()
    entries = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".md") and entry.is_file()), key=lambda e: e.name)
    prompts: list[PromptFile] = []
    for entry in entries:
        source = entry.name
        try:
            text = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptFileError(source, f"cannot be read ({exc})") from None
        prompt = parse_prompt(source, text)
        clash = next((other for other in prompts if other.name == prompt.name), None)
        if clash is not None:
            raise PromptFileError(source, f"name {prompt.name} is already used by {clash.source}")
        prompts.append(prompt)
    return prompts


# ---------------------------------------------------------------------------------------------- serving


class FilePrompt(Prompt):
    """An MCP prompt backed by a prompt file: our own argument checks (clear messages, -32602), no function."""

    source: PromptFile = Field(exclude=True)

    async def render(self, arguments: dict[str, Any] | None, context: Any) -> list[Message] | InputRequiredResult:
        return [UserMessage(self.source.render(arguments))]


def _unused(**_: Any) -> str:  # pragma: no cover - FilePrompt.render never calls it
    raise AssertionError("FilePrompt renders itself")


def as_mcp_prompt(prompt: PromptFile) -> FilePrompt:
    return FilePrompt(
        name=prompt.name,
        title=prompt.title,
        description=prompt.description,
        arguments=prompt.mcp_arguments(),
        fn=_unused,
        source=prompt,
    )


def register_prompts(
    server: MCPServer[Any],
    directory: Traversable | None = None,
    *,
    toolsets: Collection[str] | None = None,
    available_tools: Collection[str] | None = None,
) -> list[PromptFile]:
    """Load the prompt files and add to `server` those whose tools are all in `available_tools` (None: all).
    `toolsets` are the names tool mentions start with (default: every installed toolset, enabled or not)."""
    offered: list[PromptFile] = []
    for prompt in load_prompts(directory):
        absent = sorted(prompt.tool_names(toolsets) - set(available_tools)) if available_tools is not None else []
        if absent:
            logger.info("prompt %s not offered: it uses %s, not enabled here", prompt.name, ", ".join(absent))
            continue
        server.add_prompt(as_mcp_prompt(prompt))
        offered.append(prompt)
    return offered


class UnknownPromptIsInvalidParams:
    """SDK server middleware: `prompts/get` for a name we do not offer is JSON-RPC -32602 (invalid params),
    as the spec's prompt error handling asks; the SDK alone answers an unknown name with a generic error."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self._server = server

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.method == "prompts/get" and isinstance(ctx.params, Mapping):
            name = ctx.params.get("name")
            if isinstance(name, str) and name not in {prompt.name for prompt in await self._server.list_prompts()}:
                raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name}")
        return await call_next(ctx)
