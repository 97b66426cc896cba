-- The offices' configuration at runtime: one document (TOML, one
-- [[offices]] table) per office, versioned. A removed office keeps its row
-- with no document, so its history goes on if it comes back.
CREATE TABLE office_configurations (
    office_id  TEXT        NOT NULL,
    version    BIGINT      NOT NULL,
    document   TEXT,
    position   BIGINT      NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    changed_by TEXT        NOT NULL,
    CONSTRAINT office_configurations_pkey PRIMARY KEY (office_id),
    CONSTRAINT office_configurations_version CHECK (version > 0)
);

-- Every change: who, when, before and after. The key makes two changes made
-- on the same version collide: one of them is refused.
CREATE TABLE office_configuration_changes (
    office_id       TEXT        NOT NULL,
    version         BIGINT      NOT NULL,
    changed_at      TIMESTAMPTZ NOT NULL,
    actor           TEXT        NOT NULL,
    document_before TEXT,
    document_after  TEXT,
    reverts         BIGINT,
    CONSTRAINT office_configuration_changes_pkey PRIMARY KEY (office_id, version)
);
