"""Workflow prompts served over MCP: one Markdown file per prompt (format: `server/prompts.py`).

A package only so an installed wheel carries the `*.md` files (package data) and the server finds them
with `importlib.resources`.
"""
