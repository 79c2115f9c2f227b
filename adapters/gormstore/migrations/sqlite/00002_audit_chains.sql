-- +goose Up
-- Every audit event becomes a link of its writer's hash chain: chain id,
-- seq (1, 2, 3, ... without gaps within a chain), the previous event's id
-- and hash, and its own SHA-256 hash (see docs/audit.md). seq is NULL only
-- for an event no chain holds; 00003 chains the events written before.
ALTER TABLE audit_events ADD COLUMN chain_id  TEXT    NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN seq       INTEGER NULL;
ALTER TABLE audit_events ADD COLUMN prev_id   TEXT    NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT    NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash      TEXT    NOT NULL DEFAULT '';

CREATE UNIQUE INDEX audit_events_chain_seq_key ON audit_events (chain_id, seq);

-- The registry of chains: the head (last event appended, updated in the
-- same transaction) and the purge anchor (last event deleted by retention).
CREATE TABLE audit_chains (
    chain_id    TEXT     NOT NULL PRIMARY KEY,
    writer      TEXT     NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    head_seq    INTEGER  NOT NULL DEFAULT 0,
    head_id     TEXT     NOT NULL DEFAULT '',
    head_hash   TEXT     NOT NULL DEFAULT '',
    anchor_seq  INTEGER  NOT NULL DEFAULT 0,
    anchor_id   TEXT     NOT NULL DEFAULT '',
    anchor_hash TEXT     NOT NULL DEFAULT '',
    anchor_time DATETIME NULL,
    purged_at   DATETIME NULL
);

-- +goose Down
DROP TABLE audit_chains;
DROP INDEX audit_events_chain_seq_key;
ALTER TABLE audit_events DROP COLUMN hash;
ALTER TABLE audit_events DROP COLUMN prev_hash;
ALTER TABLE audit_events DROP COLUMN prev_id;
ALTER TABLE audit_events DROP COLUMN seq;
ALTER TABLE audit_events DROP COLUMN chain_id;
