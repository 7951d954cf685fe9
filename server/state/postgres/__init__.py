"""The shared state in PostgreSQL (psycopg 3, async, pooled): the database handle, versioned schema migrations,
and the stores every replica shares. Loaded only when COLLECTIONS_MCP_DATABASE_URL is set."""
