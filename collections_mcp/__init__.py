"""collections-mcp: an MCP server that lets AI agents work debt-collection accounts safely.

The one import package of the distribution. Its subpackages are the repository's top-level folders
(`server/`, `tools/`, `sandbox/`, `prompts/`, `views/`; linked here, so the checkout, editable installs, mypy and the
wheel all see one namespace): docs/architecture.md draws how they depend on each other.
"""
