-- collections-mcp shared state, version 2: the approval inbox (server/state/approvals.py): calls an agent queued for
-- a supervisor, the decision and what became of them; and the audit log's record of an approved action (the proposer
-- is its client, the approver and the decision are in `approval`). Only adds: replicas of version 1 keep working.

CREATE SEQUENCE approvals_seq;
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    proposer TEXT,
    session_id TEXT,
    tool TEXT NOT NULL,
    toolset TEXT NOT NULL,
    effect TEXT NOT NULL,
    arguments JSONB NOT NULL,
    summary TEXT NOT NULL,
    needs TEXT NOT NULL,
    verdict JSONB,
    request_key TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'running', 'done', 'refused', 'failed')),
    decided_by TEXT,
    decided_at TIMESTAMPTZ,
    decision_reason TEXT,
    override_reason TEXT,
    outcome TEXT,
    result JSONB,
    finished_at TIMESTAMPTZ,
    -- Grows with every change of any approval, so a replica asks "what changed since the last one I saw".
    seq BIGINT NOT NULL DEFAULT nextval('approvals_seq'),
    -- What running it needs (the arguments as the agent gave them): deleted at every final state.
    execution JSONB
);
CREATE INDEX approvals_state ON approvals (state, expires_at);
CREATE INDEX approvals_changes ON approvals (seq);
-- One pending approval per call and proposer: an agent's retry finds the one it queued.
CREATE UNIQUE INDEX approvals_one_pending ON approvals (request_key, COALESCE(proposer, '')) WHERE state = 'pending';

ALTER TABLE audit_log ADD COLUMN approval JSONB;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'collections_mcp_app') THEN
        GRANT SELECT, INSERT, UPDATE ON approvals TO collections_mcp_app;
        GRANT USAGE, SELECT ON SEQUENCE approvals_seq TO collections_mcp_app;
    END IF;
END
$$;
