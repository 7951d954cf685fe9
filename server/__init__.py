"""MCP and policy, generic over vendors. Folders by layer, each importing only those below it:
ops > app > policy | prompts | views > payments > settings > transport | state > core > telemetry
(docs/architecture.md)."""
