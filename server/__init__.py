"""MCP and policy, generic over vendors. Folders by layer, each importing only those below it:
ops > app > inbox > policy | prompts | views > payments | replicas > settings > transport | state > core > telemetry
(docs/architecture.md)."""
