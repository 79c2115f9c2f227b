-- +goose Up
-- Every audit event becomes a link of its writer's hash chain: chain id,
-- seq (1, 2, 3, ... without gaps within a chain), the previous event's id
-- and hash, and its own SHA-256 hash (see docs/audit.md). seq is NULL only
-- for an event no chain holds; 00003 chains the events written before.
ALTER TABLE audit_events
    ADD COLUMN chain_id  VARCHAR(40) NOT NULL DEFAULT '',
    ADD COLUMN seq       BIGINT      NULL,
    ADD COLUMN prev_id   VARCHAR(40) NOT NULL DEFAULT '',
    ADD COLUMN prev_hash VARCHAR(64) NOT NULL DEFAULT '',
    ADD COLUMN hash      VARCHAR(64) NOT NULL DEFAULT '',
    ADD UNIQUE KEY audit_events_chain_seq_key (chain_id, seq);

-- The registry of chains: the head (last event appended, updated in the
-- same transaction) and the purge anchor (last event deleted by retention).
CREATE TABLE audit_chains (
    chain_id    VARCHAR(40)  NOT NULL,
    writer      VARCHAR(255) NOT NULL DEFAULT '',
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    head_seq    BIGINT       NOT NULL DEFAULT 0,
    head_id     VARCHAR(40)  NOT NULL DEFAULT '',
    head_hash   VARCHAR(64)  NOT NULL DEFAULT '',
    anchor_seq  BIGINT       NOT NULL DEFAULT 0,
    anchor_id   VARCHAR(40)  NOT NULL DEFAULT '',
    anchor_hash VARCHAR(64)  NOT NULL DEFAULT '',
    anchor_time DATETIME(6)  NULL,
    purged_at   DATETIME(6)  NULL,
    PRIMARY KEY (chain_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE audit_chains;
ALTER TABLE audit_events
    DROP INDEX audit_events_chain_seq_key,
    DROP COLUMN hash,
    DROP COLUMN prev_hash,
    DROP COLUMN prev_id,
    DROP COLUMN seq,
    DROP COLUMN chain_id;
