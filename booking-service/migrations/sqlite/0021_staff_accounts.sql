-- Staff accounts made at runtime (the administration), besides those of the
-- gateway's staff file. Accounts span offices, so this small table has no
-- office id: under Citus it is a reference table, like revoked_sessions.
-- Passwords only as argon2 hashes; an account is disabled, never deleted.
-- Instants are UTC seconds since the epoch.
CREATE TABLE staff_accounts (
    login            TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL DEFAULT '',
    password_hash    TEXT    NOT NULL,
    password_version INTEGER NOT NULL DEFAULT 1,
    -- Office ids, comma-separated; empty: all offices.
    offices          TEXT    NOT NULL DEFAULT '',
    -- desk, admin, audit; comma-separated.
    roles            TEXT    NOT NULL,
    disabled_at      INTEGER,
    created_at       INTEGER NOT NULL,
    created_by       TEXT    NOT NULL,
    changed_at       INTEGER NOT NULL,
    changed_by       TEXT    NOT NULL
);
