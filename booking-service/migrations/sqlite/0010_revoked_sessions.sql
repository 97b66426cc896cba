-- Desk sessions ended before their time (sign-out), shared by every gateway
-- replica. Sessions span offices, so this small table has no office id: under
-- Citus it is a reference table. Records go once the session would have
-- ended anyway.
CREATE TABLE revoked_sessions (
    session_id TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
