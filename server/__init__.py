"""MCP assembly and policy: settings, CLI, the tool registry and the one policy pipeline every call passes."""
