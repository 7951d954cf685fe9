-- collections-mcp shared state, version 1: the audit log (append-only), idempotency claims with leases, the
-- event logs tools keep (identity-check lockout), and conversation ownership (replicas with their lease).
-- Applied once, in one transaction, by server/state/postgres/migrations.py (recorded in schema_migrations).

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id UUID NOT NULL UNIQUE,
    time TIMESTAMPTZ NOT NULL,
    call_id TEXT NOT NULL,
    session_id TEXT,
    client_name TEXT,
    tool TEXT NOT NULL,
    toolset TEXT NOT NULL,
    effect TEXT NOT NULL,
    arguments JSONB NOT NULL,
    outcome TEXT NOT NULL,
    vendor_status INTEGER,
    error TEXT,
    duration_ms DOUBLE PRECISION NOT NULL,
    replayed BOOLEAN NOT NULL,
    override JSONB
);
CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_tool_time ON audit_log (tool, time);

-- Append-only in the database itself, whoever connects: no UPDATE, DELETE or TRUNCATE.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- `created` is the call time (the idempotency window counts from it); the lease runs on the database's clock.
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    created TIMESTAMPTZ NOT NULL,
    owner TEXT NOT NULL,
    result TEXT,
    lease_seconds DOUBLE PRECISION NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX idempotency_created ON idempotency (created);

CREATE TABLE events (
    log TEXT NOT NULL,
    key TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_log_key_at ON events (log, key, at);
CREATE INDEX events_at ON events (at);

CREATE TABLE replicas (
    replica_id TEXT PRIMARY KEY,
    incarnation TEXT NOT NULL,
    address TEXT NOT NULL,
    lease_seconds DOUBLE PRECISION NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);
CREATE TABLE conversation_owners (
    conversation_id TEXT PRIMARY KEY,
    replica_id TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    since TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX conversation_owners_replica ON conversation_owners (replica_id);

-- The servers' role (docs/deploy.md): only SELECT and INSERT on the audit log, the rows of the other tables.
-- Granted here when the group role exists; created later, it gets the same grants from docs/deploy.md.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'collections_mcp_app') THEN
        GRANT SELECT, INSERT ON audit_log TO collections_mcp_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency, events, replicas, conversation_owners TO collections_mcp_app;
        GRANT SELECT ON schema_migrations TO collections_mcp_app;
    END IF;
END
$$;
